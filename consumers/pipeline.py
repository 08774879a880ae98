"""The whole local pipeline in one process: capture → Kinesis → consumers → S3 → loader →
warehouse. `cdc run` runs it for any contracts and source; `make run` adds the demo workload.

Two loaders (`loader=`): "local" (the default) runs the PostgreSQL load plans in this process
(warehouse/local.py); "stepfunctions" runs the deployed state machine in the local stack's
moto server, with the Redshift load plans (local/stepfunctions.py).

`drain()` is how a run ends cleanly: a marker transaction is committed at the source; the
capture has put everything before it once it acknowledges the marker; at that moment the sink
knows the highest sequence number Kinesis accepted per shard, and the consumers have written
everything before the marker once each of those shards is checkpointed at or past it (a
checkpoint follows the batch's manifest into S3) and every shard has delivered and
checkpointed all that arrived before the drain began (what an earlier, killed run put but never
consumed); the loader has applied everything once a full listing of the manifests finds none
pending. Then `cdc verify` can compare source and warehouse exactly. (Judging the consumers by
"every shard idle at its last poll" is not exact: that poll may predate the capture's last put.)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consumers.capture import dms_config
from consumers.capture.kinesis_sink import KinesisSink
from consumers.capture.runner import DRAIN_PREFIX, Capture, CaptureConfig, emit_marker
from consumers.contracts.model import TableContract
from consumers.errors import TransientError
from consumers.kcl.driver import Driver, DriverConfig, processor_env
from consumers.local.stack import StackState
from consumers.local.stepfunctions import StepFunctionsLoader
from consumers.settings import Settings
from consumers.warehouse.failures import Outcome, classify_postgres
from consumers.warehouse.local import LocalWarehouse, TableLoad, percentile

log = logging.getLogger("cdc.pipeline")

APPLICATION = "totesys-cdc-consumer"
FULL_LISTING_SECONDS = 15.0


@dataclass
class TableView:
    table: str
    source_rows: int
    warehouse_rows: int
    last_load: TableLoad | None


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        state: StackState,
        contracts: list[TableContract],
        *,
        source_dsn: str,
        warehouse_dsn: str | None = None,
        application: str = APPLICATION,
        load_interval: float = 0.3,
        loader: str = "local",
    ) -> None:
        self.contracts = contracts
        self.source_dsn = source_dsn
        self.load_interval = load_interval
        self.sink = KinesisSink(state.client("kinesis"), state.stream_name)
        self.sink.check_stream()
        self.capture = Capture(
            CaptureConfig(
                source_dsn=source_dsn,
                contracts=contracts,
                dms=dms_config.load(
                    settings.dms_dir, contracts if settings.own_contracts else None
                ),
                state_dir=settings.state_dir,
                stream=state.stream_name,
            ),
            self.sink,
        )
        self.driver = Driver(
            DriverConfig(
                stream=state.stream_name,
                application=application,
                processor_env=processor_env(settings, state.aws_endpoint_url, state.region),
            ),
            state.client("kinesis"),
            state.client("dynamodb"),
        )
        self.warehouse: LocalWarehouse | StepFunctionsLoader
        if loader == "stepfunctions":
            self.warehouse = StepFunctionsLoader(
                warehouse_dsn or state.dsn("warehouse"), contracts, state.client,
                settings.batch_bucket, endpoint_url=state.aws_endpoint_url,
                region=state.region, contracts_dir=str(settings.contracts_dir.resolve()),
            )  # fmt: skip
        elif loader == "local":
            self.warehouse = LocalWarehouse(
                warehouse_dsn or state.dsn("warehouse"),
                contracts,
                state.client("s3"),
                settings.batch_bucket,
            )
        else:
            raise ValueError(f"unknown loader {loader!r}: choose local or stepfunctions")
        self.errors: list[BaseException] = []
        self._stop_capture = threading.Event()
        self._stop_loader = threading.Event()
        self._threads: list[threading.Thread] = []

    def _thread(self, target: Callable[..., Any], *args: Any) -> threading.Thread:
        def body() -> None:
            try:
                target(*args)
            except BaseException as e:  # surfaced by check(); the run then fails
                self.errors.append(e)

        t = threading.Thread(target=body, daemon=True)
        t.start()
        self._threads.append(t)
        return t

    def _load_loop(self) -> None:
        """Load what the consumers report as written; list S3 in full only now and then
        (a safety net: listing is O(objects) on moto, and the reports already name every
        manifest this run's consumers wrote)."""
        last_listing = 0.0
        while not self._stop_loader.is_set():
            self.warehouse.add_manifests(self._reported_manifests(self.load_interval))
            if self._stop_loader.is_set():  # drain() loads the rest, stop() leaves it
                return
            listing = time.monotonic() - last_listing >= FULL_LISTING_SECONDS
            if listing:
                last_listing = time.monotonic()
            try:  # a table's own failure never gets here: run_once reports and retries it
                self.warehouse.run_once(listing=listing)
            except Exception as e:
                failure = classify_postgres(e)
                if failure.outcome is not Outcome.TRANSIENT:
                    raise
                log.error("loader: %s; trying again", failure.reason)

    def _reported_manifests(self, timeout: float) -> list[str]:
        """The manifests the consumers reported, waiting up to `timeout` for the first. A
        report starts a load at once: sleeping `load_interval` between rounds instead left each
        manifest waiting half of it on average, ~0.15 s of the freshness benchmark's ~2 s p50
        (bench/freshness.py: README "Freshness, side by side"). Without reports the loop
        still comes round every `timeout` (retries after backoff, the full listing, stop)."""
        try:
            keys = [self.driver.manifests.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                keys.append(self.driver.manifests.get_nowait())
            except queue.Empty:
                return keys

    def start(self) -> None:
        self.warehouse.bootstrap()
        capture = self._thread(self.capture.run, self._stop_capture)
        # Changes committed before the slot exists are in the full load's snapshot.
        while not self.capture.slot_ready.wait(0.1):
            if not capture.is_alive():
                self.check()
                raise TransientError("the capture stopped before its replication slot existed")
        self.driver.start()
        self._thread(self._load_loop)

    def reload(self, contracts: list[TableContract], timeout: float = 120) -> None:
        """Run on changed contracts (`cdc run`, new_columns auto: local/autoevolve.py): the
        warehouse follows them (bootstrap: evolve, grants), the loader loads by them, then every
        consumer restarts on them from its checkpoint. Returns once all have: from then on
        no record is decoded by the old contracts. The capture keeps its renderers."""
        if not isinstance(self.warehouse, LocalWarehouse):
            raise ValueError("reloading contracts needs the local loader")
        self.contracts = contracts
        self.warehouse.contracts = {c.qualified: c for c in contracts}
        self.warehouse.bootstrap()
        self.driver.reload_processors()
        self._wait("the consumers' restart", self.driver.reloaded, timeout)

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]
        self.driver.check()

    def _wait(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self.check()
            if time.monotonic() > deadline:
                raise TransientError(f"{what} did not catch up within {timeout:.0f} s")
            time.sleep(0.2)

    def drain(self, timeout: float = 180) -> None:
        began = time.time()
        target = emit_marker(self.source_dsn, DRAIN_PREFIX)
        self._wait("the capture", lambda: self.capture.stats.acked_lsn >= target, timeout)
        put = dict(self.sink.last_sequence)  # complete: the capture flushes before it acks
        # What this run put, and what earlier runs put (it arrived before `began`, possibly never
        # consumed: a run killed while its consumers lagged behind its capture).
        self._wait(
            "the consumers",
            lambda: self.driver.checkpointed_through(put) and self.driver.read_through(began),
            timeout,
        )
        self._stop_loader.set()
        for t in self._threads[1:]:
            t.join(60)
        self.check()
        if isinstance(self.warehouse, StepFunctionsLoader):
            self.warehouse.drain(timeout)
            for failing in self.warehouse.failures.values():
                log.error("drain: %s is still failing: %s", failing.table, failing.describe())
            return
        self.warehouse.run_once(listing=True, retry_now=True)  # every durable manifest
        # A table that failed transiently gets its retries (with their backoff) until the
        # deadline; one that stays failing is reported, and `cdc verify` shows it.
        deadline = time.monotonic() + timeout
        while (
            any(f.failure.outcome is Outcome.TRANSIENT for f in self.warehouse.failures.values())
            and time.monotonic() < deadline
        ):
            wake = min(f.retry_at for f in self.warehouse.failures.values())
            time.sleep(max(0.0, min(wake - time.monotonic(), deadline - time.monotonic())))
            self.warehouse.run_once(listing=False)
        for failing in self.warehouse.failures.values():
            log.error("drain: %s is still failing: %s", failing.table, failing.describe())

    def stop(self) -> None:
        self._stop_capture.set()
        self._stop_loader.set()
        self.driver.stop()
        for t in self._threads:
            t.join(30)

    # ------------------------------------------------------------------ live view

    def freshness(self, window_s: float = 60) -> tuple[float | None, float | None]:
        """p50, p99 of source commit → visible in the warehouse, over recent loads."""
        now = time.time()
        recent = [
            f for load in self.warehouse.loads
            if now - load.loaded_at.timestamp() <= window_s for f in load.freshness_s
        ]  # fmt: skip
        return percentile(recent, 0.5), percentile(recent, 0.99)

    def tables(self) -> list[TableView]:
        from consumers.db import connect
        from consumers.warehouse.dialect import q

        wh = self.warehouse.row_counts()
        last = self.warehouse.loads.last
        out = []
        with connect(self.source_dsn) as conn:
            for c in self.contracts:
                row = conn.execute(
                    f"SELECT count(*) FROM {q(c.schema)}.{q(c.name)}".encode()  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                ).fetchone()
                out.append(
                    TableView(
                        c.qualified,
                        int(row[0]) if row else 0,
                        wh[c.qualified],
                        last.get(c.qualified),
                    )
                )
        return out

    def view(self, elapsed: float, written: int | None = None) -> str:
        views = self.driver.views.values()
        p50, p99 = self.freshness()

        def secs(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}s"

        head = (
            f"[{elapsed:5.0f}s] "
            + (f"source changes {written} | " if written is not None else "")
            + f"Kinesis records {sum(self.sink.put.values())} | batches "
            f"{sum(v.batches for v in views)}, dead letters {sum(v.dead_letters for v in views)} "
            f"| millisBehindLatest "
            + " ".join(
                f"{int(s.rsplit('-', 1)[-1])}:{'-' if v.millis_behind is None else v.millis_behind}"
                for s, v in sorted(self.driver.views.items())
            )
            + f" | freshness p50 {secs(p50)} p99 {secs(p99)}"
            + f" | quarantined batches {len(self.warehouse.quarantined)}"
        )
        failing = [f"  FAILING {f.describe()}" for f in self.warehouse.failures.values()]
        progress = self.capture.stats.progress  # a full load or a large transaction under way
        lines = [head, *failing, *([f"  capture: {progress.describe()}"] if progress else [])]
        lines.append(f"  {'table':24} {'source':>8} {'warehouse':>10}  last load")
        now = time.time()
        for t in self.tables():
            last = (
                f"{now - t.last_load.loaded_at.timestamp():5.1f}s ago, {t.last_load.seconds:.2f}s"
                if t.last_load
                else "-"
            )
            lines.append(f"  {t.table:24} {t.source_rows:>8} {t.warehouse_rows:>10}  {last}")
        return "\n".join(lines)
