"""`make run` (`cdc demo run`): the local stack, demo data, workload, capture and consumers,
with a live view. Ctrl-C, or the end of --duration, stops the workload, lets the capture put
everything the source committed and the consumers write and checkpoint all of it, then prints
the summary; the exit code is non-zero if any change was lost or dead-lettered."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

from consumers.capture import dms_config
from consumers.capture.kinesis_sink import KinesisSink
from consumers.capture.runner import DRAIN_PREFIX, Capture, CaptureConfig, emit_marker
from consumers.contracts.model import load_contracts
from consumers.demo.load import load_demo
from consumers.demo.workload import Workload
from consumers.kcl.driver import Driver, DriverConfig, processor_env
from consumers.local import stack
from consumers.settings import Settings

APPLICATION = "totesys-cdc-consumer"


def view(workload: Workload, sink: KinesisSink, driver: Driver, elapsed: float) -> str:
    shards = driver.views
    rows: Counter[str] = Counter()
    for v in shards.values():
        rows.update(v.rows)
    lag = " ".join(
        f"{int(s.rsplit('-', 1)[-1])}:{'-' if v.millis_behind is None else v.millis_behind}ms"
        for s, v in sorted(shards.items())
    )
    tables = sorted({t.split(".")[-1] for t in sink.put if t} | set(workload.written))
    cells = "  ".join(
        f"{t} {workload.written.get(t, 0)}/{sink.put.get(f'public.{t}', 0)}/"
        f"{rows.get(f'public.{t}', 0)}"
        for t in tables
    )
    return (
        f"[{elapsed:5.0f}s] source changes {sum(workload.written.values())} | Kinesis records "
        f"{sum(sink.put.values())} | batches {sum(v.batches for v in shards.values())}, "
        f"Parquet rows {sum(rows.values())}, dead letters "
        f"{sum(v.dead_letters for v in shards.values())} | millisBehindLatest {lag}\n"
        f"        per table (changes/records/Parquet rows): {cells}"
    )


def run_demo(settings: Settings, *, rate: float, duration: float | None, keep_stack: bool) -> int:
    started_stack = stack.load_state(settings) is None
    state = stack.up(settings)
    try:
        return _run(settings, state, rate=rate, duration=duration)
    finally:
        if started_stack and not keep_stack:
            stack.down(settings)
            print("local stack stopped (use --keep-stack to leave it running)")


def _thread(
    target: Callable[..., Any], errors: list[BaseException], *args: Any
) -> threading.Thread:
    def body() -> None:
        try:
            target(*args)
        except BaseException as e:  # reported by the main loop; the run then fails
            errors.append(e)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t


def _wait(what: str, done: Callable[[], bool], errors: list[BaseException], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and not errors:
        if time.monotonic() > deadline:
            errors.append(TimeoutError(f"{what} did not finish within {timeout:.0f} s"))
            return
        time.sleep(0.2)


def _run(
    settings: Settings, state: stack.StackState, *, rate: float, duration: float | None
) -> int:
    contracts = load_contracts(settings.contracts_dir)
    source = state.dsn("source")
    seeded = load_demo(source, contracts)
    print(f"local stack up: source {source}; demo rows seeded: {seeded}", flush=True)
    sink = KinesisSink(state.client("kinesis"), state.stream_name)
    capture = Capture(
        CaptureConfig(
            source_dsn=source,
            contracts=contracts,
            dms=dms_config.load(settings.dms_dir),
            state_dir=settings.state_dir,
            stream=state.stream_name,
        ),
        sink,
    )
    driver = Driver(
        DriverConfig(
            stream=state.stream_name,
            application=APPLICATION,
            processor_env=processor_env(settings, state.aws_endpoint_url, state.region),
        ),
        state.client("kinesis"),
        state.client("dynamodb"),
    )
    workload = Workload(source)
    stop_workload, stop_capture = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_workload.set()

    previous = signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    start = time.monotonic()
    capture_thread = _thread(capture.run, errors, stop_capture)
    # Changes committed before the slot exists are in the full load's snapshot, not the stream;
    # start writing once it exists so every workload change is also a streamed change.
    while not capture.slot_ready.wait(0.1) and capture_thread.is_alive():
        pass
    driver.start()
    workload_thread = _thread(workload.run, errors, rate, stop_workload, duration)
    tty = sys.stdout.isatty()
    last_print = 0.0
    try:
        while workload_thread.is_alive() and not errors:
            workload_thread.join(0.5)
            try:
                driver.check()
            except BaseException as e:
                errors.append(e)
            now = time.monotonic()
            if now - last_print >= (1 if tty else 5):
                text = view(workload, sink, driver, now - start)
                print(("\x1b[2J\x1b[H" if tty else "") + text, flush=True)
                last_print = now
        stop_workload.set()
        if not errors:
            print("draining: capture → Kinesis → consumers → S3 ...", flush=True)
            target = emit_marker(source, DRAIN_PREFIX)
            _wait("capture", lambda: capture.stats.acked_lsn >= target, errors, 120)
            _wait("consumers", driver.caught_up, errors, 120)
    finally:
        stop_capture.set()
        capture_thread.join(30)
        driver.stop()
        signal.signal(signal.SIGINT, previous)
    print(view(workload, sink, driver, time.monotonic() - start))
    return _summary(workload, capture, sink, driver, errors)


def _summary(
    workload: Workload,
    capture: Capture,
    sink: KinesisSink,
    driver: Driver,
    errors: list[BaseException],
) -> int:
    shards = driver.views.values()
    consumed = sum(v.records for v in shards)
    dead = sum(v.dead_letters for v in shards)
    changes = sum(capture.stats.changes.values())
    put = sum(sink.put.values())
    print(
        f"summary: {sum(capture.stats.loaded.values())} full-load rows and {changes} changes "
        f"captured ({workload.rolled_back} rolled-back transactions emitted nothing); "
        f"{put} records put to Kinesis; {consumed} consumed into "
        f"{sum(v.batches for v in shards)} Parquet batches; dead letters: {dead}"
    )
    problems = [str(e) for e in errors]
    if changes != sum(workload.written.values()):
        problems.append(
            f"the workload committed {sum(workload.written.values())} row changes but the "
            f"capture emitted {changes}"
        )
    if not errors and consumed < put:
        problems.append(f"consumers read {consumed} of the {put} records put")
    if dead:
        problems.append(f"{dead} dead letters (see the dead-letter bucket)")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0
