"""Throughput: the highest change rate the whole local pipeline sustains, beside the rate of
each stage alone, measured in one run on one private stack (so a busy machine slows every
number alike and the ratios stay meaningful).

Workload: pgbench's TPC-B transaction over keyed tables (accounts, tellers, branches, and a
keyed history), each transaction BEGIN; 3 UPDATEs; 1 INSERT; COMMIT, every 10th also deleting an
old history row: 4.1 row changes per transaction. It runs in a process of its own (not behind
the pipeline's GIL), sending several transactions per round trip, paced to the offered rate.

1. Stages alone, on their own slot, stream, S3 prefix and warehouse schema: the workload
   unpaced (the source's write rate), the capture (pgoutput → DMS JSON) into memory, PutRecords
   of those records into moto, GetRecords of them back, the consumers (local driver + processors
   → Parquet + manifests on S3) and the loader (COPY + MERGE into the warehouse).
2. The whole pipeline (`cdc run`'s Pipeline), the offered rate stepped up; a step holds when
   the workload achieved >= 95 % of it, freshness p99 <= 5 s and the lag is flat (the last third
   of the step no worse than 1.5 x the first third + 0.5 s). The ramp stops at the first step
   that does not hold; after the backlog clears, the best rate is held for HOLD seconds (3 min):
   that is the sustained ceiling (if the hold fails, the next lower rate is held instead).
3. CPU per stage during every step (threads of this process by stage, processor subprocesses,
   moto, the PostgreSQL walsender, workload and loader backends; /proc via psutil), and the
   whole machine's busy share, so a noisy neighbour shows in the same record.
4. Drain and `cdc verify` (the run fails if source and warehouse differ).

Run: make bench (full, <= ~25 min; bench/results/throughput.json), or
`python -m bench.throughput --quick` (~3 min, for development; writes throughput-quick.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing as mp
import os
import random
import signal
import subprocess  # nosec B404  # py-spy, fixed argv
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench.common import private_stack, result, write
from consumers.capture import dms_config
from consumers.capture.kinesis_sink import KinesisSink
from consumers.capture.messages import Record
from consumers.capture.runner import DRAIN_PREFIX, Capture, CaptureConfig, emit_marker
from consumers.contracts.importer import import_contracts
from consumers.contracts.model import TableContract, load_contracts
from consumers.kcl.driver import Driver, DriverConfig, processor_env
from consumers.local import stack
from consumers.pipeline import Pipeline
from consumers.settings import Settings
from consumers.warehouse.local import LoadHistory, LocalWarehouse, percentile
from consumers.warehouse.verify import verify


@dataclass(frozen=True)
class Plan:
    rates: list[int]  # offered row changes/s, stepped up
    step_seconds: float
    hold_seconds: float
    stage_changes: int  # changes pushed through each stage alone
    accounts: int
    output: str


# The local Kinesis keeps every record it was sent (in files, consumers/local/moto_records.py;
# no retention trimming), ~700 bytes each: the steps are kept short so a full run stays within
# a few GB of disk; the hold is the 3-minute claim.
FULL = Plan(
    rates=[1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 18000],
    step_seconds=30,
    hold_seconds=180,
    stage_changes=120_000,
    accounts=100_000,
    output="throughput.json",
)
QUICK = Plan(
    rates=[1000, 2000, 4000, 6000, 8000, 12000, 16000],
    step_seconds=15,
    hold_seconds=30,
    stage_changes=30_000,
    accounts=20_000,
    output="throughput-quick.json",
)
BRANCHES, TELLERS = 10, 100
P99_TARGET_S = 5.0
ACHIEVED_SHARE = 0.95

SCHEMA_SQL = """
CREATE TABLE branches (bid int PRIMARY KEY, bbalance bigint NOT NULL, filler text);
CREATE TABLE tellers (tid int PRIMARY KEY, bid int NOT NULL, tbalance bigint NOT NULL,
  filler text);
CREATE TABLE accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance bigint NOT NULL,
  filler text);
CREATE TABLE history (hid bigint PRIMARY KEY, tid int NOT NULL, bid int NOT NULL,
  aid int NOT NULL, delta int NOT NULL, mtime timestamp NOT NULL, filler text);
