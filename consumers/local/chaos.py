"""`make chaos`: the demo workload runs while processes of the pipeline are killed with SIGKILL
at random moments, then the pipeline drains and `cdc verify` must find no difference.

    python -m consumers.local.chaos --kills 100 [--seed N] [--rate 50]

A throwaway stack of its own (state under a temporary directory, its own ports, stopped by PID
at the end) runs `cdc run` as a subprocess, restarted like a supervisor would whenever it dies.
Four kinds of kill, chosen at random:

- `run`: the `cdc run` process (capture, driver and loader threads) at a random moment;
- `processor`: one record processor (`consumers.kcl.processor`, a child of `cdc run`); the
  driver restarts it from the shard's last checkpoint;
- `loader`: `cdc run` while the loader's transaction is open and has written (seen in
  pg_stat_activity: a warehouse backend with a transaction id), so COPY/MERGE/ledger roll back;
- `capture`: `cdc run` in the middle of a PutRecords: Kinesis has accepted the records but the
  capture never hears so (it has not acknowledged the slot), so they are put again.

The moments are observed, not injected: no hook in the product code. `cdc run` reaches moto
through a small HTTP proxy in this process (its state directory is a copy of the stack's with
the proxy's port), which forwards every call and, when a `capture` kill is armed, kills
`cdc run` after moto answered a PutRecords and before the answer reaches the capture.

The end is the hard case on purpose: the workload stops, `cdc run` is killed once more and
restarted, and is stopped (SIGTERM: drain, then verify) as soon as it runs, so its drain must
cover records that earlier, killed runs put. Then `cdc verify` runs on its own; the dead-letter
bucket must be empty. Exit code 0 only when everything is identical; 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import shutil
import signal
import subprocess  # nosec B404  # runs this project's own `cdc` entry point, no shell
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

import orjson

from consumers.contracts.model import load_contracts
from consumers.db import Connection, connect
from consumers.demo.load import load_demo
from consumers.demo.workload import Workload
from consumers.local import stack
from consumers.local.processes import wait_gone
from consumers.settings import Settings
from consumers.warehouse.verify import verify

KINDS = ("run", "processor", "loader", "capture")
PUT_RECORDS = "Kinesis_20131202.PutRecords"
GET_RECORDS = "Kinesis_20131202.GetRecords"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}

# A writing transaction of the loader: a warehouse backend other than ours with an xid. Only
# `cdc run` writes to this stack's warehouse, so every such backend is its loader (or its
# bootstrap at start-up, which is as good a moment to die).
LOADER_IN_TRANSACTION = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = 'warehouse' AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
"""


