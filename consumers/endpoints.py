"""Where the pipeline's pieces are: the local stack's endpoints by default, or explicit ones."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from consumers import aws
from consumers.errors import StackError
from consumers.local.stack import load_state
from consumers.settings import Settings


@dataclass(frozen=True)
class Endpoints:
    source_dsn: str
    aws_endpoint_url: str | None
    region: str
    stream_name: str

    def client(self, service: str) -> Any:
        return aws.client(service, endpoint_url=self.aws_endpoint_url, region=self.region)

    def check_reachable(self) -> None:
        check_reachable(self.aws_endpoint_url)


def check_reachable(endpoint_url: str | None) -> None:
    """Fail at once when nothing listens at a loopback AWS endpoint (the local stack's moto
    server, stopped). The clients' standard retry mode would try 8 times with exponential
    backoff first: 3 to 11 s measured before the same error, for a refusal that retrying
    cannot change. Remote endpoints, and any other failure, are left to those retries."""
    if not endpoint_url:
        return
    try:
        parts = urlsplit(endpoint_url)
        host = parts.hostname or ""
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a host name, a malformed URL or port: not for this check to judge
        return
    if not loopback:
        return
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        raise StackError(
            f"cannot reach AWS endpoint {endpoint_url}: nothing listens there; start the local "
            "stack (`cdc local up`), or check it with `cdc local status`"
        ) from None
    except OSError:
        return


def resolve(
    settings: Settings,
    source_dsn: str | None = None,
    stream: str | None = None,
    *,
    need_source: bool = True,
) -> Endpoints:
    """Explicit values win; the rest comes from the running local stack.
    Without a local stack, AWS is the real one (or $CDC_AWS_ENDPOINT_URL)."""
    state = load_state(settings)
    if state is None:
        if source_dsn is None and need_source:
            raise StackError(
                "no source given and the local stack is not running: pass --source-dsn, "
                "or start the local stack with `cdc local up`"
            )
        return Endpoints(
            source_dsn=source_dsn or "",
            aws_endpoint_url=os.environ.get("CDC_AWS_ENDPOINT_URL") or None,
            region=settings.region,
            stream_name=stream or settings.stream_name,
        )
    return Endpoints(
        source_dsn=source_dsn or state.dsn("source"),
        aws_endpoint_url=state.aws_endpoint_url,
        region=state.region,
        stream_name=stream or state.stream_name,
    )