"""


def create_source(dsn: str, accounts: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.encode())
        conn.execute(
            "INSERT INTO branches SELECT i, 0, 'branch' FROM generate_series(1, %s) i", (BRANCHES,)
        )
        conn.execute(
            "INSERT INTO tellers SELECT i, 1 + i %% %s, 0, 'teller' FROM generate_series(1, %s) i",
            (BRANCHES, TELLERS),
        )
        conn.execute(
            "INSERT INTO accounts SELECT i, 1 + i %% %s, 0, repeat('a', 84) "
            "FROM generate_series(1, %s) i",
            (BRANCHES, accounts),
        )


# ---------------------------------------------------------------------- the workload process


def _transactions(
    rng: random.Random, run_first: int, first_hid: int, n: int, accounts: int
) -> tuple[str, int]:
    """`n` TPC-B transactions as one simple-query string (several transactions per round
    trip, each its own BEGIN ... COMMIT); returns the SQL and its row changes. Integers only."""
    parts, changes = [], 0
    for k in range(n):
        hid = first_hid + k
        aid, tid, bid = rng.randint(1, accounts), rng.randint(1, TELLERS), rng.randint(1, BRANCHES)
        delta = rng.randint(-5000, 5000)
        parts.append(
            f"BEGIN;UPDATE accounts SET abalance = abalance + {delta} WHERE aid = {aid};"
            f"UPDATE tellers SET tbalance = tbalance + {delta} WHERE tid = {tid};"
            f"UPDATE branches SET bbalance = bbalance + {delta} WHERE bid = {bid};"
            f"INSERT INTO history VALUES ({hid}, {tid}, {bid}, {aid}, {delta}, now(), 'h');"
        )
        changes += 4
        if hid % 10 == 0 and hid - 1000 >= run_first:  # a history row this run inserted
            parts.append(f"DELETE FROM history WHERE hid = {hid - 1000};")
            changes += 1
        parts.append("COMMIT;")
    return "".join(parts), changes


def workload_process(
    dsn: str,
    rate: float,
    seconds: float,
    max_changes: int,
    first_hid: int,
    accounts: int,
    written: Synchronized,  # type: ignore[type-arg]
    backend_cpu: Synchronized,  # type: ignore[type-arg]
    window: Any,  # a shared array: [start, end] in epoch seconds
) -> None:
    """Offer `rate` row changes/s (0: as fast as possible) for `seconds` or `max_changes`."""
    rng = random.Random(first_hid)  # nosec B311  # benchmark data, not security
    hid = first_hid
    with psycopg.connect(dsn, autocommit=True) as conn:
        backend = psutil.Process(conn.info.backend_pid)
        window[0] = time.time()  # the process's start-up is not part of the step
        start = time.monotonic()
        done = 0
        while done < max_changes:
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            behind = (rate * elapsed - done) if rate else 400.0
            if behind < 4:
                time.sleep(0.005)
                continue
            n = max(1, min(int(behind / 4.1), 100))
            sql, changes = _transactions(rng, first_hid, hid, n, accounts)
            conn.execute(sql.encode())
            hid += n
            done += changes
            written.value = done
        window[1] = time.time()
        cpu = backend.cpu_times()
        backend_cpu.value = cpu.user + cpu.system


class Workload:
    """One paced run of the workload in its own process."""

    ctx = mp.get_context("spawn")  # the pipeline has threads: never fork it

    def __init__(self, dsn: str, accounts: int) -> None:
        self.dsn, self.accounts = dsn, accounts
        self.runs = 0
        self.total = 0  # row changes committed by finished runs

    def run(self, rate: float, seconds: float, max_changes: int = 10**12) -> dict[str, float]:
        self.runs += 1
        written = self.ctx.Value("q", 0)
        backend_cpu = self.ctx.Value("d", 0.0)
        window = self.ctx.Array("d", 2)
        proc = self.ctx.Process(
            target=workload_process,
            args=(self.dsn, rate, seconds, max_changes, self.runs * 10**9, self.accounts,
                  written, backend_cpu, window),
            daemon=True,
        )  # fmt: skip
        proc.start()
        ps = psutil.Process(proc.pid)
        cpu = 0.0
        while proc.is_alive():
            try:
                t = ps.cpu_times()
                cpu = t.user + t.system
            except psutil.Error:
                pass
            proc.join(0.5)
        if proc.exitcode != 0:
            raise RuntimeError(f"the workload process failed (exit code {proc.exitcode})")
        began, ended = window[0], window[1]
        elapsed = max(ended - began, 1e-6)
        self.total += int(written.value)
        return {
            "began": began,
            "ended": ended,
            "changes": int(written.value),
            "seconds": elapsed,
            "rate": written.value / elapsed,
            "cpu_s": cpu,
            "backend_cpu_s": float(backend_cpu.value),
        }


# ---------------------------------------------------------------------- CPU accounting


class CpuMeter:
    """CPU seconds per stage, from /proc: threads of this process by the stage they serve,
    the processor subprocesses, moto, and PostgreSQL's backends by role. Backends that exit
    (the loader's short connections) are counted through the postmaster's reaped-children
    times."""

    def __init__(self, state: stack.StackState) -> None:
        self.me = psutil.Process()
        self.moto = psutil.Process(state.moto_pid) if state.moto_pid else None
        pid = state.cluster.pid()
        self.postmaster = psutil.Process(pid) if pid else None
        self.source_dsn = state.dsn("source")
        self.thread_stage: dict[int, str] = {}
        self.extra: dict[str, float] = {}  # e.g. the workload's process and backend, per step

    def name_threads(self, threads: dict[str, list[threading.Thread]]) -> None:
        self.thread_stage = {
            t.native_id: stage for stage, ts in threads.items() for t in ts if t.native_id
        }

    def _roles(self) -> dict[int, str]:
        roles: dict[int, str] = {}
        with psycopg.connect(
            self.source_dsn, autocommit=True, application_name="bench-meter"
        ) as conn:
            for pid, backend_type, datname, app in conn.execute(
                "SELECT pid, backend_type, datname, application_name FROM pg_stat_activity"
            ):
                if backend_type == "walsender":
                    roles[pid] = "postgres: walsender (capture)"
                elif datname == "warehouse":
                    roles[pid] = "postgres: warehouse backends (loader)"
                elif backend_type == "client backend" and app != "bench-meter":
                    roles[pid] = "postgres: source backends (workload, capture queries)"
        return roles

    def snapshot(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for t in self.me.threads():
            out[f"cdc run: {self.thread_stage.get(t.id, 'other threads')}"] += (
                t.user_time + t.system_time
            )
        for child in self.me.children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
                t = child.cpu_times()
            except psutil.Error:
                continue
            if "consumers.kcl.processor" in cmd:
                out["consumers: processor subprocesses"] += t.user + t.system
        if self.moto:
            t = self.moto.cpu_times()
            out["moto server (Kinesis, S3, DynamoDB)"] += t.user + t.system
        if self.postmaster:
            roles = self._roles()
            t = self.postmaster.cpu_times()
            out["postgres: exited backends"] += t.children_user + t.children_system
            for p in self.postmaster.children():
                try:
                    c = p.cpu_times()
                except psutil.Error:
                    continue
                role = roles.get(p.pid, "postgres: background (WAL writer, checkpointer, ...)")
                out[role] += c.user + c.system
        busy = psutil.cpu_times()
        out["machine: busy (all processes, every helper)"] = (
            busy.user + busy.system + busy.nice + busy.irq + busy.softirq
        )
        return out

    def rss_mb(self) -> dict[str, float]:
        """Resident memory now: this process (capture, driver, loader), each processor, moto."""
        out = {"cdc run (capture, driver, loader; and the bench)": self.me.memory_info().rss}
        for child in self.me.children(recursive=True):
            try:
                if "consumers.kcl.processor" in " ".join(child.cmdline()):
                    out[f"processor {child.pid}"] = child.memory_info().rss
            except psutil.Error:
                continue
        if self.moto:
            out["moto server"] = self.moto.memory_info().rss
        return {k: round(v / 2**20, 1) for k, v in out.items()}

    @staticmethod
    def share(before: Counter[str], after: Counter[str], seconds: float) -> dict[str, float]:
        """Cores used by each stage between two snapshots (1.0 = one core busy)."""
        d = {k: max(0.0, after[k] - before[k]) / seconds for k in after}
        return {k: round(v, 3) for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if v >= 0.001}


# ---------------------------------------------------------------------- stages alone


class CollectingSink:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.put = Counter[str]()
        self.last_put_seconds = 0.0

    def add(self, record: Record) -> None:
        self.records.append(record)

    def flush(self) -> None:
        pass


def _timed(meter: CpuMeter, fn: Callable[[], int]) -> dict[str, Any]:
    before = meter.snapshot()
    start = time.perf_counter()
    n = fn()
    seconds = time.perf_counter() - start
    after = meter.snapshot()
    cores = CpuMeter.share(before, after, seconds)
    ours = sum(v for k, v in cores.items() if not k.startswith("machine"))
    return {
        "items": n,
        "seconds": round(seconds, 2),
        "rate": round(n / seconds, 1),
        "cores": cores,
        "cpu_ms_per_change": round(1000 * ours * seconds / max(n, 1), 4),
    }


def stages_alone(
    settings: Settings,
    state: stack.StackState,
    contracts: list[TableContract],
    workload: Workload,
    n: int,
    meter: CpuMeter,
) -> dict[str, dict[str, Any]]:
    source = state.dsn("source")
    dms = dms_config.load(settings.dms_dir, contracts)
    sink = CollectingSink()
    cfg = CaptureConfig(source, contracts, dms, settings.state_dir, slot="tp_stage")
    capture = Capture(cfg, sink)
    capture.prepare()
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot('tp_stage', 'pgoutput')")
    out: dict[str, dict[str, Any]] = {}

    generator: dict[str, float] = {}

    def write_source() -> int:
        generator.update(workload.run(0, 10**6, n))
        return int(generator["changes"])

    # Its backend has exited by the end: counted in the postmaster's reaped-children times.
    source_writes = out["workload (source writes, unpaced)"] = _timed(meter, write_source)
    source_writes["cores"]["workload: generator process"] = round(
        generator["cpu_s"] / source_writes["seconds"], 3
    )
    source_writes["cpu_ms_per_change"] = round(
        source_writes["cpu_ms_per_change"] + 1000 * generator["cpu_s"] / max(n, 1), 4
    )
    marker = emit_marker(source, DRAIN_PREFIX)

    def capture_alone() -> int:
        capture.stream(threading.Event(), until_lsn=marker)
        return sum(capture.stats.changes.values())

    out["capture (pgoutput -> DMS JSON, no put)"] = _timed(meter, capture_alone)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot('tp_stage')")
    records = sink.records
    changes = len(records)
    out["capture (pgoutput -> DMS JSON, no put)"]["bytes_per_record"] = round(
        sum(len(r.data) + len(r.partition_key) for r in records) / max(changes, 1), 1
    )

    kinesis = state.client("kinesis")
    stream = "tp-stage"
    kinesis.create_stream(StreamName=stream, ShardCount=state.shard_count)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    put_sink = KinesisSink(kinesis, stream)

    def put() -> int:
        for r in records:
            put_sink.add(r)
        put_sink.flush()
        return changes

    out["kinesis put (PutRecords into moto)"] = _timed(meter, put)
    records.clear()  # ~1 KB each: not to be counted in this process's RSS from here on

    def get() -> int:
        got = 0
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            it = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while True:
                resp = kinesis.get_records(ShardIterator=it, Limit=10_000)
                got += len(resp["Records"])
                it = resp["NextShardIterator"]
                if not resp["Records"] and not resp.get("MillisBehindLatest"):
                    break
        return got

    out["kinesis get (GetRecords from moto)"] = _timed(meter, get)

    prefix = "tp-stage/"
    driver = Driver(
        DriverConfig(
            stream=stream,
            application="tp-stage",
            processor_env=processor_env(settings, state.aws_endpoint_url, state.region, prefix),
        ),
        kinesis,
        state.client("dynamodb"),
    )

    # Timed from the first record delivered: starting a processor (a Python interpreter
    # importing pyarrow) is a one-off, not a rate.
    driver.start()
    deadline = time.monotonic() + 600
    while not any(v.records for v in driver.views.values()):
        driver.check()
        if time.monotonic() > deadline:
            raise RuntimeError("the consumers did not start within 10 min")
        time.sleep(0.01)

    def consume() -> int:
        meter.name_threads({"driver (GetRecords, protocol)": list(driver.workers.values())})
        while not driver.checkpointed_through(put_sink.last_sequence):
            driver.check()
            if time.monotonic() > deadline:
                raise RuntimeError("the consumers did not finish the stage's records in 10 min")
            time.sleep(0.02)
        return changes

    try:
        out["consumers (driver + processors -> Parquet on S3)"] = _timed(meter, consume)
    finally:
        driver.stop()
    meter.name_threads({})

    loader = LocalWarehouse(
        state.dsn("warehouse"), contracts, state.client("s3"), settings.batch_bucket,
        prefix=prefix, into_schema="tp_stage",
    )  # fmt: skip
    with psycopg.connect(state.dsn("warehouse"), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS tp_stage")
    loader.bootstrap()

    def load() -> int:
        while loader.pending(listing=True):
            loader.run_once(listing=False)
        return changes

    out["loader (COPY + MERGE into the warehouse)"] = _timed(meter, load)
    staged = sum(x.staged_rows for x in loader.loads)
    out["loader (COPY + MERGE into the warehouse)"]["staged_rows"] = staged
    for v in out.values():
        v["unit"] = "row changes/s"
    return out


# ---------------------------------------------------------------------- profile (--profile)


class Profiler:
    """py-spy over this process and its children (moto, the processors, the workload) while
    the offered rate is stepped up; summarised per process: share of samples, top functions
    by own time and by time inside them."""

    def __init__(self, raw: Path) -> None:
        exe = Path(sys.executable).with_name("py-spy")
        if not exe.exists():
            raise SystemExit("--profile needs py-spy in the virtualenv: run `make venv`")
        self.raw = raw
        self.proc = subprocess.Popen(  # nosec B603  # fixed argv, no shell
            [str(exe), "record", "--pid", str(os.getpid()), "--subprocesses", "--nonblocking",
             "--rate", "50", "--format", "raw", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self, top: int = 12) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        per_process: Counter[str] = Counter()
        own: dict[str, Counter[str]] = {}
        inside: dict[str, Counter[str]] = {}
        for line in self.raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            procs = [f for f in frames if f.startswith("process ")]
            name = procs[-1].split(":", 1)[-1].strip('"') if procs else "?"
            name = " ".join(w for w in name.split() if not w.startswith("-"))[-60:]
            code = [f for f in frames if not f.startswith("process ")]
            n = int(count)
            per_process[name] += n
            own.setdefault(name, Counter())[code[-1] if code else "?"] += n
            inside.setdefault(name, Counter()).update({f: n for f in set(code)})
        total = sum(per_process.values()) or 1
        return {
            "raw": str(self.raw),
            "samples": total,
            "processes": {
                name: {
                    "share": round(n / total, 3),
                    "own_time": {f: round(c / n, 3) for f, c in own[name].most_common(top)},
                    "inside": {f: round(c / n, 3) for f, c in inside[name].most_common(top * 2)},
                }
                for name, n in per_process.most_common()
            },
        }


# ---------------------------------------------------------------------- the whole pipeline


def settle(pipeline: Pipeline, source: str, timeout: float = 600) -> float:
    """Wait until everything committed so far is loaded; returns the seconds it took."""
    began = time.monotonic()
    target = emit_marker(source, DRAIN_PREFIX)
    deadline = began + timeout

    def wait(done: Callable[[], bool]) -> None:
        while not done():
            pipeline.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pipeline did not settle within {timeout:.0f} s")
            time.sleep(0.2)

    wait(lambda: pipeline.capture.stats.acked_lsn >= target)
    put = dict(pipeline.sink.last_sequence)
    wait(lambda: pipeline.driver.checkpointed_through(put))
    quiet = 0
    while quiet < 3:  # the loader took every reported manifest and applied it, 3 polls running
        pipeline.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the loader did not settle within {timeout:.0f} s")
        idle = pipeline.driver.manifests.empty() and not pipeline.warehouse.pending(False)
        quiet = quiet + 1 if idle else 0
        time.sleep(pipeline.load_interval)
    return time.monotonic() - began


class StageLag:
    """Which stage is behind, sampled every quarter second while a step runs: the capture's
    delay (how long after a WAL position was the source's newest the capture had put and
    acknowledged everything up to it; it includes the capture's own flush interval) and the
    consumers' MillisBehindLatest (Kinesis's own measure: how far behind the newest record in
    its shard the last GetRecords answer was). Whatever is left of freshness is the loader's.
    A stage whose lag grows within the step is the one that does not keep up."""

    def __init__(self, pipeline: Pipeline, source_dsn: str) -> None:
        self.pipeline = pipeline
        self.source_dsn = source_dsn
        self.capture: list[tuple[float, float]] = []  # (when, seconds behind)
        self.consumers: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        waiting: deque[tuple[float, int]] = deque()
        with psycopg.connect(
            self.source_dsn, autocommit=True, application_name="bench-meter"
        ) as conn:
            while not self._stop.wait(0.25):
                now = time.monotonic()
                row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
                waiting.append((now, int(row[0]) if row else 0))
                acked = self.pipeline.capture.stats.acked_lsn
                while waiting and waiting[0][1] <= acked:
                    self.capture.append((waiting[0][0], now - waiting.popleft()[0]))
                behind = [
                    v.millis_behind / 1000
                    for v in list(self.pipeline.driver.views.values())
                    if v.millis_behind is not None
                ]
                if behind:
                    self.consumers.append((now, max(behind)))

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(5)
        out: dict[str, Any] = {}
        for name, samples in (("capture", self.capture), ("consumers", self.consumers)):
            values = [v for _, v in samples]
            if not samples:
                continue
            t0, t1 = samples[0][0], samples[-1][0]
            third = (t1 - t0) / 3
            first = [v for t, v in samples if t < t0 + third]
            last = [v for t, v in samples if t >= t1 - third]
            out[name] = {
                "p50_s": _r(percentile(values, 0.5)),
                "p99_s": _r(percentile(values, 0.99)),
                "p50_first_third_s": _r(percentile(first, 0.5)),
                "p50_last_third_s": _r(percentile(last, 0.5)),
            }
        return out


def step(
    pipeline: Pipeline, workload: Workload, meter: CpuMeter, rate: int, seconds: float
) -> dict[str, Any]:
    before, wall = meter.snapshot(), time.time()
    lag = StageLag(pipeline, pipeline.source_dsn)
    w = workload.run(rate, seconds)
    behind = lag.stop()
    t0, t1 = w["began"], w["ended"]
    time.sleep(2 * pipeline.load_interval)  # loads already under way at the end belong here
    after = meter.snapshot()
    elapsed = time.time() - wall
    cores = CpuMeter.share(before, after, elapsed)
    cores["workload: generator process"] = round(w["cpu_s"] / elapsed, 3)
    cores["postgres: workload backend"] = round(w["backend_cpu_s"] / elapsed, 3)
    # The workload's backend exited at the step's end: the postmaster's reaped-children
    # times hold it too.
    exited = "postgres: exited backends"
    cores[exited] = round(max(0.0, cores.get(exited, 0.0) - w["backend_cpu_s"] / elapsed), 3)
    samples = [
        (load.loaded_at.timestamp(), f)
        for load in pipeline.warehouse.loads  # a copy: safe while loads go on
        if t0 <= load.loaded_at.timestamp() <= t1
        for f in load.freshness_s
    ]
    third = (t1 - t0) / 3
    values = [f for _, f in samples]
    first = [f for t, f in samples if t < t0 + third]
    last = [f for t, f in samples if t >= t1 - third]
    p50_first, p50_last = percentile(first, 0.5) or 0.0, percentile(last, 0.5) or 0.0
    p99 = percentile(values, 0.99)
    grew = p50_last > 1.5 * p50_first + 0.5
    achieved_ok = w["rate"] >= ACHIEVED_SHARE * rate
    holds = bool(values) and achieved_ok and p99 is not None and p99 <= P99_TARGET_S and not grew
    why = []
    if not achieved_ok:
        why.append(f"the workload achieved only {w['rate']:.0f} changes/s")
    if p99 is None or p99 > P99_TARGET_S:
        why.append(f"freshness p99 {p99 if p99 is None else round(p99, 2)} s > {P99_TARGET_S} s")
    if grew:
        why.append(f"lag grew: p50 {p50_first:.2f} s → {p50_last:.2f} s within the step")
    ours = {k: v for k, v in cores.items() if not k.startswith("machine")}
    return {
        "offered": rate,
        "achieved": round(w["rate"], 1),
        "seconds": round(t1 - t0, 1),
        "p50_s": _r(percentile(values, 0.5)),
        "p99_s": _r(p99),
        "p50_first_third_s": _r(p50_first),
        "p50_last_third_s": _r(p50_last),
        "lag_grew": grew,
        "holds": holds,
        "why_not": "; ".join(why),
        "stage_lag": behind,
        "cores": cores,
        "cores_ours_total": round(sum(ours.values()), 3),
        "rss_mb_at_end": meter.rss_mb(),
        "cpu_ms_per_change": {k: round(1000 * v / max(w["rate"], 1), 4) for k, v in ours.items()},
    }


TARGET_RATE = 15_000
SOURCE_SIDE = ("workload: generator process", "postgres: workload backend")


def cpu_budget(
    stages: dict[str, dict[str, Any]], at_ceiling: dict[str, Any], cores: int
) -> dict[str, Any]:
    """The arithmetic behind the ceiling, from this run's numbers: the CPU every change costs
    (source side and pipeline, at the best holding rate), the rate that CPU allows on this
    machine's cores, and what TARGET_RATE would leave the pipeline once the source has its
    share. The local Kinesis stand-in's own cost (its put and get stages alone, client and
    server) is set beside that share: it is work AWS does on AWS, and it alone is a bound."""
    per_change = at_ceiling.get("cpu_ms_per_change") or {}
    source = sum(v for k, v in per_change.items() if k in SOURCE_SIDE)
    pipeline = sum(v for k, v in per_change.items() if k not in SOURCE_SIDE)
    budget_ms = 1000 * cores / TARGET_RATE
    kinesis = sum(v["cpu_ms_per_change"] for k, v in stages.items() if k.startswith("kinesis "))
    return {
        "cores": cores,
        "at_rate": at_ceiling.get("achieved"),
        "source_ms_per_change": round(source, 4),
        "pipeline_ms_per_change": round(pipeline, 4),
        "cpu_bound_ceiling": round(1000 * cores / max(source + pipeline, 1e-9)),
        "target": TARGET_RATE,
        "target_ms_per_change_on_these_cores": round(budget_ms, 4),
        "left_for_the_pipeline_at_target_ms": round(budget_ms - source, 4),
        "pipeline_over_what_is_left": round(pipeline / max(budget_ms - source, 1e-9), 2),
        "kinesis_standin_alone_ms_per_change": round(kinesis, 4),
        "kinesis_standin_cores_at_target": round(kinesis * TARGET_RATE / 1000, 2),
    }


def _lagging(s: dict[str, Any]) -> str:
    """The stage lags of a step, first third → last third (p50 seconds)."""
    return ", ".join(
        f"{name} behind {v['p50_first_third_s']} → {v['p50_last_third_s']} s"
        for name, v in s.get("stage_lag", {}).items()
    )


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def pipeline_threads(pipeline: Pipeline) -> dict[str, list[threading.Thread]]:
    return {
        "capture": pipeline._threads[:1] + pipeline.sink.sender_threads(),
        "loader": pipeline._threads[1:2],
        "driver (GetRecords, protocol)": list(pipeline.driver.workers.values()),
    }


class PeakRss:
    """Peak resident memory of each process of the pipeline, sampled every half second."""

    def __init__(self, meter: CpuMeter) -> None:
        self.meter = meter
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for name, mb in self.meter.rss_mb().items():
                name = "processor (each)" if name.startswith("processor ") else name
                self.peak[name] = max(self.peak.get(name, 0.0), mb)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(5)
        return dict(self.peak)


def run_large(
    settings: Settings, state: stack.StackState, snapshot_rows: int, transaction_changes: int
) -> int:
    """An initial load of a `snapshot_rows`-row table, then one transaction updating
    `transaction_changes` of its rows, through the whole pipeline: time, rate and peak RSS of
    each process for each (PostgreSQL's by kind: its RSS counts the shared buffers a process
    touched), the loader's largest load and the size of moto's record files, then verify. The
    capture's progress lines are printed as they come."""
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("consumers.capture.progress").setLevel(logging.INFO)
    logging.getLogger("consumers.capture.runner").setLevel(logging.INFO)
    source = state.dsn("source")
    create_source(source, snapshot_rows)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(b"ANALYZE accounts")  # the full load's ETA is out of pg_class.reltuples
    contracts_dir = Path(tempfile.mkdtemp(prefix="cdc-bench-contracts-"))
    import_contracts(source, "public", None, contracts_dir, lambda m: print(m, file=sys.stderr))
    settings = dataclasses.replace(settings, contracts_dir=contracts_dir)
    contracts = load_contracts(contracts_dir)
    meter = CpuMeter(state)
    phases: dict[str, dict[str, Any]] = {}
    pipeline = Pipeline(settings, state, contracts, source_dsn=source)
    # Every load of a phase (which can run longer than the history's usual 10 minutes): its
    # count and largest load are reported.
    pipeline.warehouse.loads = LoadHistory(keep_seconds=float("inf"))
    ok = False
    try:
        postmaster = psutil.Process(state.cluster.pid())
        records_dir = stack.records_dir(settings)

        def postgres_peaks(stop: threading.Event, peak: dict[str, float]) -> None:
            while not stop.wait(0.5):
                for p in postmaster.children():
                    try:
                        line, rss = " ".join(p.cmdline()), p.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    kind = next((f"postgres: {k} backend" for k in ("source", "warehouse")
                                 if f" {k} " in line), "postgres: other")  # fmt: skip
                    kind = "postgres: walsender (capture)" if "walsender" in line else kind
                    peak[kind] = max(peak.get(kind, 0.0), round(rss, 1))

        def phase(name: str, unit: str, act: Callable[[], int]) -> None:
            """Time `act` (which returns how many rows or changes it made) until the pipeline
            has loaded everything, with each process's peak RSS meanwhile."""
            peak, pg_peak, pg_stop = PeakRss(meter), dict[str, float](), threading.Event()
            sampler = threading.Thread(target=postgres_peaks, args=(pg_stop, pg_peak))
            sampler.start()
            since = datetime.now(UTC)
            began = time.monotonic()
            count = act()
            settle(pipeline, source, timeout=3600)
            seconds = time.monotonic() - began  # from the start (settle's own time is inside)
            pg_stop.set()
            sampler.join()
            loads = [x for x in pipeline.warehouse.loads if x.loaded_at >= since]
            largest = max(loads, key=lambda x: x.staged_rows)
            store = sum(f.stat().st_size for f in records_dir.iterdir())
            phases[name] = {unit: count, "seconds": round(seconds, 1),
                            f"{unit}_per_s": round(count / seconds, 1),
                            "peak_rss_mb": {**peak.stop(), **pg_peak},
                            "loads": len(loads),
                            "largest_load": {"rows": largest.staged_rows,
                                             "seconds": round(largest.seconds, 1)},
                            "moto_record_files_mb": round(store / 2**20)}  # fmt: skip
            print(f"{name}: {count:,} {unit} in {seconds:.1f} s; {phases[name]}", flush=True)

        def initial_load() -> int:
            pipeline.start()
            return snapshot_rows

        def one_transaction() -> int:
            with psycopg.connect(source) as conn:  # one transaction
                return int(
                    conn.execute(
                        "UPDATE accounts SET abalance = abalance + 1 WHERE aid <= %s",
                        (transaction_changes,),
                    ).rowcount
                )

        phase("initial load", "rows", initial_load)
        phase("one transaction", "changes", one_transaction)
        pipeline.drain()
        ok = all(d.ok for d in verify(source, state.dsn("warehouse"), contracts))
    finally:
        pipeline.stop()
    doc = result(
        "large_transaction_and_initial_load", phases["one transaction"]["changes_per_s"],
        "row changes/s", None, target="bounded memory, progress shown, verify passes",
        phases=phases, verify_passed=ok,
        note="moto keeps the stream's records in files (moto_records.py), not in memory: "
        "moto_record_files_mb is their size on disk at the end of each phase",
    )  # fmt: skip
    path = write("throughput-large.json", doc)
    print(f"verify: {'passed' if ok else 'FAILED'}\nwrote {path}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short steps (~3 min), for development"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy over every process while stepping up"
    )
    parser.add_argument(
        "--large", nargs=2, type=int, metavar=("SNAPSHOT_ROWS", "TRANSACTION_CHANGES"),
        help="instead: an initial load and one large transaction, peak RSS of each process",
    )  # fmt: skip
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    with private_stack() as (settings, state):
        if args.large:
            return run_large(settings, state, *args.large)
        return run(plan, settings, state, profile=args.profile)