class KillProxy(ThreadingHTTPServer):
    """Forwards HTTP to moto; `arm(callback)` makes the next PutRecords call `callback` after
    moto answered it and before the answer goes back to the caller."""

    daemon_threads = True

    def __init__(self, moto_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.moto_port = moto_port
        self._armed: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self.reads_open = threading.Event()  # cleared: GetRecords calls wait (consumer lag)
        self.reads_open.set()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def arm(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._armed = callback

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def handle_error(self, request: object, client_address: object) -> None:
        """A caller killed mid-request leaves a broken connection: expected here, not news."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def take_armed(self) -> Callable[[], None] | None:
        with self._lock:
            callback, self._armed = self._armed, None
            return callback


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: KillProxy

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        body = self._body()
        if self.headers.get("X-Amz-Target") == GET_RECORDS:
            self.server.reads_open.wait()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.moto_port, timeout=120)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
        finally:
            upstream.close()
        if self.headers.get("X-Amz-Target") == PUT_RECORDS and resp.status == 200:
            callback = self.server.take_armed()
            if callback is not None:
                callback()  # Kinesis holds the records; the capture will never know
                self.close_connection = True
                return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class ChaosReport:
    kills: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)  # the moment did not come in time
    restarts: int = 0
    exits: Counter[int] = field(default_factory=Counter)  # `cdc run` exits not caused by us
    orphans: int = 0  # processors still alive 10 s after their `cdc run` was killed
    changes_written: int = 0
    seconds: float = 0.0
    drain_exit: int | None = None
    verify_exit: int | None = None
    verify_output: str = ""
    dead_letters: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.drain_exit == 0
            and self.verify_exit == 0
            and self.dead_letters == 0
            and self.orphans == 0
        )

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{k} {self.kills[k]}" for k in KINDS)
        missed = ", ".join(f"{k} {n}" for k, n in sorted(self.missed.items())) or "none"
        exits = ", ".join(f"code {c}: {n}" for c, n in sorted(self.exits.items())) or "none"
        return [
            f"chaos: {sum(self.kills.values())} kills ({kinds}); moments missed: {missed}",
            f"chaos: {self.restarts} restarts of cdc run; exits on its own: {exits}; orphaned "
            f"processors: {self.orphans}",
            f"chaos: {self.changes_written} row changes written by the workload in "
            f"{self.seconds:.0f} s",
            f"chaos: final drain (cdc run) exit {self.drain_exit}; cdc verify exit "
            f"{self.verify_exit}; dead letters {self.dead_letters}",
            f"chaos: {'OK' if self.ok else 'FAILED'}",
        ]


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (Linux)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _is_processor(pid: int) -> bool:
    try:
        return b"consumers.kcl.processor" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Supervisor:
    """Runs `cdc run`, restarts it when it dies, and kills what the chaos asks for."""

    def __init__(self, env: dict[str, str], log: IO[bytes], report: ChaosReport) -> None:
        self.env = env
        self.log = log
        self.report = report
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.expected_death = False

    def start(self) -> None:
        self.ready.clear()
        self.expected_death = False
        cdc = str(Path(sys.executable).with_name("cdc"))
        self.proc = subprocess.Popen(  # nosec B603  # our own entry point, fixed arguments
            [cdc, "run"], env=self.env, stdout=subprocess.PIPE, stderr=self.log
        )
        threading.Thread(target=self._watch_output, args=(self.proc,), daemon=True).start()

    def _watch_output(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None  # nosec B101  # narrows a type for mypy; it checks no input
        for line in proc.stdout:
            self.log.write(line)
            if line.startswith(b"pipeline running") and proc is self.proc:
                self.ready.set()

    def processors(self) -> list[int]:
        return [p for p in _children(self.proc.pid) if _is_processor(p)] if self.proc else []

    def kill_run(self) -> None:
        """SIGKILL `cdc run`, check its processors exit on their own (their stdin closed)."""
        with self.lock:
            proc = self.proc
            if proc is None or proc.poll() is not None:
                return
            orphans = self.processors()
            self.expected_death = True
            proc.kill()
            proc.wait()
        for pid in orphans:
            if not wait_gone(pid, 10):
                self.report.orphans += 1
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def kill_processor(self, rng: random.Random) -> bool:
        pids = self.processors()
        if not pids:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(rng.choice(pids), signal.SIGKILL)  # nosec B311  # chaos, not cryptography
            return True
        return False

    def keep_alive(self) -> None:
        """Restart `cdc run` if it died (after 0.5 s, like a supervisor's restart delay)."""
        with self.lock:
            proc = self.proc
            if proc is None or proc.poll() is None:
                return
            if not self.expected_death:
                self.report.exits[proc.returncode] += 1
        time.sleep(0.5)
        with self.lock:
            self.report.restarts += 1
            self.start()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            self.keep_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"cdc run did not start within {timeout:.0f} s")

    def stop(self, timeout: float = 300) -> int:
        """SIGTERM: `cdc run` drains, verifies, and exits with verify's result."""
        assert self.proc is not None  # nosec B101  # narrows a type for mypy; it checks no input
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_run()
            return -9


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _loader_in_transaction(warehouse_dsn: str, conns: list[Connection]) -> Callable[[], bool]:
    conn = connect(warehouse_dsn, "warehouse", autocommit=True)
    conns.append(conn)

    def check() -> bool:
        row = conn.execute(LOADER_IN_TRANSACTION).fetchone()
        return bool(row and row[0])

    return check


def _slot_confirmed_past_now(source_dsn: str, conns: list[Connection]) -> Callable[[], bool]:
    """True once every replication slot of the source has confirmed the WAL written so far
    (the capture acknowledges only what Kinesis accepted)."""
    conn = connect(source_dsn, "source", autocommit=True)
    conns.append(conn)
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    target = row[0] if row else "0/0"

    def check() -> bool:
        row = conn.execute(
            "SELECT bool_and(confirmed_flush_lsn >= %s::pg_lsn) FROM pg_replication_slots",
            (target,),
        ).fetchone()
        return bool(row and row[0])

    return check


def run_chaos(kills: int, seed: int, rate: float, log_path: Path | None = None) -> ChaosReport:
    rng = random.Random(seed)  # nosec B311  # reproducible chaos, not cryptography
    report = ChaosReport()
    root = Path(tempfile.mkdtemp(prefix="cdc-chaos-"))
    base = Settings(state_dir=root / "stack")
    log = (log_path or root / "cdc-run.log").open("ab")
    proxy: KillProxy | None = None
    supervisor: Supervisor | None = None
    conns: list[Connection] = []  # the runner's own observation connections
    started = time.monotonic()
    try:
        state = stack.up(base)
        proxy = KillProxy(state.moto_port)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        # `cdc run` sees the same stack through the proxy: a copy of the state, another port.
        view = root / "run"
        view.mkdir()
        (view / "stack.json").write_bytes(orjson.dumps({**asdict(state), "moto_port": proxy.port}))
        contracts = load_contracts(base.contracts_dir)
        source = state.dsn("source")
        load_demo(source, contracts)
        env = {**os.environ, "CDC_STATE_DIR": str(view), "PYTHONUNBUFFERED": "1"}
        supervisor = Supervisor(env, log, report)
        supervisor.start()
        supervisor.wait_ready()
        workload = Workload(source, seed=seed)
        stop_workload = threading.Event()
        writer = threading.Thread(target=workload.run, args=(rate, stop_workload, None))
        writer.daemon = True
        writer.start()
        loader_busy = _loader_in_transaction(state.dsn("warehouse"), conns)
        while sum(report.kills.values()) < kills:
            supervisor.wait_ready()
            time.sleep(rng.uniform(0.2, 3.0))  # nosec B311  # chaos timing, not cryptography
            kind = rng.choice(KINDS)  # nosec B311  # chaos, not cryptography
            killed = False
            if kind == "run":
                supervisor.kill_run()
                killed = True
            elif kind == "processor":
                killed = _wait_for(lambda: bool(supervisor and supervisor.processors()), 10)
                killed = killed and supervisor.kill_processor(rng)
            elif kind == "loader":
                if _wait_for(loader_busy, 20):
                    supervisor.kill_run()
                    killed = True
            else:
                done = threading.Event()

                def on_put(sv: Supervisor = supervisor, flag: threading.Event = done) -> None:
                    sv.kill_run()
                    flag.set()

                proxy.arm(on_put)
                killed = done.wait(20)
                proxy.disarm()
                killed = killed or done.is_set()
            if killed:
                report.kills[kind] += 1
                print(f"kill {sum(report.kills.values())}/{kills}: {kind}", flush=True)
            else:
                report.missed[kind] += 1
            supervisor.keep_alive()
            if not writer.is_alive():
                raise RuntimeError("the workload stopped on its own: see the log above")
        stop_workload.set()
        writer.join(60)
        report.changes_written = sum(workload.written.values())
        # The hard end: a fresh run that put nothing itself must drain what killed runs put.
        # The consumers lag (GetRecords held) while the capture puts and acknowledges the
        # workload's last changes; then `cdc run` dies, and its successor drains at once.
        supervisor.wait_ready()
        proxy.reads_open.clear()
        if not _wait_for(_slot_confirmed_past_now(source, conns), 60):
            raise RuntimeError("the capture did not acknowledge the workload's last changes")
        supervisor.kill_run()
        proxy.reads_open.set()
        supervisor.keep_alive()
        supervisor.wait_ready()
        report.drain_exit = supervisor.stop()
        cdc = str(Path(sys.executable).with_name("cdc"))
        result = subprocess.run(  # nosec B603  # our own entry point, fixed arguments
            [cdc, "verify"],
            env={**os.environ, "CDC_STATE_DIR": str(base.state_dir)},
            capture_output=True,
            text=True,
            check=False,
        )
        report.verify_exit = result.returncode
        report.verify_output = result.stdout + result.stderr
        diffs = verify(source, state.dsn("warehouse"), contracts)
        if not all(d.ok for d in diffs):
            report.verify_exit = report.verify_exit or 1
        report.dead_letters = len(
            state.client("s3").list_objects_v2(Bucket=state.dead_letter_bucket).get("Contents", [])
        )
    finally:
        report.seconds = time.monotonic() - started
        if supervisor is not None and supervisor.proc is not None:
            supervisor.kill_run()
        for conn in conns:
            conn.close()
        if proxy is not None:
            proxy.shutdown()
            proxy.server_close()
        stack.down(base)
        log.close()
        if log_path is not None:  # the log is kept where asked; the rest is temporary
            shutil.rmtree(root, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs to deliver (100)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--rate", type=float, default=50, help="workload row changes/s (50)")
    parser.add_argument(
        "--log", type=Path, default=Path(".cdc-chaos.log"), help="cdc run's output (appended)"
    )
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    print(f"chaos: {args.kills} kills, seed {seed}, workload {args.rate:g} changes/s; "
          f"cdc run's output in {args.log}", flush=True)  # fmt: skip
    report = run_chaos(args.kills, seed, args.rate, args.log)
    for line in report.lines():
        print(line, flush=True)
    if report.verify_exit:
        print(report.verify_output, end="", flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
