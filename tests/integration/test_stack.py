"""`cdc local up | down | status`, and the one-line errors for bad input."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from consumers.local import stack
from consumers.local.processes import alive
from consumers.settings import Settings

pytestmark = pytest.mark.integration


def cdc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers", *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_up_is_idempotent_status_prints_endpoints_and_down_stops_everything(tmp_path):
    env = {**os.environ, "CDC_STATE_DIR": str(tmp_path / "state")}
    try:
        _up_status_down(tmp_path, env)
    finally:  # whatever failed, stop what the test started
        stack.down(Settings(state_dir=tmp_path / "state"))


def _up_status_down(tmp_path, env):
    settings = Settings(state_dir=tmp_path / "state")
    records = stack.records_dir(settings)
    records.mkdir(parents=True)
    (records / "000000.records").write_bytes(b"a dead server's records")
    assert cdc("local", "up", env=env).returncode == 0
    stored = list(records.iterdir())  # the new stream's shards' files, empty: nothing stale
    assert stored and all(f.stat().st_size == 0 for f in stored)
    first = stack.load_state(settings)
    assert first is not None
    kinesis = first.client("kinesis")
    shard = kinesis.put_record(StreamName=first.stream_name, Data=b"on disk", PartitionKey="k")
    it = kinesis.get_shard_iterator(
        StreamName=first.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]] == [b"on disk"]
    assert sum(f.stat().st_size for f in records.iterdir()) > len(b"on disk")  # read: written
    assert cdc("local", "up", env=env).returncode == 0  # again: nothing new started
    second = stack.load_state(settings)
    assert second is not None
    assert (first.pg_port, first.moto_pid) == (second.pg_port, second.moto_pid)
    pg_pid = first.cluster.pid()

    status = cdc("local", "status", "--json", env=env)
    assert status.returncode == 0
    st = orjson.loads(status.stdout)
    assert st["running"] is True
    assert st["source_dsn"].endswith(f":{first.pg_port}/source")
    assert st["warehouse_dsn"].endswith(f":{first.pg_port}/warehouse")
    assert st["aws_endpoint_url"] == f"http://127.0.0.1:{first.moto_port}"
    assert st["stream_name"] and st["region"]
    assert set(st["buckets"]) == {"batches", "dead_letters"}

    assert cdc("local", "down", env=env).returncode == 0
    assert not records.exists()
    assert pg_pid is not None and not alive(pg_pid)
    assert not alive(first.moto_pid)
    down = cdc("local", "status", "--json", env=env)
    assert down.returncode == 1 and orjson.loads(down.stdout)["running"] is False


def test_taken_port_is_a_one_line_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = {**os.environ, "CDC_STATE_DIR": str(tmp_path), "CDC_PG_PORT": str(port)}
        line = one_line_error(cdc("local", "up", env=env))
    assert f"port {port}" in line and "CDC_PG_PORT" in line


def test_missing_postgres_binaries_is_a_one_line_error(tmp_path):
    env = {**os.environ, "CDC_STATE_DIR": str(tmp_path), "CDC_PG_BINDIR": str(tmp_path)}
    line = one_line_error(cdc("local", "up", env=env))
    assert "initdb" in line and "CDC_PG_BINDIR" in line


def _all(*runs: tuple[tuple[str, ...], dict[str, str] | None]) -> list[str]:
    """Each `cdc` run's one-line error, the runs side by side (independent processes)."""
    with ThreadPoolExecutor(len(runs)) as pool:
        done = list(pool.map(lambda r: cdc(*r[0], env=r[1]), runs))
    return [one_line_error(p) for p in done]


def test_bad_inputs_are_one_line_errors(tmp_path, cli_env, local_stack):
    no_stack = {**os.environ, "CDC_STATE_DIR": str(tmp_path)}
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "public.x.avsc").write_text('{"type": "record", "name": "x", "fields": [')
    contracts, source, demo, stream, validate = _all(
        (("capture", "--contracts", str(tmp_path / "nope")), cli_env),
        (("capture", "--source-dsn", "postgresql://postgres@127.0.0.1:1/x"), cli_env),
        (("demo", "load"), no_stack),
        (("capture", "--stream", "no-such-stream"), cli_env),
        (("contracts", "validate", "--contracts", str(bad)), None),
    )
    assert "--contracts" in contracts
    assert "cannot connect to the source" in source
    assert "cdc local up" in demo
    assert "no-such-stream does not exist" in stream and "--stream" in stream
    assert "public.x.avsc" in validate and "JSON" in validate


def test_capture_of_a_table_missing_at_the_source_names_the_fix(source_dsn, cli_env):
    line = one_line_error(cdc("capture", "--source-dsn", source_dsn, env=cli_env))
    assert "does not exist in the source" in line and "cdc demo load" in line


def test_consume_bad_inputs_are_one_line_errors(cli_env):
    position, needs_time, not_iso, stream = _all(
        (("consume", "--initial-position", "EARLIEST"), cli_env),
        (("consume", "--initial-position", "AT_TIMESTAMP"), cli_env),
        (("consume", "--initial-position", "AT_TIMESTAMP", "--at-timestamp", "yesterday"), cli_env),
        (("consume", "--stream", "nope"), cli_env),
    )
    assert "TRIM_HORIZON" in position and "AT_TIMESTAMP" in position
    assert "--at-timestamp" in needs_time
    assert "ISO" in not_iso
    assert "nope" in stream
