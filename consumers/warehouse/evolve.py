"""Warehouse tables follow their contracts: new columns, renames and lossless widenings.

Pure builders (`evolution`) over a description of the warehouse table as it is (column name →
type, NOT NULL), and the local executor (`evolve_local`). The bootstrap runs them after
CREATE TABLE IF NOT EXISTS and before the grants, so a column the contract gained is in the
table before anything grants on it. What is done (README, "Schema changes"):

- a contract column the table lacks: added, always nullable (rows loaded before it have no
  value for it); with `renamed_from` naming a column the table has: that column is renamed;
- a column whose contract type is a lossless widening of the table's (contracts/drift.py
  `widening`): PostgreSQL alters the type in place (a timestamp read as UTC for timestamptz);
  Redshift alters VARCHAR lengths in place ("ALTER COLUMN column_name TYPE updated_varchar_
  data_type_size", ALTER TABLE in the Redshift Database Developer Guide, which allows it for
  VARCHAR only) and does any other widening by add-copy-swap (add a new column, copy, drop the
  old one, rename the new one), in one transaction;
- a table column the contract no longer has (dropped at the source): kept, with its history,
  and made nullable, since no load writes it any more;
- anything else (a narrower or unrelated type): left as it is and reported; the loads then
  fail loudly and quarantine, never truncate.
Key columns widen in the tombstone table too. PostgreSQL refuses to alter the type of a column
a view reads (SQLSTATE 0A000), and CREATE OR REPLACE VIEW cannot drop, rename or retype a view
column: the local executor drops the views over a table whose columns change first; the
bootstrap recreates the project's (analyst and analytics views) right after. Views of your own
over such a table must be recreated (the log names them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from consumers.contracts.drift import widening
from consumers.contracts.model import TableContract
from consumers.contracts.names import fold
from consumers.contracts.types import canonical_sql_type
from consumers.warehouse.dialect import (
    ANALYST_SCHEMA,
    PostgresDialect,
    RedshiftDialect,
    analyst_columns,
    q,
)

log = logging.getLogger("cdc.warehouse.evolve")

SWAP_SUFFIX = "__cdc_widened"


@dataclass(frozen=True)
class WarehouseColumn:
    type: str
    not_null: bool


@dataclass
class Evolution:
    statements: list[str]
    # Columns (the table's names before the change) whose PostgreSQL views must go first:
    # ALTER COLUMN TYPE refuses a column a view reads, and CREATE OR REPLACE VIEW cannot drop,
    # rename or retype a view column.
    touched: list[str]
    notes: list[str]  # what was left alone, and why


def _widen(dialect: PostgresDialect, table: str, column: str, old: str, new: str) -> list[str]:
    col = q(column)
    if not isinstance(dialect, RedshiftDialect):
        using = (
            f" USING {col} AT TIME ZONE 'UTC'" if canonical_sql_type(new) == "timestamptz" else ""
        )
        return [f"ALTER TABLE {table} ALTER COLUMN {col} TYPE {new}{using}"]
    if canonical_sql_type(old).startswith("varchar(") and canonical_sql_type(new).startswith(
        "varchar("
    ):
        return [f"ALTER TABLE {table} ALTER COLUMN {col} TYPE {new}"]
    tmp = q(column + SWAP_SUFFIX)
    convert = f"CONVERT_TIMEZONE('UTC', {col})" if canonical_sql_type(new) == "timestamptz" else col
    return [
        f"ALTER TABLE {table} ADD COLUMN {tmp} {new}",
        f"UPDATE {table} SET {tmp} = {convert}",  # nosec B608  # identifiers from validated contracts, quoted by q()
        f"ALTER TABLE {table} DROP COLUMN {col}",
        f"ALTER TABLE {table} RENAME COLUMN {tmp} TO {col}",
    ]


def evolution(
    dialect: PostgresDialect,
    contract: TableContract,
    table: dict[str, WarehouseColumn],
    tombstones: dict[str, WarehouseColumn] | None = None,
) -> Evolution:
    """Statements that make the warehouse table `table` (and its tombstone table) hold what
    `contract` says, in order; empty when it already does."""
    target = dialect.table(contract)
    out: list[str] = []
    notes: list[str] = []
    touched: list[str] = []
    wanted = {col.warehouse_name: col for col in contract.columns}
    for name, col in wanted.items():
        new_type = dialect.column_type(col)
        have = table.get(name)
        if have is None:
            old = fold(col.renamed_from) if col.renamed_from else ""
            if old and old in table and old not in wanted:
                out.append(f"ALTER TABLE {target} RENAME COLUMN {q(old)} TO {q(name)}")
                touched.append(old)
                have = table[old]
            else:
                out.append(f"ALTER TABLE {target} ADD COLUMN {q(name)} {new_type}")
                continue
        if canonical_sql_type(have.type) == canonical_sql_type(new_type):
            continue
        if not widening(have.type, new_type):
            notes.append(
                f"{contract.qualified}.{col.name}: the warehouse column is {have.type}, the "
                f"contract says {new_type}: not a lossless widening, left as it is"
            )
            continue
        out += _widen(dialect, target, name, have.type, new_type)
        touched.append(name if name in table else fold(col.renamed_from))
        if tombstones and name in tombstones and col.name in contract.primary_key:
            out += _widen(dialect, dialect.tombstones(contract), name, have.type, new_type)
    renamed = {fold(c.renamed_from) for c in contract.columns if c.renamed_from}
    gone = [n for n in table if not n.startswith("_cdc_") and n not in wanted.keys() | renamed]
    for name in gone:
        if not table[name].not_null:
            continue
        out.append(f"ALTER TABLE {target} ALTER COLUMN {q(name)} DROP NOT NULL")
    return Evolution(out, list(dict.fromkeys([*touched, *gone])), notes)


_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
"""
_VIEWS = """
SELECT DISTINCT v.oid::regclass::text FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.refobjid = to_regclass(%s) AND v.oid <> d.refobjid AND v.relkind = 'v'
  AND a.attname = ANY(%s)
"""


