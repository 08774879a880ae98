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
