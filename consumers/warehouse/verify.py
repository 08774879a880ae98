"""`cdc verify`: source vs warehouse, every contract table: row counts and a per-row hash over
all columns (soft-deleted warehouse rows excluded). The oracle of every end-to-end test.

Both sides render each column with its text output under the same session settings (UTC,
ISO dates, ISO 8601 intervals, hex bytea, shortest floats), joined with a unit separator; NULL
is a marker no value can spell. The warehouse keeps the source's types locally (enums as their
label), so equal text means equal values.

Each side is read by its own names: the source's as they are, the warehouse's folded
(consumers/contracts/names.py), column by column in contract order, so the right columns are
compared whatever their case.

A table without a primary key is a multiset: its rows are compared as (row hash, how many
times it occurs); a difference is reported as the hash with the count on each side.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg

from consumers.contracts.model import Column, TableContract
from consumers.contracts.types import Kind
from consumers.db import source_and_warehouse
from consumers.errors import CdcError
from consumers.warehouse.dialect import q

NULL_MARK = "\\N\x1e"


def _text(col: Column, warehouse: bool) -> str:
    """The column's text on one side, by that side's name: the warehouse keeps an hstore as
    jsonb, so the source's map is compared as hstore_to_jsonb (the hstore extension's own
    conversion)."""
    if not warehouse and col.kind is Kind.HSTORE:
        return f"hstore_to_jsonb({q(col.name)})::text"
    return f"{q(col.warehouse_name if warehouse else col.name)}::text"


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


def _names(c: TableContract, warehouse: bool) -> tuple[list[str], list[str]]:
    """(key columns, all columns) as one side names them."""
    if warehouse:
        return list(c.warehouse_key), [col.warehouse_name for col in c.columns]
    return list(c.primary_key), [col.name for col in c.columns]


def _hashes(
    conn: psycopg.Connection[tuple[Any, ...]],
    c: TableContract,
    table: str,
    where: str,
    warehouse: bool,
) -> dict[tuple[str, ...], str]:
    key, _ = _names(c, warehouse)
    keys = ", ".join(f"{q(k)}::text" for k in key)
    parts = ", ".join(f"coalesce({_text(col, warehouse)}, '{NULL_MARK}')" for col in c.columns)
    sql = f"SELECT {keys}, md5(concat_ws(E'\\x1f', {parts})) FROM {table} {where}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
    return {tuple(r[:-1]): r[-1] for r in conn.execute(sql.encode())}


def _multiset(
    conn: psycopg.Connection[tuple[Any, ...]],
    c: TableContract,
    table: str,
    where: str,
    warehouse: bool,
) -> Counter[str]:
    parts = ", ".join(f"coalesce({_text(col, warehouse)}, '{NULL_MARK}')" for col in c.columns)
    sql = f"SELECT md5(concat_ws(E'\\x1f', {parts})), count(*) FROM {table} {where} GROUP BY 1"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
    return Counter({str(h): int(n) for h, n in conn.execute(sql.encode())})


def _multiset_diff(c: TableContract, left: Counter[str], right: Counter[str]) -> TableDiff:
    d = TableDiff(c.qualified, left.total(), right.total())
    d.missing = sorted((h, f"x{n}") for h, n in (left - right).items())
    d.extra = sorted((h, f"x{n}") for h, n in (right - left).items())
    return d


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
            wh_schema = schema or c.warehouse_schema
            target = f"{q(wh_schema)}.{q(c.warehouse_table)}"
            live = 'WHERE NOT "_cdc_deleted"'
            try:
                if c.keyless:
                    diffs.append(
                        _multiset_diff(
                            c,
                            _multiset(src, c, source_table, "", False),
                            _multiset(wh, c, target, live, True),
                        )
                    )
                    continue
                left = _hashes(src, c, source_table, "", False)
                right = _hashes(wh, c, target, live, True)
            except psycopg.errors.UndefinedTable:
                raise CdcError(
                    f"warehouse table {wh_schema}.{c.warehouse_table} does not exist: load it "
                    "first (`cdc load`, or `cdc warehouse bootstrap`)"
                ) from None
            d = TableDiff(c.qualified, len(left), len(right))
            d.missing = sorted(k for k in left.keys() - right.keys())
            d.extra = sorted(k for k in right.keys() - left.keys())
            d.different = sorted(k for k in left.keys() & right.keys() if left[k] != right[k])
            diffs.append(d)
    return diffs
