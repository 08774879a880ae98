"""`cdc contracts import`: contracts generated from an existing PostgreSQL database.

Reads pg_catalog for the chosen tables (columns, types via format_type, NOT NULL, primary key,
enum labels) and writes one .avsc per table. A table without a primary key is imported as
append-only, with a warning: DMS and pgoutput identify updated and deleted rows by the primary
key, or by the whole old row under REPLICA IDENTITY FULL. PII is never guessed: mark `"pii": true`
on the columns yourself after the import.

Types: a domain is imported as its base type (the warehouse has no domain; the source enforces
its check). A column of a type the pipeline does not type (tsvector, point, a composite, a
multi-range, ...) is carried as text (its PostgreSQL text output, which is what DMS sends for
it), with a warning and a field `doc` naming the source type; `strict_types` refuses the table
instead (`cdc contracts import --strict-types`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from consumers.capture import truncate_log
from consumers.contracts.model import IDENTIFIER, Column, TableContract
from consumers.contracts.types import (
    Kind,
    canonical_sql_type,
    expected_avro,
    kind_of,
    supported_sql_types,
)
from consumers.db import connect
from consumers.errors import CdcError, ContractError

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       t.typtype = 'e' AS is_enum, t.typname,
       CASE WHEN t.typtype = 'e' THEN
         (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
          WHERE e.enumtypid = t.oid) END,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PK = """
SELECT a.attname FROM pg_index i
JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.ord
"""
_IDENTITY = "SELECT relreplident FROM pg_class WHERE oid = %s::regclass"
_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""


def import_contracts(
    dsn: str,
    schema: str,
    tables: list[str] | None,
    out: Path,
    warn: Callable[[str], None],
    strict_types: bool = False,
) -> list[Path]:
    written: list[Path] = []
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(_TABLES, (schema,))
        existing = [r[0] for r in cur.fetchall()]
        if not existing:
            raise CdcError(f"schema {schema!r} has no tables in the source: check --schema")
        chosen = tables or existing
        missing = [t for t in chosen if t not in existing]
        if missing:
            raise CdcError(
                f"table(s) {', '.join(missing)} not found in schema {schema!r}: "
                f"choose from {', '.join(existing)}"
            )
        contracts = []
        for table in chosen:
            if not IDENTIFIER.match(table):
                raise ContractError(
                    f"table {schema}.{table} has a name that is not a plain lower-case SQL "
                    "identifier: rename it or leave it out with --tables"
                )
            regclass = f'"{schema}"."{table}"'
            cur.execute(_COLUMNS, (regclass,))
            rows = cur.fetchall()
            cur.execute(_PK, (regclass,))
            pk = tuple(str(r[0]) for r in cur.fetchall())
            columns = []
            for name, fmt, notnull, is_enum, typname, labels, domain_base in rows:
                source_type = str(domain_base or fmt)
                sql_type = str(typname) if is_enum else canonical_sql_type(source_type)
                doc = f"domain {fmt} over {domain_base}" if domain_base else ""
                try:
                    kind = kind_of(sql_type, is_enum=bool(is_enum))
                except ValueError as e:
                    if strict_types:
                        raise ContractError(
                            f"column {schema}.{table}.{name} has type {fmt} ({e}): leave the "
                            "table out with --tables, or import without --strict-types to carry "
                            f"it as text (supported: {', '.join(supported_sql_types())})"
                        ) from None
                    warn(
                        f"warning: column {schema}.{table}.{name} has type {fmt}, which the "
                        "pipeline does not type: carried as text (its PostgreSQL text output). "
                        "Use --strict-types to refuse such tables instead"
                    )
                    kind, sql_type, doc = Kind.TEXT, "text", f"carried as text: source type {fmt}"
                avro: object
                symbols: tuple[str, ...] = ()
                if kind is Kind.ENUM:
                    symbols = tuple(labels or ())
                    avro = {"type": "enum", "name": sql_type, "symbols": list(symbols)}
                else:
                    avro = expected_avro(kind, sql_type)
                columns.append(
                    Column(
                        name=str(name),
                        sql_type=sql_type,
                        kind=kind,
                        nullable=not notnull,
                        pii=False,
                        avro=avro,
                        enum_symbols=symbols,
                        doc=doc,
                    )
                )
            cur.execute(_IDENTITY, (regclass,))
            identity = cur.fetchone()
            full = not pk and identity is not None and identity[0] == "f"
            if full:
                warn(
                    f"note: {schema}.{table} has no primary key and REPLICA IDENTITY FULL: "
                    "imported with full-row identity (updates and deletes apply by the whole "
                    "old row; duplicate rows are kept). On AWS the DMS endpoint needs "
                    "PluginName test_decoding (pglogical does not support REPLICA IDENTITY FULL)"
                )
            elif not pk:
                warn(
                    f"warning: {schema}.{table} has no primary key: imported as append-only "
                    "(inserts only): its updates and deletes are NOT replicated, and `cdc "
                    "verify` reports the table once one happens. To replicate them, add a "
                    f"primary key, or run ALTER TABLE {schema}.{table} REPLICA IDENTITY FULL, "
                    "then import it again"
                )
            contracts.append(
                TableContract(
                    schema=schema,
                    name=table,
                    columns=tuple(columns),
                    primary_key=pk,
                    append_only=not pk and not full,
                    full_row_identity=full,
                )
            )
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (truncate_log.QUALIFIED,))
        has_log = bool((cur.fetchone() or (False,))[0])
    out.mkdir(parents=True, exist_ok=True)
    if has_log:  # the source's truncate log (capture/truncate_log.py) replicates too
        path = out / f"{truncate_log.QUALIFIED}.avsc"
        path.write_bytes(orjson.dumps(truncate_log.CONTRACT, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    for c in contracts:
        path = out / f"{c.qualified}.avsc"
        path.write_bytes(orjson.dumps(c.to_avsc(), option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    return written
