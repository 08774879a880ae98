"""The local loader: the same load plans as Redshift, against the PostgreSQL `warehouse`.

The plan's COPY step reads the batches' Parquet objects from S3 (pyarrow) and streams them into
`COPY stage FROM STDIN (FORMAT csv)`; every other step is the plan's SQL as is, all in one
transaction. Pending work = manifest files whose (batch, table) is not in the ledger.
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from consumers.capture.render import libpq_options
from consumers.contracts.model import TableContract
from consumers.db import connect
from consumers.sink.writer import MANIFEST_PREFIX, BatchManifest
from consumers.warehouse.dialect import LEDGER, PostgresDialect, q
from consumers.warehouse.plan import COPY_STEP, build_load


@dataclass
class TableLoad:
    table: str
    batches: int
    staged_rows: int
    seconds: float
    loaded_at: datetime
    freshness_s: list[float] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)


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
        self.manifests: dict[str, BatchManifest] = {}  # immutable once written: cached
        self.loads: list[TableLoad] = []

    def connect(self, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
        return connect(self.dsn, "warehouse", options=libpq_options(), **kwargs)

    def bootstrap(self) -> None:
        with self.connect(autocommit=True) as conn:
            targets = list(self.contracts.values())
            for statement in self.dialect.bootstrap(targets, access=self.into_schema is None):
                conn.execute(statement.encode())

    def _fetch(self, key: str) -> None:
        if key not in self.manifests:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            self.manifests[key] = BatchManifest.from_json(body)

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
        with self.connect() as conn:
            applied = {
                (b, t)
                for b, t in conn.execute(
                    f"SELECT batch_id, table_name FROM {LEDGER} WHERE batch_id = ANY(%s::text[])",  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                    ([m.batch_id for m in manifests],),
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
        plan = build_load(self.dialect, contract)
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

    def run_once(self, listing: bool = True) -> list[TableLoad]:
        work = self.pending(listing)
        return [self.load_table(t, files) for t, files in sorted(work.items())]

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