def run(plan: Plan, settings: Settings, state: stack.StackState, *, profile: bool = False) -> int:
    began = time.monotonic()
    source = state.dsn("source")
    create_source(source, plan.accounts)
    contracts_dir = Path(tempfile.mkdtemp(prefix="cdc-bench-contracts-"))
    import_contracts(source, "public", None, contracts_dir, lambda m: print(m, file=sys.stderr))
    settings = dataclasses.replace(settings, contracts_dir=contracts_dir)
    contracts = load_contracts(contracts_dir)
    workload = Workload(source, plan.accounts)
    meter = CpuMeter(state)

    print(f"stages alone, {plan.stage_changes} row changes each ...", flush=True)
    stages = stages_alone(settings, state, contracts, workload, plan.stage_changes, meter)
    for name, s in stages.items():
        print(f"  {name:50} {s['rate']:10,.0f} /s", flush=True)

    pipeline = Pipeline(settings, state, contracts, source_dsn=source)
    pipeline.start()
    steps: list[dict[str, Any]] = []
    hold: dict[str, Any] | None = None
    profiled: dict[str, Any] | None = None
    ok = False
    try:
        settled = settle(pipeline, source)
        print(f"full load settled in {settled:.1f} s; stepping the offered rate", flush=True)
        meter.name_threads(pipeline_threads(pipeline))
        raw = Path(tempfile.mkdtemp(prefix="cdc-bench-profile-")) / "profile.raw"
        profiler = Profiler(raw) if profile else None
        for rate in plan.rates:
            s = step(pipeline, workload, meter, rate, plan.step_seconds)
            steps.append(s)
            print(
                f"  {rate:6} offered: {s['achieved']:8,.0f} achieved, p50 {s['p50_s']} s, "
                f"p99 {s['p99_s']} s, cores {s['cores_ours_total']}, {_lagging(s)}: "
                + ("holds" if s["holds"] else f"does not hold ({s['why_not']})"),
                flush=True,
            )
            if not s["holds"]:
                break
        profiled = profiler.stop() if profiler else None
        passing = [s["offered"] for s in steps if s["holds"]]
        for rate in sorted(passing, reverse=True)[:2]:
            backlog = settle(pipeline, source)
            print(f"backlog cleared in {backlog:.1f} s; holding {rate}/s for "
                  f"{plan.hold_seconds:.0f} s", flush=True)  # fmt: skip
            hold = step(pipeline, workload, meter, rate, plan.hold_seconds)
            print(f"  hold {rate}: p50 {hold['p50_s']} s, p99 {hold['p99_s']} s: "
                  + ("holds" if hold["holds"] else f"does not hold ({hold['why_not']})"),
                  flush=True)  # fmt: skip
            if hold["holds"]:
                break
        pipeline.drain()
        ok = all(d.ok for d in verify(source, state.dsn("warehouse"), contracts))
    finally:
        pipeline.stop()
    ceiling = hold["achieved"] if hold and hold["holds"] else 0.0
    pipeline_stages = {
        k: v for k, v in stages.items() if not k.startswith("workload")
    }  # what the pipeline does; the workload is the source's load, not a pipeline stage
    slowest = min(pipeline_stages, key=lambda k: pipeline_stages[k]["rate"])
    at_ceiling = (
        hold
        if hold and hold["holds"]
        else max((s for s in steps if s["holds"]), key=lambda s: s["achieved"], default={})
    )
    budget = cpu_budget(stages, at_ceiling, psutil.cpu_count() or 1)
    doc = result(
        "throughput_sustained_ceiling", ceiling, "row changes/s", pipeline_stages[slowest]["rate"],
        target=f">= {TARGET_RATE} changes/s sustained for 3 minutes with freshness p99 <= 5 s, "
        "flat lag",
        limit_is=f"the slowest stage alone: {slowest}",
        hold=hold, steps=steps, stages_alone=stages,
        cores_at_ceiling=at_ceiling.get("cores"),
        cpu_ms_per_change_at_ceiling=at_ceiling.get("cpu_ms_per_change"), cpu_budget=budget,
        verify_passed=ok, profile=profiled, quick=plan is QUICK, plan=dataclasses.asdict(plan),
        workload="TPC-B-like: BEGIN; 3 UPDATEs; INSERT history; COMMIT (+ a DELETE every 10th)",
        shards=state.shard_count, seconds=round(time.monotonic() - began, 1),
    )  # fmt: skip
    path = write(plan.output, doc)
    print(
        f"throughput   : sustained ceiling {ceiling:,.0f} changes/s "
        f"(slowest stage alone: {slowest} at {pipeline_stages[slowest]['rate']:,.0f}/s); "
        f"verify: {'passed' if ok else 'FAILED'}\n"
        f"cpu budget   : {budget['source_ms_per_change']} ms a change at the source + "
        f"{budget['pipeline_ms_per_change']} ms in the pipeline at {budget['at_rate']}/s: "
        f"{budget['cpu_bound_ceiling']:,}/s on {budget['cores']} cores; {TARGET_RATE:,}/s "
        f"leaves the pipeline {budget['left_for_the_pipeline_at_target_ms']} ms a change "
        f"({budget['pipeline_over_what_is_left']} x too little); the Kinesis stand-in alone "
        f"would take {budget['kinesis_standin_cores_at_target']} cores\nwrote {path}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
