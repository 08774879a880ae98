"""Analyst access, really enforced by PostgreSQL: PII columns and `SELECT *` on base tables are
denied, the analyst views and non-PII columns work; engineers read everything."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from consumers.errors import CdcError
from consumers.warehouse.dialect import PostgresDialect
from consumers.warehouse.local import LocalWarehouse

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(local_stack, contracts) -> Iterator[tuple[str, str, str]]:
    name = f"wh_{uuid.uuid4().hex[:10]}"
    analyst, engineer = f"ana_{uuid.uuid4().hex[:8]}", f"eng_{uuid.uuid4().hex[:8]}"
    admin = local_stack.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    dsn = local_stack.dsn(name)
    LocalWarehouse(dsn, contracts, None, "").bootstrap()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{analyst}" LOGIN IN ROLE cdc_analyst'.encode())
        conn.execute(f'CREATE ROLE "{engineer}" LOGIN IN ROLE cdc_engineer'.encode())
        conn.execute(
            "INSERT INTO public.staff VALUES (1, 'Ana', 'Lyst', 2, 'ana@example.com', now(), "
            "now(), 1, 'insert', now(), now(), false, NULL)"
        )
    yield dsn, analyst, engineer
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())
        conn.execute(f'DROP ROLE "{analyst}"'.encode())
        conn.execute(f'DROP ROLE "{engineer}"'.encode())


def as_user(dsn: str, user: str) -> psycopg.Connection:
    return psycopg.connect(dsn.replace("postgres@", f"{user}@"), autocommit=True)


def test_analysts_never_read_pii(warehouse):
    dsn, analyst, _ = warehouse
    with as_user(dsn, analyst) as conn:
        for sql in ("SELECT email_address FROM public.staff", "SELECT * FROM public.staff",
                    "SELECT first_name FROM public.staff"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        row = conn.execute("SELECT staff_id, department_id FROM public.staff").fetchone()
        assert row == (1, 2)
        cur = conn.execute("SELECT * FROM analyst.staff")
        assert [d.name for d in cur.description] == [
            "staff_id", "department_id", "created_at", "last_updated",
        ]  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM cdc.load_ledger")


def test_engineers_read_everything(warehouse):
    dsn, _, engineer = warehouse
    with as_user(dsn, engineer) as conn:
        row = conn.execute("SELECT first_name, email_address FROM public.staff").fetchone()
        assert row == ("Ana", "ana@example.com")
        conn.execute("SELECT * FROM cdc.load_ledger")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM public.staff")


def test_access_show_lists_each_roles_columns():
    import subprocess
    import sys

    import orjson

    out = subprocess.run(
        [sys.executable, "-m", "consumers", "access", "show", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    staff = orjson.loads(out)["public.staff"]
    assert staff["cdc_analyst"] == ["staff_id", "department_id", "created_at", "last_updated"]
    assert staff["withheld from analysts (pii)"] == ["first_name", "last_name", "email_address"]
    assert "email_address" in staff["cdc_engineer"]


def test_analyst_access_on_every_table_and_view(warehouse, contracts):
    """For every contract table: each PII column is refused, each other column is readable,
    the analyst view has exactly the non-PII columns; the full `analytics` views are refused
    and every `analyst` star-schema view is readable. Real privileges, a real login role."""
    dsn, analyst, _ = warehouse
    with psycopg.connect(dsn) as admin:
        views = {
            (s, n)
            for s, n in admin.execute(
                "SELECT table_schema, table_name FROM information_schema.views "
                "WHERE table_schema IN ('analytics', 'analyst')"
            ).fetchall()
        }
    assert {n for s, n in views if s == "analytics"} >= {"fact_sales_order", "dim_staff"}
    checked = 0
    with as_user(dsn, analyst) as conn:
        for c in contracts:
            table = f'"{c.schema}"."{c.name}"'
            for col in c.columns:
                sql = f'SELECT "{col.name}" FROM {table} LIMIT 0'.encode()
                if col.pii:
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(sql)
                else:
                    conn.execute(sql)
                checked += 1
            cur = conn.execute(f'SELECT * FROM "analyst"."{c.name}" LIMIT 0'.encode())
            shown = [d.name for d in cur.description]
            assert [n for n in shown if not n.startswith("_cdc_")] == [
                col.name for col in c.columns if not col.pii
            ], c.qualified
        for schema, name in sorted(views):
            sql = f'SELECT * FROM "{schema}"."{name}" LIMIT 0'.encode()
            if schema == "analytics":
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)
            else:
                conn.execute(sql)
    assert checked == sum(len(c.columns) for c in contracts)
    assert any(col.pii for c in contracts for col in c.columns)


def test_analyst_views_hide_soft_deleted_rows(warehouse, contracts):
    dsn, analyst, _ = warehouse
    soft = next(c for c in contracts if c.delete_mode == "soft")
    key = soft.primary_key[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i, deleted in ((1, False), (2, True)):
            conn.execute(
                f'INSERT INTO "{soft.schema}"."{soft.name}" ("{key}", "_cdc_version", "_cdc_op", '
                '"_cdc_loaded_at", "_cdc_deleted") VALUES (%s, 1, %s, now(), %s)'.encode(),
                (i, "delete" if deleted else "insert", deleted),
            )
    with as_user(dsn, analyst) as conn:
        rows = conn.execute(f'SELECT "{key}" FROM "analyst"."{soft.name}"'.encode()).fetchall()
    assert rows == [(1,)]


def test_a_column_classified_later_joins_the_analyst_view_wherever_it_sits(warehouse, contracts):
    """A column withheld until classified (issue 18) may sit anywhere in the table; once the
    contract says it is not PII, a second bootstrap shows it in the analyst view (PostgreSQL's
    CREATE OR REPLACE VIEW can only append columns: the view is dropped and recreated)."""
    import dataclasses

    dsn, analyst, _ = warehouse
    staff = next(c for c in contracts if c.name == "staff")
    first = [col.name for col in staff.columns].index("first_name")
    assert 0 < first < len(staff.columns) - 1  # in the middle: not an append
    columns = [
        dataclasses.replace(col, pii=False) if col.name == "first_name" else col
        for col in staff.columns
    ]
    classified = dataclasses.replace(staff, columns=columns)
    others = [c for c in contracts if c.name != "staff"]
    LocalWarehouse(dsn, [*others, classified], None, "").bootstrap()
    with as_user(dsn, analyst) as conn:
        cur = conn.execute("SELECT * FROM analyst.staff")
        assert [d.name for d in cur.description] == [
            "staff_id", "first_name", "department_id", "created_at", "last_updated",
        ]  # fmt: skip
        assert cur.fetchone()[:3] == (1, "Ana", 2)
        assert conn.execute("SELECT first_name FROM public.staff").fetchone() == ("Ana",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT email_address FROM public.staff")
    # And back: classified PII again, the column leaves the view.
    LocalWarehouse(dsn, contracts, None, "").bootstrap()
    with as_user(dsn, analyst) as conn:
        cur = conn.execute("SELECT * FROM analyst.staff")
        assert "first_name" not in [d.name for d in cur.description]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT first_name FROM public.staff")


def test_the_remote_evolution_reads_a_bootstrapped_warehouse_as_up_to_date(warehouse, contracts):
    """evolve_remote (cdc warehouse bootstrap --warehouse redshift://...) over a real connection
    through the DB-API seam: information_schema's spelling of every type the Redshift dialect
    uses reads back as the contract's, so a bootstrapped warehouse needs no statement."""
    from consumers.warehouse.evolve import evolve_remote
    from consumers.warehouse.target import connect, parse_warehouse

    dsn, _, _ = warehouse
    keyed = [c for c in contracts if not c.name.startswith("type_zoo")]
    with connect(parse_warehouse(dsn)) as db:
        assert evolve_remote(db, PostgresDialect(), keyed) == []
        narrow = 'ALTER TABLE "public"."staff" ALTER COLUMN "department_id" TYPE smallint'
        views = ['"analyst"."staff"', '"analytics"."dim_staff"', '"analyst"."dim_staff"']
        db.run([*(f"DROP VIEW {v}" for v in views), narrow])
        out = evolve_remote(db, PostgresDialect(), keyed)
        widen = 'ALTER TABLE "public"."staff" ALTER COLUMN "department_id" TYPE integer'
        assert widen in out, out
        db.run([*out, *PostgresDialect().analyst_access(keyed)])
        assert evolve_remote(db, PostgresDialect(), keyed) == []
        # A view of the user's over the column: the warehouse refuses, one line, nothing applied.
        db.run([
            'DROP VIEW "analyst"."staff"', 'DROP VIEW "analytics"."dim_staff"',
            'DROP VIEW "analyst"."dim_staff"', narrow,
            'CREATE VIEW "public"."mine" AS SELECT "department_id" FROM "public"."staff"',
        ])  # fmt: skip
        out = evolve_remote(db, PostgresDialect(), keyed)
        with pytest.raises(CdcError, match=r"^the warehouse refused .*view") as refused:
            db.run(out)
        assert "\n" not in str(refused.value)
        assert db.rows(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'staff' "
            "AND column_name = 'department_id'"
        ) == [("smallint",)]
