"""Warehouse evolution builders: what each contract change becomes, in both dialects; every
Redshift statement parses with sqlglot's redshift dialect."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlglot
from sqlglot.errors import ErrorLevel

from consumers.contracts.model import parse_contract
from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect
from consumers.warehouse.evolve import WarehouseColumn, evolution
from tests.unit.contracts.test_drift import DOC

W = WarehouseColumn


def evolved():
    doc = orjson.loads(orjson.dumps(DOC))
    fields = doc["fields"]
    fields[1]["sql_type"] = "varchar(100)"
    fields[2]["type"], fields[2]["sql_type"] = ["null", "long"], "bigint"
    fields[3]["name"], fields[3]["renamed_from"] = "seen_at", "seen"
    fields[3]["sql_type"] = "timestamptz"
    fields[3]["type"] = ["null", {"type": "long", "logicalType": "timestamp-micros"}]
    fields.append({"name": "note", "type": ["null", "string"], "default": None,
                   "sql_type": "text", "classification": "pending"})  # fmt: skip
    return parse_contract(doc, Path("x.avsc"))


def test_postgres_evolution():
    table = {
        "item_id": W("bigint", True), "name": W("character varying(20)", True),
        "qty": W("integer", False), "price": W("numeric(9,2)", True),
        "seen": W("timestamp without time zone", False), "_cdc_version": W("numeric(38,0)", True),
    }  # fmt: skip
    plan = evolution(PostgresDialect(), evolved(), table)
    t = '"shop"."items"'
    assert plan.statements == [
        f'ALTER TABLE {t} ALTER COLUMN "name" TYPE varchar(100)',
        f'ALTER TABLE {t} ALTER COLUMN "qty" TYPE bigint',
        f'ALTER TABLE {t} RENAME COLUMN "seen" TO "seen_at"',
        f'ALTER TABLE {t} ALTER COLUMN "seen_at" TYPE timestamptz USING "seen_at" AT TIME ZONE '
        "'UTC'",
        f'ALTER TABLE {t} ADD COLUMN "note" text',
        f'ALTER TABLE {t} ALTER COLUMN "price" DROP NOT NULL',
    ]
    assert plan.touched == ["name", "qty", "seen", "price"] and plan.notes == []


def test_redshift_evolution_alters_varchar_in_place_and_swaps_the_rest():
    dialect = RedshiftDialect()
    table = {
        "item_id": W("bigint", True), "name": W("character varying(80)", True),
        "qty": W("integer", False), "seen": W("timestamp without time zone", False),
    }  # fmt: skip
    plan = evolution(dialect, evolved(), table)
    t = '"shop"."items"'
    assert plan.statements == [
        f'ALTER TABLE {t} ALTER COLUMN "name" TYPE varchar(400)',
        f'ALTER TABLE {t} ADD COLUMN "qty__cdc_widened" bigint',
        f'UPDATE {t} SET "qty__cdc_widened" = "qty"',
        f'ALTER TABLE {t} DROP COLUMN "qty"',
        f'ALTER TABLE {t} RENAME COLUMN "qty__cdc_widened" TO "qty"',
        f'ALTER TABLE {t} RENAME COLUMN "seen" TO "seen_at"',
        f'ALTER TABLE {t} ADD COLUMN "seen_at__cdc_widened" timestamptz',
        f'UPDATE {t} SET "seen_at__cdc_widened" = CONVERT_TIMEZONE(\'UTC\', "seen_at")',
        f'ALTER TABLE {t} DROP COLUMN "seen_at"',
        f'ALTER TABLE {t} RENAME COLUMN "seen_at__cdc_widened" TO "seen_at"',
        f'ALTER TABLE {t} ADD COLUMN "note" varchar(65535)',
    ]
    for statement in plan.statements:
        sqlglot.parse_one(statement, read="redshift", error_level=ErrorLevel.RAISE)


def test_an_up_to_date_table_needs_nothing_and_narrowing_is_left_alone():
    c = evolved()
    d = PostgresDialect()
    table = {col.warehouse_name: W(d.column_type(col), not col.nullable) for col in c.columns}
    assert evolution(d, c, table).statements == []
    table["name"] = W("character varying(200)", True)  # wider than the contract: kept
    plan = evolution(d, c, table)
    assert plan.statements == [] and "not a lossless widening" in plan.notes[0]


class _Catalog:
    """A Redshift connection as evolve_remote sees it (warehouse/target.py's Database): the
    rows information_schema.columns returns, per (schema, table)."""

    def __init__(self, tables):
        self.tables, self.asked = tables, []

    def rows(self, sql, params=()):
        assert "information_schema.columns" in sql
        sqlglot.parse_one(sql.replace("%s", "'x'"), read="redshift", error_level=ErrorLevel.RAISE)
        self.asked.append(tuple(params))
        return self.tables.get(tuple(params), [])


def test_redshift_bootstrap_reads_the_table_and_evolves_it():
    """`cdc warehouse bootstrap --warehouse redshift://...`: the table as Redshift's
    information_schema describes it becomes the same plan as the builder's, behind a drop of the
    analyst view (a view blocks DROP COLUMN; the bootstrap recreates it)."""
    from consumers.warehouse.evolve import evolve_remote

    catalog = _Catalog({
        ("shop", "items"): [
            ("item_id", "bigint", None, 64, 0, "NO"),
            ("name", "character varying", 80, None, None, "NO"),
            ("qty", "integer", None, 32, 0, "YES"),
            ("seen", "timestamp without time zone", None, None, None, "YES"),
        ],
        ("analyst", "items"): [("item_id", "bigint", None, 64, 0, "YES")],
    })  # fmt: skip
    d = RedshiftDialect()
    c = evolved()
    table = {
        "item_id": W("bigint", True), "name": W("character varying(80)", True),
        "qty": W("integer", False), "seen": W("timestamp without time zone", False),
    }  # fmt: skip
    out = evolve_remote(catalog, d, [c])
    assert out == ['DROP VIEW IF EXISTS "analyst"."items"', *evolution(d, c, table).statements]
    for statement in out:
        sqlglot.parse_one(statement, read="redshift", error_level=ErrorLevel.RAISE)

    # An up-to-date table whose analyst view already has the wanted columns: nothing at all.
    def described(col):  # as information_schema.columns describes the contract's type
        t = d.column_type(col)
        if t.startswith("varchar("):
            return ("character varying", int(t[8:-1]), None, None)
        return (t, None, None, None)

    current = [(col.warehouse_name, *described(col), "YES") for col in c.columns]
    view = [(n, "x", None, None, None, "YES") for n in ("item_id", "name", "qty", "seen_at")]
    same = _Catalog({("shop", "items"): current, ("analyst", "items"): view})
    assert evolve_remote(same, d, [c]) == []
    # No table yet (CREATE TABLE IF NOT EXISTS made it with the contract's columns): nothing.
    assert evolve_remote(_Catalog({}), d, [c]) == []


def test_information_schema_types_read_as_the_contracts_spell_them():
    from consumers.contracts.types import canonical_sql_type
    from consumers.warehouse.evolve import info_type

    assert canonical_sql_type(info_type("character varying", 40, None, None)) == "varchar(40)"
    assert canonical_sql_type(info_type("numeric", None, 12, 2)) == "numeric(12,2)"
    assert canonical_sql_type(info_type("numeric", None, 38, None)) == "numeric(38,0)"
    assert canonical_sql_type(info_type("integer", None, 32, 0)) == "integer"
    assert canonical_sql_type(info_type("timestamp with time zone", None, None, None)) == (
        "timestamptz"
    )
