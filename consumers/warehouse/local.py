"""The local loader: the same load plans as Redshift, against the PostgreSQL `warehouse`.

The plan's COPY step reads the batches' Parquet objects from S3 (pyarrow) and streams them into
`COPY stage FROM STDIN (FORMAT csv)`; every other step is the plan's SQL as is, all in one
transaction. Pending work = manifest files whose (batch, table) is neither in the ledger nor in
quarantine.

One table never blocks the others: each table's load is tried on its own, and a failure is
classified (warehouse/failures.py), logged and kept in `failures` (the live view and `cdc load`
show it) while the other tables go on loading:
- data (a value the warehouse refuses): the table's batches are tried one by one, and each
  batch that fails for its data is quarantined: a row in cdc.load_quarantine and an object
  `quarantine/<table>/<batch id>.json` (reason, SQLSTATE, its Parquet keys) beside the batches
  in the batch bucket, as on AWS (orchestration/planner.py); the table goes on with its later
  batches;
- transient (a lock held longer than `lock_timeout_ms` included), or blocked (not the data's
  fault: a missing table, a privilege): the table is retried after a backoff that doubles per
  failure (0.5 s up to a minute); its batches stay pending, so nothing is lost or reordered.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from consumers.capture.render import libpq_options
from consumers.contracts.model import TableContract
from consumers.db import connect
from consumers.sink.writer import MANIFEST_PREFIX, BatchManifest
from consumers.warehouse.dialect import LEDGER, QUARANTINE, PostgresDialect, q
from consumers.warehouse.evolve import evolve_local
from consumers.warehouse.failures import LoadFailure, Outcome, classify_postgres
from consumers.warehouse.plan import COPY_STEP, build_load
from consumers.warehouse.truncate import TruncationLog

log = logging.getLogger("cdc.loader")
QUARANTINE_PREFIX = "quarantine"
# A table's load stages, ranks and merges all its rows in one transaction, so what it costs
# grows with them. Measured on a backlog of a 1M-row initial load (one table, loaded into an
# empty schema; 2 cores, PostgreSQL 15 defaults): in one load 10.2 s, 98k rows/s, the loading
# backend's private memory peaking at 241 MB; in parts of 500k rows 10.7 s, 94k rows/s, 153 MB;
# of 200k 12.6 s, 79k rows/s, 113 MB; of 50k 16.2 s, 62k rows/s. 500k keeps 95 % of the rate
# (the loader is ~10x faster than the rest of the local pipeline, so it rarely has a backlog
# that big) and bounds a load whatever the backlog.
MAX_ROWS_PER_LOAD = 500_000
MAX_BACKOFF_SECONDS = 60.0


@dataclass
class TableFailure:
    """A table whose last load failed: why, how often in a row, and when to try again."""

    table: str
    failure: LoadFailure
    attempts: int
    retry_at: float  # time.monotonic()

    def describe(self) -> str:
        state = f" SQLSTATE {self.failure.sqlstate}" if self.failure.sqlstate else ""
        return (
            f"{self.table}: {self.failure.outcome.value}{state}, {self.attempts} attempt(s): "
            f"{self.failure.reason}"
        )


@dataclass(frozen=True)
class Quarantined:
    table: str
    batch_id: str
    failure: LoadFailure
    keys: tuple[str, ...]


@dataclass
class TableLoad:
    table: str
    batches: int
    staged_rows: int
    seconds: float
    loaded_at: datetime
    freshness_s: list[float] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)


class LoadHistory:
    """A run's table loads: the recent ones in full, and the whole run summed up.

    Every load keeps a freshness sample per row (up to 1,000 per commit), so keeping every load
    made a long `cdc run` grow without bound: by arithmetic, 8,000 changes/s keep 8,000 floats a
    second in lists (~32 bytes each), ~0.9 GB an hour.
    Loads older than keep_seconds (KEEP_SECONDS unless told) are dropped (the live view looks
    back 60 s, the benchmarks 3 minutes); for the whole run there are a count, the last load of
    each table, and freshness as a histogram of 10 ms buckets, which bounded memory answers
    percentiles from."""

    KEEP_SECONDS = 600.0
    BUCKET_S = 0.01

    def __init__(self, keep_seconds: float = KEEP_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self._recent: deque[TableLoad] = deque()
        self.total = 0
        self.last: dict[str, TableLoad] = {}  # table -> its newest load
        self._histogram: Counter[int] = Counter()

    def append(self, load: TableLoad) -> None:
        self._recent.append(load)
        self.total += 1
        self.last[load.table] = load
        self._histogram.update(round(f / self.BUCKET_S) for f in load.freshness_s)
        cutoff = load.loaded_at.timestamp() - self.keep_seconds
        while self._recent and self._recent[0].loaded_at.timestamp() < cutoff:
            self._recent.popleft()

    def extend(self, loads: Iterable[TableLoad]) -> None:
        for load in loads:
            self.append(load)

    def __iter__(self) -> Iterator[TableLoad]:
        """The loads of the last keep_seconds, oldest first (a copy: safe while loads go on)."""
        return iter(list(self._recent))

    def freshness_percentile(self, p: float) -> float | None:
        """Over the whole run, to the nearest 10 ms (the lower bucket edge of quantile p)."""
        n = sum(self._histogram.values())
        if not n:
            return None
        rank, seen = p * (n - 1), 0
        for bucket, count in sorted(self._histogram.items()):
            seen += count
            if seen > rank:
                return bucket * self.BUCKET_S
        return None


def _pg_array(items: list[Any] | None) -> str | None:
    if items is None:
        return None
    out = []
    for x in items:
        if x is None:
            out.append("NULL")
        else:
            out.append('"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


def arrow_to_csv(table: pa.Table) -> bytes:
    """CSV that PostgreSQL's COPY reads back exactly; arrays and bytes are pre-rendered."""
    cols = []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_list(col.type):
            col = pa.array([_pg_array(v) for v in col.to_pylist()], pa.string())
        elif pa.types.is_binary(col.type):
            col = pa.array(
                [None if v is None else "\\x" + v.hex() for v in col.to_pylist()], pa.string()
            )
        cols.append(col)
    buf = io.BytesIO()
    pacsv.write_csv(
        pa.table(cols, names=table.column_names), buf,
        pacsv.WriteOptions(include_header=False, quoting_style="needed"),
    )  # fmt: skip
    return buf.getvalue()


