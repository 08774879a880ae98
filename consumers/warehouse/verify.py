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

A Redshift warehouse (`--warehouse redshift://...`, warehouse/target.py) is read through
redshift-connector with Redshift's SQL: no concat_ws or E'' strings there, so both sides hash
md5 over each column's md5 (the keyless tables' row hash, dialect.row_hash), and each
Redshift column's text is the dialect's value_text (SUPER as JSON_SERIALIZE, VARBYTE as hex,
BOOLEAN by CASE: Redshift casts none of them to VARCHAR). The source renders bytea as the same
hex. Types whose Redshift text may still differ from PostgreSQL's (README: "Verify against
Redshift") show up as `different` rows, never as equal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from consumers.contracts.model import Column, TableContract
from consumers.contracts.types import Kind
from consumers.errors import CdcError
from consumers.warehouse.dialect import PostgresDialect, q
from consumers.warehouse.target import (
    Database,
    UndefinedTable,
    WarehouseTarget,
    connect,
    parse_warehouse,
)

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


@dataclass(frozen=True)
class Rendering:
    """How one side of a comparison spells keys and row hashes, for a given warehouse."""

    warehouse_dialect: PostgresDialect
    warehouse: bool  # this side is the warehouse (else the source)

    @property
    def redshift(self) -> bool:
        return self.warehouse_dialect.name == "redshift"

    def key(self, name: str) -> str:
        if self.redshift and self.warehouse:
            return f"CAST({q(name)} AS varchar(65535))"
        return f"{q(name)}::text"

    def column(self, col: Column) -> str:
        if not self.redshift:
            return _text(col, self.warehouse)
        if self.warehouse:
            return self.warehouse_dialect.value_text(col, q(col.warehouse_name))
        if col.kind is Kind.BYTEA:  # FROM_VARBYTE(x, 'hex'): lower-case hex, no \\x
            return f"encode({q(col.name)}, 'hex')"
        return _text(col, False)

    def row_hash(self, c: TableContract) -> str:
        if self.redshift:  # dialect.row_hash's formula, on both sides
            parts = " || ".join(f"COALESCE(MD5({self.column(col)}), 'n')" for col in c.columns)
            return f"MD5({parts})"
        parts = ", ".join(f"coalesce({self.column(col)}, '{NULL_MARK}')" for col in c.columns)
        return f"md5(concat_ws(E'\\x1f', {parts}))"


def hashes_query(r: Rendering, c: TableContract, table: str, where: str) -> str:
    key, _ = _names(c, r.warehouse)
    keys = ", ".join(r.key(k) for k in key)
    return f"SELECT {keys}, {r.row_hash(c)} FROM {table} {where}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters


def multiset_query(r: Rendering, c: TableContract, table: str, where: str) -> str:
    return f"SELECT {r.row_hash(c)}, count(*) FROM {table} {where} GROUP BY 1"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters


def _hashes(db: Database, sql: str) -> dict[tuple[str, ...], str]:
    return {tuple(str(v) for v in r[:-1]): str(r[-1]) for r in db.rows(sql)}


def _multiset(db: Database, sql: str) -> Counter[str]:
    return Counter({str(h): int(n) for h, n in db.rows(sql)})


def _multiset_diff(c: TableContract, left: Counter[str], right: Counter[str]) -> TableDiff:
    d = TableDiff(c.qualified, left.total(), right.total())
    d.missing = sorted((h, f"x{n}") for h, n in (left - right).items())
    d.extra = sorted((h, f"x{n}") for h, n in (right - left).items())
    return d


def compare(
    src: Database, wh: Database, contracts: list[TableContract], schema: str | None = None
) -> list[TableDiff]:
    """Every contract table, source vs warehouse, over two open connections."""
    source_side = Rendering(wh.dialect, warehouse=False)
    warehouse_side = Rendering(wh.dialect, warehouse=True)
    diffs = []
    for c in contracts:
        source_table = f"{q(c.schema)}.{q(c.name)}"
        wh_schema = schema or c.warehouse_schema
        target = f"{q(wh_schema)}.{q(c.warehouse_table)}"
        live = 'WHERE NOT "_cdc_deleted"'
        if c.keyless:
            left = _multiset(src, multiset_query(source_side, c, source_table, ""))
            try:
                right = _multiset(wh, multiset_query(warehouse_side, c, target, live))
            except UndefinedTable:
                raise _missing(wh_schema, c) from None
            diffs.append(_multiset_diff(c, left, right))
            continue
        hl = _hashes(src, hashes_query(source_side, c, source_table, ""))
        try:
            hr = _hashes(wh, hashes_query(warehouse_side, c, target, live))
        except UndefinedTable:
            raise _missing(wh_schema, c) from None
        d = TableDiff(c.qualified, len(hl), len(hr))
        d.missing = sorted(k for k in hl.keys() - hr.keys())
        d.extra = sorted(k for k in hr.keys() - hl.keys())
        d.different = sorted(k for k in hl.keys() & hr.keys() if hl[k] != hr[k])
        diffs.append(d)
    return diffs


def _missing(schema: str, c: TableContract) -> CdcError:
    return CdcError(
        f"warehouse table {schema}.{c.warehouse_table} does not exist: load it "
        "first (`cdc load`, or `cdc warehouse bootstrap`)"
    )


@contextmanager
def source_database(source_dsn: str) -> Iterator[Database]:
    """The source, with the capture's session settings (UTC, ISO dates, exact floats), so
    values render as the warehouse's do."""
    with connect(WarehouseTarget("postgres", "source", dsn=source_dsn), "source") as db:
        yield db


def verify(
    source_dsn: str,
    warehouse: str | WarehouseTarget,
    contracts: list[TableContract],
    schema: str | None = None,
) -> list[TableDiff]:
    """`warehouse`: a PostgreSQL DSN or a `--warehouse` URL (warehouse/target.py)."""
    target = parse_warehouse(warehouse) if isinstance(warehouse, str) else warehouse
    with connect(target) as wh, source_database(source_dsn) as src:
        return compare(src, wh, contracts, schema)
