"""kill -9 of the capture process, at any moment, then a restart: no change is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from consumers.capture.pgoutput import parse_lsn
from consumers.capture.runner import DRAIN_PREFIX, emit_marker
from consumers.demo.load import load_demo
from consumers.demo.workload import Workload
from tests.conftest import read_stream
from tests.oracle import replay, source_rows

pytestmark = pytest.mark.integration


def _start(env: dict[str, str], dsn: str, stream: str, slot: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "consumers", "capture", "--source-dsn", dsn,
         "--stream", stream, "--slot", slot],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _confirmed(dsn: str, slot: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    return parse_lsn(row[0]) if row and row[0] else 0


def test_kill_9_during_full_load_and_mid_stream_loses_nothing(
    local_stack, source_dsn, stream, contracts, dms, cli_env, stack_settings
):
    load_demo(source_dsn, contracts, scale=4)
    env = cli_env
    slot = "crash_" + source_dsn.rsplit("/", 1)[1]
    workload = Workload(source_dsn, seed=5)
    stop = threading.Event()
    writer = threading.Thread(target=workload.run, args=(300, stop, 12))
    writer.start()
    kills = 0
    for delay in (0.6, 2.5, 2.0):  # early (full load), then mid-stream twice
        proc = _start(env, source_dsn, stream, slot)
        time.sleep(delay)
        if proc.poll() is not None:
            pytest.fail(proc.stderr.read().decode() if proc.stderr else "capture exited")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    writer.join()
    proc = _start(env, source_dsn, stream, slot)
    target = emit_marker(source_dsn, DRAIN_PREFIX)
    deadline = time.monotonic() + 90
    while _confirmed(source_dsn, slot) < target:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "capture did not catch up after the restarts"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    records = read_stream(local_stack, stream)
    assert kills == 3 and sum(workload.written.values()) > 1000
    assert replay(records, contracts) == source_rows(source_dsn, contracts, dms)
    assert os.path.exists(stack_settings.state_dir / f"capture-{slot}.json")