BOOTSTRAP_LOCK = 0x63646362  # "cdcb": the advisory lock key of LocalWarehouse.bootstrap


class LocalWarehouse:
    def __init__(
        self,
        dsn: str,
        contracts: list[TableContract],
        s3: Any,
        bucket: str,
        *,
        prefix: str = "",
        into_schema: str | None = None,
        lock_timeout_ms: int = 10_000,
        max_rows_per_load: int = MAX_ROWS_PER_LOAD,
    ) -> None:
        """`prefix`: where the batches are (a replay's own); `into_schema`: load the tables
        into this schema instead of the source's (a rebuild beside the live tables)."""
        self.dsn = dsn
        self.prefix = prefix
        self.into_schema = into_schema
        # Keyed by the source table that manifests name; targets may live in another schema.
        self.contracts = {
            c.qualified: dataclasses.replace(c, schema=into_schema) if into_schema else c
            for c in contracts
        }
        self.s3 = s3
        self.bucket = bucket
        self.dialect = PostgresDialect()
        self.truncations = TruncationLog.of(self.contracts)
        self.manifests: dict[str, BatchManifest] = {}  # immutable once written: cached
        self.loads = LoadHistory()
        # A table locked by someone else (a long query, another loader) fails its load with
        # 55P03 after this long, a transient failure retried later, instead of holding up
        # every table behind it.
        self.lock_timeout_ms = lock_timeout_ms
        self.failures: dict[str, TableFailure] = {}
        self.quarantined: list[Quarantined] = []  # by this loader, in order
        self.failed_loads = 0  # every failed attempt (a counter, like a metric)
        self.max_rows_per_load = max_rows_per_load
        self.file_rows: dict[str, int] = {}  # Parquet key -> rows, from the manifests
        self.unmatched_removals = 0  # keyless tables: removals that found no row

    def connect(self, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
        options = f"{libpq_options()} -c lock_timeout={self.lock_timeout_ms}"
        return connect(self.dsn, "warehouse", options=options, **kwargs)

    def bootstrap(self) -> None:
        with self.connect(autocommit=True) as conn:
            # CREATE ... IF NOT EXISTS is not safe against a concurrent twin (two `cdc run`s
            # starting on one warehouse: "relation already exists", SQLSTATE 42P07, seen in CI):
            # bootstraps of one database take turns; the session's end releases the lock.
            conn.execute("SELECT pg_advisory_lock(%s)", (BOOTSTRAP_LOCK,))
            targets = list(self.contracts.values())
            for statement in self.dialect.bootstrap(targets, access=False):
                conn.execute(statement.encode())
            # Tables follow their contracts (new, renamed, widened columns) before any grant
            # names a column (warehouse/evolve.py).
            evolve_local(conn, self.dialect, targets)
            if self.into_schema is None:
                for statement in self.dialect.analyst_access(targets):
                    conn.execute(statement.encode())

    def _fetch(self, key: str) -> None:
        if key not in self.manifests:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            manifest = self.manifests[key] = BatchManifest.from_json(body)
            self.file_rows.update((f.key, f.rows) for f in manifest.files)

    def add_manifests(self, keys: list[str]) -> None:
        """Manifests known to exist (reported by the consumers): no listing needed."""
        for key in keys:
            self._fetch(key)

    def _manifests(self, listing: bool = True) -> list[BatchManifest]:
        if listing:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}{MANIFEST_PREFIX}/"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    self._fetch(obj["Key"])
        return list(self.manifests.values())

    def pending(self, listing: bool = True) -> dict[str, list[tuple[str, str]]]:
        """table → [(batch id, Parquet key)] not yet applied, in shard/sequence order.
        `listing=False` uses only the manifests already known (see add_manifests)."""
        manifests = self._manifests(listing)
        ids = [m.batch_id for m in manifests]
        with self.connect() as conn:
            applied = {
                (b, t)
                for table in (LEDGER, QUARANTINE)
                for b, t in conn.execute(
                    f"SELECT batch_id, table_name FROM {table} WHERE batch_id = ANY(%s::text[])",  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                    (ids,),
                )
            }
        work: dict[str, list[tuple[str, str]]] = {}
        for m in sorted(manifests, key=lambda m: (m.shard_id, int(m.first_sequence))):
            for f in m.files:
                target = self.contracts.get(f.table)
                if target is not None and (m.batch_id, target.qualified) not in applied:
                    work.setdefault(f.table, []).append((m.batch_id, f.key))
        return work

    def load_table(self, table: str, files: list[tuple[str, str]]) -> TableLoad:
        contract = self.contracts[table]
        plan = build_load(self.dialect, contract, truncations=self.truncations)
        start = time.monotonic()
        staged = 0
        commits: list[tuple[datetime, int]] = []
        steps: dict[str, float] = {}
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            for step in plan.steps:
                began = time.monotonic()
                if step.name == COPY_STEP:
                    with cur.copy(step.sql.encode() + b" (FORMAT csv)") as copy:
                        for _, key in files:
                            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                            data = pq.read_table(io.BytesIO(body))
                            staged += data.num_rows
                            copy.write(arrow_to_csv(data))
                else:
                    if step.name == "ledger":
                        _fault_point_before_ledger()
                    if step.name == "cleanup-pairs":
                        cur.execute('SELECT count(*) FROM "pairs" WHERE "_cdc_row" IS NULL')
                        row = cur.fetchone()
                        if row and row[0]:
                            self.unmatched_removals += int(row[0])
                            log.warning(
                                "%s: %d removal(s) found no row (their rows were never loaded: "
                                "a quarantined batch?)", table, row[0],
                            )  # fmt: skip
                    if step.name == "cleanup-latest":
                        # Commit times as a histogram: bounded by transactions, not rows.
                        cur.execute(
                            "SELECT date_trunc('milliseconds', \"_cdc_commit_ts\"), count(*) "
                            'FROM "latest" WHERE "_cdc_commit_ts" IS NOT NULL GROUP BY 1'
                        )
                        commits = [(r[0], int(r[1])) for r in cur.fetchall()]
                    cur.execute(step.sql.encode())
                steps[step.name] = time.monotonic() - began
        done = datetime.now(UTC)
        load = TableLoad(
            table, len({b for b, _ in files}), staged, time.monotonic() - start, done,
            [(done - c).total_seconds() for c, n in commits for _ in range(min(n, 1000))], steps,
        )  # fmt: skip
        self.loads.append(load)
        return load

    def run_once(self, listing: bool = True, *, retry_now: bool = False) -> list[TableLoad]:
        """Load every table with pending batches, each on its own: a failing table is reported
        and retried later (after its backoff, or now with `retry_now`), never stopping the
        others. A table's backlog is loaded in parts of at most `max_rows_per_load` rows
        (see parts), each its own transaction, in order; a part that fails stops the table's
        later parts until its retry."""
        work = self.pending(listing)
        loads = []
        for table, files in sorted(work.items()):
            failing = self.failures.get(table)
            if failing and not retry_now and time.monotonic() < failing.retry_at:
                continue
            for part in self.parts(files):
                try:
                    loads.append(self.load_table(table, part))
                except Exception as e:  # classified, reported and retried: never swallowed
                    failure = classify_postgres(e)
                    if failure.outcome is Outcome.DATA:
                        loads += self._isolate(table, part, failure)
                    else:
                        self._failed(table, failure)
                    if table in self.failures:
                        break
                else:
                    self._recovered(table)
        return loads

    def parts(self, files: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        """A table's pending files in order, cut into loads of at most `max_rows_per_load`
        rows (a batch bigger than that is a load of its own; a batch is never cut).

        One transaction per backlog made a load grow with the backlog: a loader behind an
        initial load of millions of rows staged, merged and held its locks over all of them at
        once, and a failure rolled all of them back. MAX_ROWS_PER_LOAD says what a part costs.
        Loading the parts in order keeps each shard's batches in order, though the load plan
        does not need it (its late-fill step takes batches in any order)."""
        batches = [list(batch) for _, batch in itertools.groupby(files, key=itemgetter(0))]
        out: list[list[tuple[str, str]]] = []
        rows_in_part = 0
        for batch in batches:
            rows = sum(self.file_rows.get(key, 0) for _, key in batch)
            if not out or rows_in_part + rows > self.max_rows_per_load:
                out.append([])
                rows_in_part = 0
            out[-1] += batch
            rows_in_part += rows
        return out

    def _failed(self, table: str, failure: LoadFailure) -> None:
        self.failed_loads += 1
        attempts = self.failures[table].attempts + 1 if table in self.failures else 1
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempts - 1))
        self.failures[table] = TableFailure(table, failure, attempts, time.monotonic() + delay)
        log.error(
            "load of %s failed; other tables go on; retry in %.1f s",
            self.failures[table].describe(), delay,
        )  # fmt: skip

    def _recovered(self, table: str) -> None:
        if self.failures.pop(table, None) is not None:
            log.warning("load of %s succeeded again", table)

    def _isolate(
        self, table: str, files: list[tuple[str, str]], failure: LoadFailure
    ) -> list[TableLoad]:
        """A data failure: find the batches it comes from by loading them one at a time (in
        order), quarantine those, and apply the rest."""
        batches: dict[str, list[tuple[str, str]]] = {}
        for batch, key in files:
            batches.setdefault(batch, []).append((batch, key))
        if len(batches) == 1:
            self._quarantine(table, next(iter(batches)), files, failure)
            self._recovered(table)
            return []
        loads = []
        for batch, batch_files in batches.items():
            try:
                loads.append(self.load_table(table, batch_files))
            except Exception as e:  # classified like the whole load's failure
                again = classify_postgres(e)
                if again.outcome is not Outcome.DATA:
                    self._failed(table, again)  # the rest waits for the retry
                    return loads
                self._quarantine(table, batch, batch_files, again)
        self._recovered(table)
        return loads

    def _quarantine(
        self, table: str, batch: str, files: list[tuple[str, str]], failure: LoadFailure
    ) -> None:
        target = self.contracts[table].qualified
        keys = tuple(k for _, k in files)
        now = datetime.now(UTC)
        # The record on S3 first: if the row below is not written, the batch is tried again.
        self.s3.put_object(
            Bucket=self.bucket,
            Key=f"{QUARANTINE_PREFIX}/{target}/{batch}.json",
            Body=orjson.dumps(
                {"table": target, "batch_id": batch, "outcome": failure.outcome.value,
                 "sqlstate": failure.sqlstate, "reason": failure.reason,
                 "files": [{"key": k, "bytes": self._size(k)} for k in keys],
                 "quarantined_at": now.isoformat(),
                 "retry": "fix the cause, then `cdc load --retry-quarantined`"}
            ),
            ContentType="application/json",
        )  # fmt: skip
        with self.connect() as conn:
            conn.execute(
                f"INSERT INTO {QUARANTINE} (batch_id, table_name, sqlstate, reason, "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                "quarantined_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (batch, target, failure.sqlstate, failure.reason, now),
            )
        self.failed_loads += 1
        self.quarantined.append(Quarantined(target, batch, failure, keys))
        log.error(
            "quarantined batch %s of %s (%s%s): %s; later batches go on; fix the cause, then "
            "`cdc load --retry-quarantined`",
            batch, target, failure.outcome.value,
            f" SQLSTATE {failure.sqlstate}" if failure.sqlstate else "", failure.reason,
        )  # fmt: skip

    def quarantine(self) -> list[tuple[str, str, str | None, str]]:
        """(table, batch id, SQLSTATE, reason) of every quarantined batch."""
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT table_name, batch_id, sqlstate, reason FROM {QUARANTINE} "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                "ORDER BY quarantined_at, batch_id"
            ).fetchall()
        return [(str(t), str(b), s, str(r)) for t, b, s, r in rows]

    def _size(self, key: str) -> int:
        return int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def release_quarantined(self, tables: list[str] | None = None) -> int:
        """Make quarantined batches pending again (after the cause was fixed); returns how
        many. Their S3 records go too (the loader logged them when they were made)."""
        released = [
            (t, b) for t, b, _, _ in self.quarantine() if not tables or t in tables
        ]  # fmt: skip
        with self.connect() as conn, conn.transaction():
            for table, batch in released:
                conn.execute(
                    f"DELETE FROM {QUARANTINE} WHERE table_name = %s AND batch_id = %s",  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                    (table, batch),
                )
                self.s3.delete_object(
                    Bucket=self.bucket, Key=f"{QUARANTINE_PREFIX}/{table}/{batch}.json"
                )
        return len(released)

    def row_counts(self) -> dict[str, int]:
        out = {}
        with self.connect() as conn:
            for name, c in self.contracts.items():
                sql = f"SELECT count(*) FROM {self.dialect.table(c)} WHERE NOT {q('_cdc_deleted')}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                row = conn.execute(sql.encode()).fetchone()
                out[name] = int(row[0]) if row else 0
        return out


def _fault_point_before_ledger() -> None:
    """Test hook: CDC_FAULT_EXIT_DURING_LOAD=<marker file> makes the first loader that gets
    here die like kill -9, after its MERGE and before its ledger insert and commit."""
    marker = os.environ.get("CDC_FAULT_EXIT_DURING_LOAD")
    if marker and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os._exit(137)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return float(pc.quantile(pa.array(values), q=p).to_pylist()[0])
