"""The local (PostgreSQL) load plan applies a key's changes right in any batch order: run
against the real warehouse database, with the staging table filled by hand instead of COPY.

A delete loaded after a newer re-insert of its key (batches in another order, a replay) must
not remove the row: the PostgreSQL plan has no guard step (its MERGE skips stale changes by a
condition) and its delete step removed the newer row until the issue 14 refactor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from consumers.contracts.model import TableContract
from consumers.warehouse.dialect import PostgresDialect
from consumers.warehouse.plan import COPY_STEP, build_load

pytestmark = pytest.mark.integration

D = PostgresDialect()
ROW = {"currency_id": 1, "currency_code": "GBP", "created_at": "2024-01-01 00:00:00",
       "last_updated": "2024-01-01 00:00:00"}  # fmt: skip


@pytest.fixture
def currency(contracts) -> TableContract:
    c = next(c for c in contracts if c.name == "currency")
    assert c.delete_mode == "hard"
    return c


@pytest.fixture
def warehouse(local_stack, currency) -> Iterator[str]:
    name = f"plan_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(local_stack.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    dsn = local_stack.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in D.bootstrap([currency], access=False):
            conn.execute(statement.encode())
    yield dsn
    with psycopg.connect(local_stack.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def load(dsn: str, c: TableContract, version: int, op: str) -> None:
    """One batch holding one change of key 1, through the whole plan in one transaction."""
    cols = [col.warehouse_name for col in c.columns]
    names = ", ".join(f'"{n}"' for n in cols)
    marks = ", ".join(["%s"] * (len(cols) + 3))
    values: list[Any] = [ROW[n] for n in cols] + [version, op, f"batch-{op}-{version}"]
    with psycopg.connect(dsn) as conn:
        for step in build_load(D, c).steps:
            if step.name == COPY_STEP:
                conn.execute(
                    f'INSERT INTO "stage" ({names}, "_cdc_version", "_cdc_op", "_cdc_batch") '
                    f"VALUES ({marks})".encode(),
                    values,
                )
            else:
                conn.execute(step.sql.encode())


def stored(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            'SELECT "currency_id", "_cdc_version"::int FROM "public"."currency"'
        ).fetchall()


@pytest.mark.parametrize(
    ("changes", "expect"),
    [
        # deleted at 5, re-inserted at 10: in order, and the delete arriving last
        ([(5, "delete"), (10, "insert")], [(1, 10)]),
        ([(10, "insert"), (5, "delete")], [(1, 10)]),
        ([(10, "insert"), (5, "delete"), (5, "delete")], [(1, 10)]),
        # a newer delete does remove it, in either order
        ([(10, "insert"), (12, "delete")], []),
        ([(12, "delete"), (10, "insert")], []),
    ],
)
def test_a_keys_changes_converge_in_any_batch_order(warehouse, currency, changes, expect):
    for version, op in changes:
        load(warehouse, currency, version, op)
    assert stored(warehouse) == expect
