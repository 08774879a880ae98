"""`make run` (for now: `cdc demo run`): the local stack, demo data, workload and capture,
with a live line of counts. Ctrl-C, or the end of --duration, stops the workload, lets the
capture put everything the source committed, and prints the summary."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from types import FrameType

from consumers.capture import dms_config
from consumers.capture.kinesis_sink import KinesisSink
from consumers.capture.runner import DRAIN_PREFIX, Capture, CaptureConfig, emit_marker
from consumers.contracts.model import load_contracts
from consumers.demo.load import load_demo
from consumers.demo.workload import Workload
from consumers.local import stack
from consumers.settings import Settings


def _line(written: Counter[str], put: Counter[str], elapsed: float) -> str:
    tables = sorted(set(written) | {t.split(".")[-1] for t in put if t})
    cells = []
    for t in tables:
        cells.append(f"{t} {written.get(t, 0)}/{put.get(f'public.{t}', 0)}")
    return (
        f"[{elapsed:5.0f}s] source changes {sum(written.values())}, "
        f"Kinesis records {sum(put.values())} | " + "  ".join(cells)
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


def _run(
    settings: Settings, state: stack.StackState, *, rate: float, duration: float | None
) -> int:
    contracts = load_contracts(settings.contracts_dir)
    source = state.dsn("source")
    seeded = load_demo(source, contracts)
    print(f"local stack up: source {source}; demo rows seeded: {seeded}")
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
    workload = Workload(source)
    stop_workload, stop_capture = threading.Event(), threading.Event()
    drain_to: list[int] = []
    errors: list[BaseException] = []

    def guarded(target: object, *args: object, **kwargs: object) -> threading.Thread:
        def body() -> None:
            try:
                target(*args, **kwargs)  # type: ignore[operator]
            except BaseException as e:  # reported below; the run then stops and fails
                errors.append(e)
                stop_workload.set()
                stop_capture.set()

        t = threading.Thread(target=body, daemon=True)
        t.start()
        return t

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_workload.set()

    previous = signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    start = time.monotonic()
    capture_thread = guarded(capture.run, stop_capture)
    # Changes committed before the slot exists are in the full load's snapshot, not the stream;
    # start writing once it exists so every workload change is also a streamed change.
    while not capture.slot_ready.wait(0.1) and capture_thread.is_alive():
        pass
    workload_thread = guarded(workload.run, rate, stop_workload, duration)
    tty = sys.stdout.isatty()
    last_print = 0.0
    try:
        while workload_thread.is_alive():
            workload_thread.join(0.5)
            now = time.monotonic()
            if tty or now - last_print >= 5:
                line = _line(workload.written, sink.put, now - start)
                print("\r" + line if tty else line, end="" if tty else "\n", flush=True)
                last_print = now
        if tty:
            print()
        if not errors:
            # Drain: everything the source committed must reach Kinesis before we stop.
            drain_to.append(emit_marker(source, DRAIN_PREFIX))
            deadline = time.monotonic() + 120
            while capture.stats.acked_lsn < drain_to[0] and capture_thread.is_alive():
                if time.monotonic() > deadline:
                    errors.append(TimeoutError("capture did not catch up within 120 s"))
                    break
                time.sleep(0.2)
        stop_capture.set()
        capture_thread.join(30)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(_line(workload.written, sink.put, time.monotonic() - start))
    loaded = sum(capture.stats.loaded.values())
    changes = sum(capture.stats.changes.values())
    print(
        f"summary: {loaded} full-load rows and {changes} changes captured "
        f"({workload.rolled_back} rolled-back transactions emitted nothing); "
        f"{sum(sink.put.values())} records put to Kinesis stream {state.stream_name}"
    )
    if errors:
        print(f"error: {errors[0]}", file=sys.stderr)
        return 1
    if changes != sum(workload.written.values()):
        print(
            f"error: the workload committed {sum(workload.written.values())} row changes but "
            f"the capture emitted {changes}",
            file=sys.stderr,
        )
        return 1
    return 0
