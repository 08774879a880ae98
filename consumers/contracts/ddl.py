"""Source-side PostgreSQL DDL generated from the contracts (the demo database is built from it).

The demo DDL has no foreign keys on purpose: the workload deletes and re-keys rows freely, and
the replication path must not depend on the source's referential integrity.
"""

from __future__ import annotations

from consumers.contracts.model import TableContract
from consumers.contracts.types import Kind


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def source_ddl(contracts: list[TableContract]) -> list[str]:
    """CREATE TYPE (enums) and CREATE TABLE statements, idempotent, in dependency order."""
    statements: list[str] = []
    kinds = {col.kind for c in contracts for col in c.columns}
    for kind, extension in ((Kind.CITEXT, "citext"), (Kind.HSTORE, "hstore")):
        if kind in kinds:  # contrib extensions, shipped with PostgreSQL
            statements.append(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    seen_enums: set[tuple[str, str]] = set()
    for c in contracts:
        schema = quote_ident(c.schema)
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for type_name, symbols in c.enum_types.items():
            if (c.schema, type_name) in seen_enums:
                continue
            seen_enums.add((c.schema, type_name))
            labels = ", ".join(quote_literal(s) for s in symbols)
            statements.append(
                "DO $$ BEGIN "
                f"CREATE TYPE {schema}.{quote_ident(type_name)} AS ENUM ({labels}); "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
    for c in contracts:
        cols = []
        for col in c.columns:
            sql_type = (
                f"{quote_ident(c.schema)}.{quote_ident(col.sql_type)}"
                if col.kind is Kind.ENUM
                else col.sql_type
            )
            cols.append(f"{quote_ident(col.name)} {sql_type}{'' if col.nullable else ' NOT NULL'}")
        if c.primary_key:
            cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in c.primary_key)})")
        table = f"{quote_ident(c.schema)}.{quote_ident(c.name)}"
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(cols) + "\n)")
        if c.full_row_identity:
            statements.append(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    return statements
