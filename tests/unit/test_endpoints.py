"""A stopped local stack is named at once: no retries against a loopback port nobody listens on."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from consumers.endpoints import check_reachable
from consumers.errors import StackError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2"])
def test_a_loopback_endpoint_nobody_listens_on_is_one_error_at_once(host: str) -> None:
    url = f"http://{host}:{_closed_port()}"
    began = time.monotonic()
    with pytest.raises(StackError, match=r"cannot reach AWS endpoint .*`cdc local up`") as e:
        check_reachable(url)
    assert url in str(e.value)
    assert time.monotonic() - began < 1


def test_a_listening_endpoint_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
        accepted.start()
        check_reachable(f"http://127.0.0.1:{server.getsockname()[1]}/")
        accepted.join(5)


@pytest.mark.parametrize(
    "url",
    [None, "", "https://kinesis.eu-west-2.amazonaws.com", "http://192.0.2.1:1", "http://[::1"],
)
def test_real_aws_other_hosts_and_odd_urls_are_left_to_the_clients(
    url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"connected to {args}")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    check_reachable(url)