def _columns(cur: Any, table: str) -> dict[str, WarehouseColumn]:
    cur.execute(_COLUMNS, (table,))
    return {str(n): WarehouseColumn(str(t), bool(nn)) for n, t, nn in cur.fetchall()}


def evolve_local(conn: Any, dialect: PostgresDialect, contracts: list[TableContract]) -> list[str]:
    """Evolve every table of `contracts` in the local warehouse, in one transaction (the
    caller's connection, autocommit). Returns the statements run."""
    ran: list[str] = []
    with conn.transaction(), conn.cursor() as cur:
        for c in contracts:
            table = _columns(cur, dialect.table(c))
            if not table:
                continue  # not created (yet): CREATE TABLE has the contract's columns
            tombstones = _columns(cur, dialect.tombstones(c)) if c.delete_mode == "hard" else {}
            plan = evolution(dialect, c, table, tombstones)
            for note in plan.notes:
                log.warning("%s", note)
            if plan.touched:
                cur.execute(_VIEWS, (dialect.table(c), plan.touched))
                for (view,) in cur.fetchall():
                    log.warning(
                        "dropping view %s over %s: columns it reads change (the bootstrap "
                        "recreates the analyst and analytics views; recreate any of your own)",
                        view, c.qualified,
                    )  # fmt: skip
                    cur.execute(f"DROP VIEW IF EXISTS {view} CASCADE".encode())
            for statement in plan.statements:
                log.warning("evolving %s: %s", c.qualified, statement)
                cur.execute(statement.encode())
                ran.append(statement)
            _drop_reordered_analyst_view(cur, dialect, c)
    return ran


