"""Shared fixtures. Integration tests run against one throwaway stack per test session (its
own state directory, ports and processes, stopped by PID at the end), with a fresh source
database, replication slot and Kinesis stream per test so tests never see each other's data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consumers.capture import dms_config
from consumers.capture.dms_config import DmsConfig
from consumers.capture.kinesis_sink import KinesisSink
from consumers.capture.runner import DRAIN_PREFIX, Capture, CaptureConfig, emit_marker
from consumers.contracts.model import TableContract, load_contracts
from consumers.local import stack
from consumers.settings import PROJECT_DIR, Settings

SCHEMAS = PROJECT_DIR / "schemas"
DMS_DIR = PROJECT_DIR / "infra" / "dms"


@dataclass
class ChaosRun:
    """`python -m consumers.local.chaos --kills 10` running: a stack of its own, its own
    temporary directory and ports, nothing shared with the other tests."""

    proc: subprocess.Popen[bytes]
    output: Path  # its stdout and stderr
    log: Path  # cdc run's output

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGINT first: its `finally` stops `cdc run` and its stack by PID."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# `python -m consumers.local.chaos` with Python's own SIGINT handler even where SIGINT is
# ignored (a job a non-interactive shell put in the background passes that on), so stop()'s
# SIGINT reaches its `finally`.
CHAOS_MAIN = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('consumers.local.chaos', run_name='__main__', alter_sys=True)"
)


def start_chaos(directory: Path) -> ChaosRun:
    output, log = directory / "chaos.out", directory / "cdc-run.log"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHAOS_MAIN, "--kills", "10", "--log", str(log)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return ChaosRun(proc, output, log)


CHAOS_RUN = pytest.StashKey[ChaosRun]()
CHAOS_SELECTED = pytest.StashKey[bool]()
CHAOS_TEST = "test_chaos.py::test_short_chaos_run_verifies"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The short chaos run starts with the first integration test, when it is one of the tests,
    and runs beside them; its test waits for it and reads what it printed. It is ~60-75 s of
    kills, restarts and waiting for the moments to kill at, about half a core of the two
    (measured: 37 s of CPU in 74 s), while the suite alone uses about 0.6 of them: one after the
    other it was the suite's longest test. Not beside tests/infra: the CDK synths and linters
    there keep both cores busy."""
    config = item.config
    if not config.stash.get(CHAOS_SELECTED, False) or CHAOS_RUN in config.stash:
        return
    if "integration" in item.nodeid.split("/"):
        config.stash[CHAOS_RUN] = start_chaos(Path(tempfile.mkdtemp(prefix="cdc-chaos-")))


def pytest_collection_finish(session: pytest.Session) -> None:
    selected = any(item.nodeid.endswith(CHAOS_TEST) for item in session.items)
    session.config.stash[CHAOS_SELECTED] = selected


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(CHAOS_RUN, None)
    if run is not None:  # stopped if the session was interrupted or its test never waited
        run.stop()
        shutil.rmtree(run.output.parent, ignore_errors=True)  # its test has shown the output


@pytest.fixture
def chaos_run(request: pytest.FixtureRequest, tmp_path: Path) -> ChaosRun:
    run = request.config.stash.get(CHAOS_RUN, None)
    return run if run is not None else start_chaos(tmp_path)


@pytest.fixture(scope="session")
def contracts() -> list[TableContract]:
    return load_contracts(SCHEMAS)


@pytest.fixture(scope="session")
def dms() -> DmsConfig:
    return dms_config.load(DMS_DIR)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state = tmp_path_factory.mktemp("cdc-state")
    return Settings(state_dir=state)


@pytest.fixture(scope="session")
def local_stack(stack_settings: Settings) -> Iterator[stack.StackState]:
    try:  # down() also cleans up after an up() that failed half way
        yield stack.up(stack_settings)
    finally:
        stack.down(stack_settings)


@pytest.fixture
def cli_env(stack_settings: Settings, local_stack: stack.StackState) -> dict[str, str]:
    """Environment for running `cdc` as a subprocess against the test stack."""
    return {**os.environ, "CDC_STATE_DIR": str(stack_settings.state_dir)}


@pytest.fixture
def source_dsn(local_stack: stack.StackState) -> Iterator[str]:
    """A fresh, empty source database; its replication slots are dropped afterwards."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    admin = local_stack.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    yield local_stack.dsn(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            "WHERE database = %s AND active_pid IS NOT NULL",
            (name,),
        )
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s",
            (name,),
        )
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def stream(local_stack: stack.StackState) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:10]}"
    kinesis = local_stack.client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    yield name
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def read_raw(state: stack.StackState, stream: str) -> list[bytes]:
    """Every record's bytes in the stream, all shards from TRIM_HORIZON."""
    kinesis = state.client("kinesis")
    out: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=10000)
            out += [r["Data"] for r in resp["Records"]]
            if not resp["Records"]:
                break
            it = resp.get("NextShardIterator")
    return out


def read_stream(state: stack.StackState, stream: str) -> list[dict[str, Any]]:
    """Every record in the stream, all shards from TRIM_HORIZON, decoded."""
    import orjson

    return [orjson.loads(r) for r in read_raw(state, stream)]


@dataclass
class CaptureHarness:
    """A capture running in a thread against a test database and stream."""

    capture: Capture
    sink: KinesisSink
    thread: threading.Thread
    stop: threading.Event
    dsn: str
    errors: list[BaseException]

    def drain(self, timeout: float = 60) -> None:
        """Wait until every transaction committed so far has been put and acknowledged."""
        target = emit_marker(self.dsn, DRAIN_PREFIX)
        import time

        deadline = time.monotonic() + timeout
        while self.capture.stats.acked_lsn < target:
            if self.errors:
                raise self.errors[0]
            assert time.monotonic() < deadline, "capture did not catch up"
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        if self.errors:
            raise self.errors[0]


def start_capture(
    state: stack.StackState,
    dsn: str,
    stream: str,
    contracts: list[TableContract],
    dms: DmsConfig,
    state_dir: Path,
) -> CaptureHarness:
    slot = "slot_" + dsn.rsplit("/", 1)[1]
    sink = KinesisSink(state.client("kinesis"), stream)
    cap = Capture(
        CaptureConfig(
            source_dsn=dsn,
            contracts=contracts,
            dms=dms,
            state_dir=state_dir,
            slot=slot,
            stream=stream,
            heartbeat_seconds=1,
        ),
        sink,
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def body() -> None:
        try:
            cap.run(stop)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    while not cap.slot_ready.wait(0.05):
        if errors:
            raise errors[0]
    return CaptureHarness(cap, sink, thread, stop, dsn, errors)


@pytest.fixture
def capture_factory(
    local_stack: stack.StackState,
    dms: DmsConfig,
    tmp_path: Path,
) -> Iterator[Any]:
    started: list[CaptureHarness] = []

    def make(dsn: str, stream: str, contracts: list[TableContract]) -> CaptureHarness:
        h = start_capture(local_stack, dsn, stream, contracts, dms, tmp_path)
        started.append(h)
        return h

    yield make
    for h in started:
        h.stop.set()
        h.thread.join(30)
