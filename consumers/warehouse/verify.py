"""`cdc verify`: source vs warehouse, every contract table: row counts and a per-row hash over
all columns (soft-deleted warehouse rows excluded). The oracle of every end-to-end test.

Both sides render each column with its text output under the same session settings (UTC,
ISO dates, ISO 8601 intervals, hex bytea, shortest floats), joined with a unit separator; NULL
is a marker no value can spell. The warehouse keeps the source's types locally (enums as their
label), so equal text means equal values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from consumers.contracts.model import TableContract
from consumers.db import source_and_warehouse
from consumers.errors import CdcError
from consumers.warehouse.dialect import q

NULL_MARK = "\\N\x1e"


@dataclass
class TableDiff:
    table: str
    source_rows: int
    warehouse_rows: int
    missing: list[tuple[str, ...]] = field(default_factory=list)  # in source, not warehouse
    extra: list[tuple[str, ...]] = field(default_factory=list)  # in warehouse, not source
    different: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)


def _hashes(
    conn: psycopg.Connection[tuple[Any, ...]], c: TableContract, table: str, where: str
) -> dict[tuple[str, ...], str]:
    keys = ", ".join(f"{q(k)}::text" for k in c.primary_key)
    parts = ", ".join(f"coalesce({q(col.name)}::text, '{NULL_MARK}')" for col in c.columns)
    sql = f"SELECT {keys}, md5(concat_ws(E'\\x1f', {parts})) FROM {table} {where}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
    return {tuple(r[:-1]): r[-1] for r in conn.execute(sql.encode())}


def verify(
    source_dsn: str,
    warehouse_dsn: str,
    contracts: list[TableContract],
    schema: str | None = None,
) -> list[TableDiff]:
    diffs = []
    with source_and_warehouse(source_dsn, warehouse_dsn) as (src, wh):
        for c in contracts:
            source_table = f"{q(c.schema)}.{q(c.name)}"
            target = f"{q(schema or c.schema)}.{q(c.name)}"
            left = _hashes(src, c, source_table, "")
            try:
                right = _hashes(wh, c, target, 'WHERE NOT "_cdc_deleted"')
            except psycopg.errors.UndefinedTable:
                raise CdcError(
                    f"warehouse table {schema or c.schema}.{c.name} does not exist: load it "
                    "first (`cdc load`, or `cdc warehouse bootstrap`)"
                ) from None
            d = TableDiff(c.qualified, len(left), len(right))
            d.missing = sorted(k for k in left.keys() - right.keys())
            d.extra = sorted(k for k in right.keys() - left.keys())
            d.different = sorted(k for k in left.keys() & right.keys() if left[k] != right[k])
            diffs.append(d)
    return diffs
