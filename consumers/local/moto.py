"""The moto server: AWS APIs (Kinesis, S3, DynamoDB, ...) over HTTP, as a separate process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess  # nosec B404  # runs fixed argument lists, never a shell
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from consumers.errors import StackError
from consumers.local.processes import alive, wait_gone

RECORDS_DIR_ENV = "CDC_MOTO_RECORDS_DIR"  # read by the launcher, moto_server.py


def start(
    port: int, log: Path, warehouse_dsn: str | None = None, *, records_dir: Path | None = None
) -> int:
    """Start moto on 127.0.0.1:port in its own session; returns its PID once it answers.
    `warehouse_dsn` (the cluster's DSN without a database) is where the Redshift Data API
    stand-in runs statements (load_standins.py). `records_dir`: where the Kinesis shards keep
    their records (moto_records.py), emptied first: a new server has no streams, so anything
    there is a dead server's; without it, moto keeps them in memory."""
    env = {**os.environ, "MOTO_PORT": str(port)}  # where moto's Step Functions calls AWS APIs
    if warehouse_dsn:
        env["CDC_STANDIN_WAREHOUSE_DSN"] = warehouse_dsn
    if records_dir is not None:
        shutil.rmtree(records_dir, ignore_errors=True)
        records_dir.mkdir(parents=True)
        env[RECORDS_DIR_ENV] = str(records_dir.resolve())
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(  # nosec B603  # fixed argv of known programs, no shell, no user text
            [
                sys.executable,
                "-m",
                "consumers.local.moto_server",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"moto server exited at start (code {proc.returncode}): see {log}")
        if answers(port):
            return proc.pid
        time.sleep(0.1)
    stop(proc.pid)
    raise StackError(f"moto server did not answer on port {port} within 30 s: see {log}")


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1) as r:  # nosec B310  # a fixed http://127.0.0.1 URL: probes our own moto server
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(pid: int | None, timeout: float = 10) -> None:
    """SIGTERM the server's process group, then SIGKILL if it has not gone within `timeout`."""
    if not alive(pid):
        return
    assert pid is not None  # nosec B101  # narrows a type for mypy; it checks no input
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        wait_gone(pid, timeout)
