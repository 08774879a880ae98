"""`cdc contracts import` against hand-made databases."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from consumers.contracts.model import load_contracts
from consumers.contracts.types import Kind
from consumers.demo.load import create_tables

pytestmark = pytest.mark.integration


def cdc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers", *args],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip


def test_import_of_a_hand_made_database(source_dsn, cli_env, tmp_path):
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("CREATE TYPE colour AS ENUM ('red', 'green')")
        conn.execute(
            "CREATE TABLE orders (order_id bigint, line smallint, note character varying(20), "
            "code character(2) NOT NULL, amount decimal(9,3) NOT NULL, ratio numeric, "
            "placed timestamp with time zone, tags text[], paint colour, doc jsonb, "
            "PRIMARY KEY (order_id, line))"
        )
        conn.execute("CREATE TABLE events (at timestamp, payload json)")  # no primary key
        conn.execute("CREATE TABLE audit (who text, what text)")
        conn.execute("ALTER TABLE audit REPLICA IDENTITY FULL")
    out = tmp_path / "contracts"
    proc = cdc("contracts", "import", "--source-dsn", source_dsn, "--out", str(out), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "events has no primary key: imported as append-only" in proc.stderr
    assert "updates and deletes are NOT replicated" in proc.stderr
    assert "audit has no primary key and REPLICA IDENTITY FULL: imported with full-row" in (
        proc.stderr
    )
    by_name = {c.name: c for c in load_contracts(out)}
    orders = by_name["orders"]
    assert orders.primary_key == ("order_id", "line")
    kinds = {c.name: c.kind for c in orders.columns}
    assert kinds == {
        "order_id": Kind.INT8, "line": Kind.INT2, "note": Kind.TEXT, "code": Kind.TEXT,
        "amount": Kind.DECIMAL, "ratio": Kind.NUMERIC, "placed": Kind.TIMESTAMPTZ,
        "tags": Kind.TEXT_ARRAY, "paint": Kind.ENUM, "doc": Kind.JSONB,
    }  # fmt: skip
    sql = {c.name: c.sql_type for c in orders.columns}
    assert sql["note"] == "varchar(20)" and sql["code"] == "char(2)"
    assert sql["amount"] == "numeric(9,3)" and sql["paint"] == "colour"
    assert orders.column("paint").enum_symbols == ("red", "green")
    assert not orders.column("code").nullable and orders.column("note").nullable
    assert not orders.column("order_id").nullable  # primary key columns are NOT NULL
    assert by_name["events"].append_only and by_name["events"].primary_key == ()
    assert not by_name["events"].full_row_identity
    audit = by_name["audit"]
    assert audit.full_row_identity and not audit.append_only and audit.primary_key == ()


def test_import_of_the_demo_database_reproduces_the_shipped_types(
    source_dsn, cli_env, contracts, tmp_path
):
    create_tables(source_dsn, contracts)
    out = tmp_path / "contracts"
    proc = cdc("contracts", "import", "--source-dsn", source_dsn, "--out", str(out), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    imported = {c.qualified: c for c in load_contracts(out)}
    for shipped in contracts:
        got = imported[shipped.qualified]
        assert got.primary_key == shipped.primary_key
        assert [(c.name, c.sql_type, c.kind, c.nullable, c.avro) for c in got.columns] == [
            (c.name, c.sql_type, c.kind, c.nullable, c.avro) for c in shipped.columns
        ]


def test_import_errors_name_the_fix(source_dsn, cli_env, tmp_path):
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE geo (id int PRIMARY KEY, spot point)")
    args = ["contracts", "import", "--source-dsn", source_dsn, "--out", str(tmp_path)]
    proc = cdc(*args, "--strict-types", env=cli_env)
    assert proc.returncode == 2 and "point" in proc.stderr and "--tables" in proc.stderr
    assert not list(tmp_path.glob("*.avsc"))  # the opt-out writes nothing
    proc = cdc(*args, "--tables", "nope", env=cli_env)
    assert proc.returncode == 2 and "nope" in proc.stderr and "geo" in proc.stderr
    proc = cdc(*args, "--schema", "empty", env=cli_env)
    assert proc.returncode == 2 and "--schema" in proc.stderr


NEW_TYPES = {  # column: (declared type, canonical sql_type, family)
    "big": ("bigint[]", "bigint[]", Kind.ARRAY),
    "small": ("smallint[]", "smallint[]", Kind.ARRAY),
    "nums": ("numeric[]", "numeric[]", Kind.ARRAY),
    "amounts": ("numeric(10,2)[]", "numeric(10,2)[]", Kind.ARRAY),
    "doubles": ("double precision[]", "double precision[]", Kind.ARRAY),
    "reals": ("real[]", "real[]", Kind.ARRAY),
    "flags": ("boolean[]", "boolean[]", Kind.ARRAY),
    "names": ("varchar(12)[]", "varchar(12)[]", Kind.ARRAY),
    "ids": ("uuid[]", "uuid[]", Kind.ARRAY),
    "days": ("date[]", "date[]", Kind.ARRAY),
    "stamps": ("timestamp[]", "timestamp[]", Kind.ARRAY),
    "instants": ("timestamptz[]", "timestamptz[]", Kind.ARRAY),
    "span": ("interval hour to minute", "interval hour to minute", Kind.INTERVAL),
    "at3": ("timestamp(3)", "timestamp(3)", Kind.TIMESTAMP),
    "at0tz": ("timestamptz(0)", "timestamptz(0)", Kind.TIMESTAMPTZ),
    "clock2": ("time(2)", "time(2)", Kind.TIME),
    "clocktz": ("timetz", "timetz", Kind.TIMETZ),
    "price": ("money", "money", Kind.MONEY),
    "host": ("inet", "inet", Kind.INET),
    "net": ("cidr", "cidr", Kind.INET),
    "mac": ("macaddr", "macaddr", Kind.MACADDR),
    "mask": ("bit(4)", "bit(4)", Kind.BIT),
    "bits": ("bit varying(8)", "varbit(8)", Kind.BIT),
    "page": ("xml", "xml", Kind.XML),
    "email": ("citext", "citext", Kind.CITEXT),
    "attrs": ("hstore", "hstore", Kind.HSTORE),
    "r4": ("int4range", "int4range", Kind.RANGE),
    "r8": ("int8range", "int8range", Kind.RANGE),
    "rn": ("numrange", "numrange", Kind.RANGE),
    "rts": ("tsrange", "tsrange", Kind.RANGE),
    "rtz": ("tstzrange", "tstzrange", Kind.RANGE),
    "rd": ("daterange", "daterange", Kind.RANGE),
    "positive": ("positive_amount", "numeric(12,2)", Kind.DECIMAL),  # a domain
}


def test_import_of_the_types_real_databases_use(source_dsn, cli_env, tmp_path):
    cols = ", ".join(f"{name} {declared}" for name, (declared, _, _) in NEW_TYPES.items())
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hstore")
        conn.execute("CREATE DOMAIN positive_amount AS numeric(12,2) CHECK (VALUE > 0)")
        conn.execute(f"CREATE TABLE wide (id int PRIMARY KEY, {cols})")
        conn.execute("CREATE TABLE odd (id int PRIMARY KEY, words tsvector, spot point)")
    out = tmp_path / "contracts"
    args = ["contracts", "import", "--source-dsn", source_dsn, "--out", str(out)]
    proc = cdc(*args, env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "wide" not in proc.stderr  # every column of it is typed
    for column, declared in (("words", "tsvector"), ("spot", "point")):
        assert (
            f"warning: column public.odd.{column} has type {declared}, which the pipeline "
            "does not type: carried as text" in proc.stderr
        )
    assert "--strict-types" in proc.stderr
    by_name = {c.name: c for c in load_contracts(out)}
    wide = by_name["wide"]
    got = {c.name: (c.sql_type, c.kind) for c in wide.columns if c.name != "id"}
    assert got == {name: (sql, kind) for name, (_, sql, kind) in NEW_TYPES.items()}
    assert wide.column("big").avro == {"type": "array", "items": ["null", "long"]}
    assert wide.column("doubles").avro == {"type": "array", "items": ["null", "string"]}
    assert wide.column("positive").doc == "domain positive_amount over numeric(12,2)"
    odd = by_name["odd"]
    assert [(c.sql_type, c.kind, c.doc) for c in odd.columns[1:]] == [
        ("text", Kind.TEXT, "carried as text: source type tsvector"),
        ("text", Kind.TEXT, "carried as text: source type point"),
    ]
    strict = cdc(*args, "--tables", "wide,odd", "--strict-types", env=cli_env)
    assert strict.returncode == 2
    assert "column public.odd.words has type tsvector" in strict.stderr
    assert "without --strict-types" in strict.stderr
    assert cdc(*args, "--tables", "wide", "--strict-types", env=cli_env).returncode == 0
