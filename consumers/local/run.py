"""`make run` (`cdc demo run`) and `cdc run`: the whole pipeline, locally.

`cdc run` replicates the contracts' tables from a source (default: the local stack's) into the
local warehouse. `make run` adds the demo database and its workload. Ctrl-C, or the end of
--duration, stops the workload, drains the pipeline (everything committed at the source is
captured, consumed, written and loaded), runs `cdc verify`, prints the summary, and exits
with verify's result (non-zero on any difference, dead letter or error).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

from consumers import deadletters
from consumers.contracts.drift import DriftCheck
from consumers.contracts.model import load_contracts
from consumers.demo.load import load_demo
from consumers.demo.workload import Workload
from consumers.local import stack
from consumers.local.autoevolve import AutoEvolve
from consumers.pipeline import APPLICATION, Pipeline
from consumers.settings import Settings
from consumers.warehouse.verify import verify


def run_pipeline(
    settings: Settings,
    *,
    source_dsn: str | None,
    duration: float | None,
    keep_stack: bool,
    demo_rate: float | None = None,
    loader: str = "local",
) -> int:
    started_stack = stack.load_state(settings) is None
    state = stack.up(settings)
    try:
        return _run(settings, state, source_dsn, duration, demo_rate, loader)
    finally:
        if started_stack and not keep_stack:
            stack.down(settings)
            print("local stack stopped (use --keep-stack to leave it running)")


def _run(
    settings: Settings,
    state: stack.StackState,
    source_dsn: str | None,
    duration: float | None,
    demo_rate: float | None,
    loader: str,
    *,
    warehouse_dsn: str | None = None,
    application: str = APPLICATION,
    slot: str | None = None,
) -> int:
    """`warehouse_dsn`, `application`, `slot`: a run beside others on one stack (tests)."""
    contracts = load_contracts(settings.contracts_dir)
    source = source_dsn or state.dsn("source")
    warehouse = warehouse_dsn or state.dsn("warehouse")
    if demo_rate is not None:
        print(f"demo rows seeded: {load_demo(source, contracts)}", flush=True)
    pipeline = Pipeline(
        settings, state, contracts, source_dsn=source, warehouse_dsn=warehouse,
        application=application, loader=loader,
    )  # fmt: skip
    if slot is not None:
        pipeline.capture.cfg.slot = slot
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    workload = Workload(source) if demo_rate is not None else None
    errors: list[str] = []
    start = time.monotonic()
    tty = sys.stdout.isatty()
    try:
        pipeline.start()
    except BaseException:  # nothing ran (a DSN, a slot in use, ...): the error says what to fix
        pipeline.stop()
        signal.signal(signal.SIGINT, previous)
        raise
    try:
        print(
            f"pipeline running: source {source} → warehouse {warehouse}"
            + (" (loader: the Step Functions state machine in moto)" if loader != "local" else ""),
            flush=True,
        )
        writer = None
        if workload is not None and demo_rate is not None:
            writer = threading.Thread(
                target=workload.run, args=(demo_rate, stop, duration), daemon=True
            )
            writer.start()
        last_print = 0.0
        drift = DriftCheck(source, contracts, settings.contracts_dir, settings.drift_check_seconds)
        # new_columns auto, applied by the run itself (local/autoevolve.py); the Step Functions
        # loader's Lambdas read the contracts at deploy: there drift is only reported.
        auto = (
            AutoEvolve(pipeline, settings, drift, warehouse, state.client("s3"))
            if loader == "local"
            else None
        )
        while not stop.is_set():
            if duration is not None and time.monotonic() - start >= duration:
                break
            if writer is not None and not writer.is_alive():
                break
            pipeline.check()
            now = time.monotonic()
            if auto is not None:
                auto.tick(now)
            else:
                drift.poll(now)
            if now - last_print >= (1 if tty else 10):
                written = sum(workload.written.values()) if workload else None
                text = pipeline.view(now - start, written) + _notes(auto)
                print(("\x1b[2J\x1b[H" if tty else "") + text, flush=True)
                last_print = now
            stop.wait(0.5)
        stop.set()
        if writer is not None:
            writer.join(30)
        print("draining: capture → Kinesis → consumers → S3 → warehouse ...", flush=True)
        pipeline.drain()
        # A column added just before the end: its dead letters are redriven now, and what the
        # restarted consumers read since is drained again.
        if auto is not None and auto.tick(time.monotonic(), final=True):
            pipeline.drain()
    except Exception as e:  # reported below; the run fails
        errors.append(str(e))
    finally:
        pipeline.stop()
        signal.signal(signal.SIGINT, previous)
    written = sum(workload.written.values()) if workload else None
    print(pipeline.view(time.monotonic() - start, written) + _notes(auto))
    return _summary(pipeline, settings, state, pipeline.contracts, source, warehouse, workload,
                    errors, auto)  # fmt: skip


def _notes(auto: AutoEvolve | None) -> str:
    return "".join(f"\n  {line}" for line in auto.notes[-5:]) if auto else ""


def _summary(
    pipeline: Pipeline,
    settings: Settings,
    state: stack.StackState,
    contracts: list,  # type: ignore[type-arg]
    source: str,
    warehouse: str,
    workload: Workload | None,
    errors: list[str],
    auto: AutoEvolve | None,
) -> int:
    views = pipeline.driver.views.values()
    dead = sum(v.dead_letters for v in views)
    redriven = auto.redriven if auto else 0
    # Redriven dead letters are applied; what is left is what the bucket still holds.
    pending = dead
    if redriven:
        pending = deadletters.counts(state.client("s3"), settings.dead_letter_bucket)["pending"]
    changes = sum(pipeline.capture.stats.changes.values())
    loads = pipeline.warehouse.loads
    p50, p99 = loads.freshness_percentile(0.5), loads.freshness_percentile(0.99)
    print(
        f"summary: {sum(pipeline.capture.stats.loaded.values())} full-load rows and {changes} "
        f"changes captured; {sum(pipeline.sink.put.values())} Kinesis records; "
        f"{sum(v.records for v in views)} consumed ({sum(v.batched for v in views)} batched + "
        f"{dead} dead-lettered) into {sum(v.batches for v in views)} batches; "
        f"{loads.total} table loads; dead letters {dead} (redriven "
        f"{redriven}, pending {pending}); freshness (source "
        f"commit → queryable) p50 {p50 or 0:.2f} s, p99 {p99 or 0:.2f} s"
    )
    if workload is not None and not errors and changes != sum(workload.written.values()):
        errors.append(
            f"the workload committed {sum(workload.written.values())} row changes but the "
            f"capture emitted {changes}"
        )
    if pending:
        errors.append(f"{pending} dead letters (see the dead-letter bucket)")
    if not errors:
        diffs = verify(source, warehouse, contracts)
        bad = [d for d in diffs if not d.ok]
        rows = sum(d.source_rows for d in diffs)
        print(f"verify: {len(diffs) - len(bad)}/{len(diffs)} tables identical ({rows} rows)")
        for d in bad:
            errors.append(
                f"verify: {d.table} differs (missing {len(d.missing)}, extra {len(d.extra)}, "
                f"different {len(d.different)})"
            )
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0
