"""`cdc local up | down | status`: the embedded stack every local run and test uses.

State lives in one directory (default `.cdc/`, or $CDC_STATE_DIR): `stack.json` (ports, PIDs,
data directory), the PostgreSQL cluster, the logs and `kinesis/`, where the moto server keeps
the streams' records (moto_records.py). `up` is idempotent: it starts only what is not running.
`down` stops both processes by PID and deletes the state: the stack is throwaway (the moto
server keeps its streams in memory, and a new server starts with `kinesis/` emptied, so a
cluster kept without it would point its replication slot at a stream that no longer exists).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from consumers import aws
from consumers.errors import StackError
from consumers.local import moto
from consumers.local.postgres import Cluster, choose_data_dir, find_bindir, server_bindir
from consumers.local.processes import alive
from consumers.settings import Settings


@dataclass
class StackState:
    pg_root: str
    pg_port: int
    pg_bindir: str
    moto_port: int
    moto_pid: int | None
    region: str
    stream_name: str
    shard_count: int
    batch_bucket: str
    dead_letter_bucket: str

    @property
    def cluster(self) -> Cluster:
        return Cluster(Path(self.pg_bindir), Path(self.pg_root), self.pg_port)

    @property
    def aws_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def dsn(self, database: str) -> str:
        return self.cluster.dsn(database)

    def client(self, service: str) -> Any:
        return aws.client(service, endpoint_url=self.aws_endpoint_url, region=self.region)

    def endpoints(self) -> dict[str, Any]:
        return {
            "source_dsn": self.dsn("source"),
            "warehouse_dsn": self.dsn("warehouse"),
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": self.region,
            "stream_name": self.stream_name,
            "shard_count": self.shard_count,
            "buckets": {"batches": self.batch_bucket, "dead_letters": self.dead_letter_bucket},
        }


def _state_file(settings: Settings) -> Path:
    return settings.state_dir / "stack.json"


def records_dir(settings: Settings) -> Path:
    """Where the moto server keeps the Kinesis records (moto_records.py)."""
    return settings.state_dir / "kinesis"


def load_state(settings: Settings) -> StackState | None:
    try:
        return StackState(**orjson.loads(_state_file(settings).read_bytes()))
    except FileNotFoundError:
        return None


def _save(settings: Settings, state: StackState) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    _state_file(settings).write_bytes(orjson.dumps(asdict(state), option=orjson.OPT_INDENT_2))


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port(wanted: int | None, env_name: str, what: str) -> int:
    if wanted is not None:
        if not _port_free(wanted):
            raise StackError(
                f"port {wanted} for the {what} is taken: stop what uses it, or set "
                f"{env_name} to a free port (or unset it to pick one automatically)"
            )
        return wanted
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def up(settings: Settings) -> StackState:
    state = load_state(settings)
    if state is None:
        bindir = find_bindir()
        pg_port = _pick_port(settings.pg_port, "CDC_PG_PORT", "PostgreSQL cluster")
        moto_port = _pick_port(settings.moto_port, "CDC_MOTO_PORT", "moto server")
        if moto_port == pg_port:
            raise StackError("CDC_PG_PORT and CDC_MOTO_PORT are the same: choose two ports")
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        pg_root = choose_data_dir(settings.state_dir.resolve())
        state = StackState(
            pg_root=str(pg_root),
            pg_port=pg_port,
            pg_bindir=str(server_bindir(bindir, pg_root)),
            moto_port=moto_port,
            moto_pid=None,
            region=settings.region,
            stream_name=settings.stream_name,
            shard_count=settings.shard_count,
            batch_bucket=settings.batch_bucket,
            dead_letter_bucket=settings.dead_letter_bucket,
        )
        _save(settings, state)
    cluster = state.cluster
    if not cluster.initialized():
        cluster.init()
    if cluster.pid() is None and not _port_free(state.pg_port):
        raise StackError(
            f"port {state.pg_port} of the local PostgreSQL cluster is taken by another process: "
            "free it, or run `cdc local down` and set CDC_PG_PORT to a free port"
        )
    cluster.start()
    if not alive(state.moto_pid):
        if not _port_free(state.moto_port):
            raise StackError(
                f"port {state.moto_port} of the moto server is taken by another process: free "
                "it, or run `cdc local down` and set CDC_MOTO_PORT to a free port"
            )
        state.moto_pid = moto.start(
            state.moto_port,
            settings.state_dir / "moto.log",
            state.dsn("").rstrip("/") + "/",
            records_dir=records_dir(settings),
        )
        _save(settings, state)
    create_aws_resources(state)
    return state


def create_aws_resources(state: StackState) -> None:
    """The stream and buckets the pipeline writes to (idempotent)."""
    kinesis = state.client("kinesis")
    existing = kinesis.list_streams().get("StreamNames", [])
    if state.stream_name not in existing:
        kinesis.create_stream(StreamName=state.stream_name, ShardCount=state.shard_count)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=state.stream_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )
    s3 = state.client("s3")
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (state.batch_bucket, state.dead_letter_bucket):
        if bucket not in have:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": state.region}
            )


def down(settings: Settings) -> bool:
    """Stop both processes by PID and delete the state; False when nothing was there."""
    state = load_state(settings)
    if state is None:
        return False
    moto.stop(state.moto_pid)
    cluster = state.cluster
    if cluster.initialized():
        cluster.stop()
    cluster.remove()
    with contextlib.suppress(FileNotFoundError):
        _state_file(settings).unlink()
    with contextlib.suppress(FileNotFoundError):
        (settings.state_dir / "moto.log").unlink()
    shutil.rmtree(records_dir(settings), ignore_errors=True)
    return True


def status(settings: Settings) -> dict[str, Any]:
    state = load_state(settings)
    if state is None:
        return {"running": False, "postgres": "stopped", "moto": "stopped"}
    pg_up = state.cluster.pid() is not None
    moto_up = alive(state.moto_pid) and moto.answers(state.moto_port)
    return {
        "running": pg_up and moto_up,
        "postgres": "running" if pg_up else "stopped",
        "moto": "running" if moto_up else "stopped",
        "state_dir": str(settings.state_dir),
        **state.endpoints(),
    }