def _drop_reordered_analyst_view(cur: Any, dialect: PostgresDialect, c: TableContract) -> None:
    """A column classified not PII later (a pending column, issue 18) joins the analyst view
    where it sits in the table, but CREATE OR REPLACE VIEW can only append columns (PostgreSQL
    docs, CREATE VIEW): unless the view's columns are a prefix of the wanted ones, the view is
    dropped here and the bootstrap's grants recreate it."""
    view = f"{q(ANALYST_SCHEMA)}.{q(c.warehouse_table)}"
    have = [name for name, *_ in _columns_ordered(cur, view)]
    want = analyst_columns(c)
    if have and have != want[: len(have)]:
        log.warning("recreating analyst view %s: its columns change", view)
        cur.execute(f"DROP VIEW IF EXISTS {view}".encode())


def _columns_ordered(cur: Any, relation: str) -> list[tuple[Any, ...]]:
    cur.execute(_COLUMNS + " ORDER BY a.attnum", (relation,))
    return list(cur.fetchall())


# The table's columns as information_schema.columns lists them: PostgreSQL and Redshift both
# have it (Redshift lists its local tables there; Redshift Database Developer Guide,
# "information_schema"), so one query serves a connection to either (warehouse/target.py).
_INFO_COLUMNS = (
    "SELECT column_name, data_type, character_maximum_length, numeric_precision, "
    "numeric_scale, is_nullable FROM information_schema.columns "
    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position"
)


def info_type(data_type: str, length: Any, precision: Any, scale: Any) -> str:
    """information_schema's description of a column type, spelled as a type the contracts'
    canonical_sql_type reads: 'character varying' + 40 → 'character varying(40)'."""
    if length is not None and data_type in ("character varying", "character"):
        return f"{data_type}({int(length)})"
    if data_type == "numeric" and precision is not None:
        return f"numeric({int(precision)},{int(scale or 0)})"
    return data_type


def _read(db: Any, schema: str, table: str) -> dict[str, WarehouseColumn]:
    return {
        str(name): WarehouseColumn(info_type(str(t), length, p, s), str(nullable) == "NO")
        for name, t, length, p, s, nullable in db.rows(_INFO_COLUMNS, (schema, table))
    }


def evolve_remote(db: Any, dialect: PostgresDialect, contracts: list[TableContract]) -> list[str]:
    """The statements that make the tables behind `db` (a warehouse/target.py Database: a
    redshift-connector or psycopg connection) follow `contracts`, read through
    information_schema, for `cdc warehouse bootstrap --warehouse redshift://...`. The project's
    views over a table whose columns change go first (a view blocks DROP COLUMN and retyping;
    the bootstrap's grants recreate them right after); views of your own must be dropped and
    recreated by you (the statement that fails names them)."""
    from consumers.warehouse.analytics import ANALYTICS, views

    out: list[str] = []
    for c in contracts:
        table = _read(db, c.warehouse_schema, c.warehouse_table)
        if not table:
            continue
        tombstones: dict[str, WarehouseColumn] = {}
        if c.delete_mode == "hard":
            tombstones = _read(db, "cdc", dialect.derived(c, "__deleted"))
        plan = evolution(dialect, c, table, tombstones)
        for note in plan.notes:
            log.warning("%s", note)
        if plan.touched or _analyst_view_changes(db, c):
            out.append(f"DROP VIEW IF EXISTS {q(ANALYST_SCHEMA)}.{q(c.warehouse_table)}")
        if plan.touched:
            for v in views(dialect):
                if dialect.table(c) in v.source:
                    out += [
                        f"DROP VIEW IF EXISTS {q(s)}.{q(v.name)}"
                        for s in (ANALYTICS, ANALYST_SCHEMA)
                    ]
        out += plan.statements
    return out


def _analyst_view_changes(db: Any, c: TableContract) -> bool:
    """CREATE OR REPLACE VIEW can only append columns (PostgreSQL; Redshift, which follows
    PostgreSQL 8, only replaces a view by one with the same columns): a view whose columns
    differ from the wanted ones is dropped and recreated."""
    have = list(_read(db, ANALYST_SCHEMA, c.warehouse_table))
    return bool(have) and have != analyst_columns(c)
