"""`cdc contracts import`: contracts generated from an existing PostgreSQL database.

Reads pg_catalog for the chosen tables (columns, types via format_type, NOT NULL, primary key,
enum labels) and writes one .avsc per table. A table without a primary key is imported as
append-only, with a warning: DMS and pgoutput identify updated and deleted rows by the primary
key, or by the whole old row under REPLICA IDENTITY FULL. PII is never guessed: mark `"pii": true`
on the columns yourself after the import.

Names are taken as PostgreSQL has them, quoted mixed case, reserved words and non-ASCII letters
included (contracts/names.py: how each reaches the warehouse and the Avro schema).

Partitioned tables are one table: the import writes a contract for the partition root and none
for its partitions (pg_class.relispartition), which replicate under the root's name (the local
capture's publication has publish_via_partition_root; see the README for DMS).

Generated columns (GENERATED ALWAYS AS ... STORED) are left out of the contract, with a warning,
and listed in its `generated_columns`: PostgreSQL does not send them through logical replication
(pgoutput skips them: "Logical Replication Restrictions"), so no change would ever carry their
value; DMS's table mappings drop them too (dms_config.py, a remove-column rule), and `cdc verify`
compares the contract's columns only. An analyst who needs one computes it in a view.

Only contracts the pipeline accepts are written: each is checked with the very checks every
command runs when it loads contracts (model.parse_contract), and tables whose warehouse names
would collide are refused with both names. A refused table is reported with the reason and the
fix; the others are written.

Types: a domain is imported as its base type (the warehouse has no domain; the source enforces
its check). A column of a type the pipeline does not type (tsvector, point, a composite, a
multi-range, ...) is carried as text (its PostgreSQL text output, which is what DMS sends for
it), with a warning and a field `doc` naming the source type; `strict_types` refuses the table
instead (`cdc contracts import --strict-types`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from consumers.capture import truncate_log
from consumers.contracts.ddl import quote_ident
from consumers.contracts.model import Column, TableContract, parse_contract
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
       t.typtype = 'e' AS is_enum, t.typname, a.attgenerated <> '' AS generated,
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
# Tables and partition roots; partitions replicate as their root (relispartition).
_TABLES = """
SELECT c.relname, c.relispartition,
       (SELECT r.relname FROM pg_class r WHERE r.oid = pg_partition_root(c.oid))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""


class _Refused(Exception):
    """A table the import cannot accept: the reason and the fix, as one line."""


def import_contracts(
    dsn: str,
    schema: str,
    tables: list[str] | None,
    out: Path,
    warn: Callable[[str], None],
    refused: list[str] | None = None,
    strict_types: bool = False,
) -> list[Path]:
    """Write the contracts of `schema`'s tables (or `tables`) to `out`; every table refused is
    reported through `warn` and appended to `refused` (the CLI then exits 2)."""
    written: list[Path] = []
    refusals = refused if refused is not None else []
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(_TABLES, (schema,))
        rows = [(str(r[0]), bool(r[1]), str(r[2] or "")) for r in cur.fetchall()]
        roots = [name for name, is_partition, _ in rows if not is_partition]
        partitions = {name: root for name, is_partition, root in rows if is_partition}
        if not roots:
            raise CdcError(f"schema {schema!r} has no tables in the source: check --schema")
        chosen = tables or roots
        for t in chosen:
            if t in partitions:
                raise CdcError(
                    f"table {schema}.{t} is a partition of {schema}.{partitions[t]}: partitions "
                    f"replicate as their partitioned table: choose {partitions[t]} instead"
                )
        missing = [t for t in chosen if t not in roots]
        if missing:
            raise CdcError(
                f"table(s) {', '.join(missing)} not found in schema {schema!r}: "
                f"choose from {', '.join(roots)}"
            )
        contracts = []
        for table in chosen:
            try:
                contracts.append(_contract(cur, schema, table, warn, strict_types))
            except _Refused as e:
                refusals.append(str(e))
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (truncate_log.QUALIFIED,))
        has_log = bool((cur.fetchone() or (False,))[0])
    accepted: list[tuple[TableContract, bytes]] = []
    by_warehouse_name: dict[str, TableContract] = {}
    for c in contracts:
        doc = c.to_avsc()
        try:  # the checks every command runs on a contract it loads
            parse_contract(doc, out / c.file_name)
        except ContractError as e:
            refusals.append(f"{c.qualified} is not imported: {e}")
            continue
        other = by_warehouse_name.setdefault(c.warehouse_table, c)
        if other is not c:
            refusals.append(
                f"{c.qualified} is not imported: its warehouse name {c.warehouse_table!r} is "
                f"also {other.qualified!r}'s (Redshift folds ASCII letters to lower case): "
                "rename one at the source, or leave one out with --tables"
            )
            continue
        accepted.append((c, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"))
    for reason in refusals:
        warn(f"refused: {reason}")
    out.mkdir(parents=True, exist_ok=True)
    if has_log:  # the source's truncate log (capture/truncate_log.py) replicates too
        path = out / f"{truncate_log.QUALIFIED}.avsc"
        path.write_bytes(orjson.dumps(truncate_log.CONTRACT, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    for c, body in accepted:
        path = out / c.file_name
        path.write_bytes(body)
        written.append(path)
    return written


def _contract(
    cur: Any, schema: str, table: str, warn: Callable[[str], None], strict_types: bool = False
) -> TableContract:
    qualified = f"{schema}.{table}"
    regclass = f"{quote_ident(schema)}.{quote_ident(table)}"
    cur.execute(_COLUMNS, (regclass,))
    rows = cur.fetchall()
    cur.execute(_PK, (regclass,))
    pk = tuple(str(r[0]) for r in cur.fetchall())
    columns = []
    generated = []
    for name, fmt, notnull, is_enum, typname, is_generated, labels, domain_base in rows:
        if is_generated:
            generated.append(str(name))
            continue
        source_type = str(domain_base or fmt)
        sql_type = str(typname) if is_enum else canonical_sql_type(source_type)
        doc = f"domain {fmt} over {domain_base}" if domain_base else ""
        try:
            kind = kind_of(sql_type, is_enum=bool(is_enum))
        except ValueError as e:
            if strict_types:
                raise _Refused(
                    f"column {qualified}.{name} has type {fmt} ({e}): leave the table out with "
                    "--tables, or import without --strict-types to carry it as text "
                    f"(supported: {', '.join(supported_sql_types())})"
                ) from None
            warn(
                f"warning: column {qualified}.{name} has type {fmt}, which the pipeline does "
                "not type: carried as text (its PostgreSQL text output). Use --strict-types to "
                "refuse such tables instead"
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
    if generated:
        warn(
            f"note: {qualified}: generated column(s) {', '.join(generated)} left out of the "
            "contract: logical replication does not carry them (compute them in a view)"
        )
    cur.execute(_IDENTITY, (regclass,))
    identity = cur.fetchone()
    full = not pk and identity is not None and identity[0] == "f"
    if full:
        warn(
            f"note: {qualified} has no primary key and REPLICA IDENTITY FULL: "
            "imported with full-row identity (updates and deletes apply by the whole "
            "old row; duplicate rows are kept). On AWS the DMS endpoint needs "
            "PluginName test_decoding (pglogical does not support REPLICA IDENTITY FULL)"
        )
    elif not pk:
        warn(
            f"warning: {qualified} has no primary key: imported as append-only "
            "(inserts only): its updates and deletes are NOT replicated, and `cdc "
            "verify` reports the table once one happens. To replicate them, add a "
            f"primary key, or run ALTER TABLE {regclass} REPLICA IDENTITY FULL, "
            "then import it again"
        )
    return TableContract(
        schema=schema,
        name=table,
        columns=tuple(columns),
        primary_key=pk,
        append_only=not pk and not full,
        full_row_identity=full,
        generated_columns=tuple(generated),
    )


def read_source(dsn: str, contracts: list[TableContract]) -> dict[str, TableContract | None]:
    """Each contract's table as the source catalog has it now, read as the import reads it
    (None: the table is gone). `cdc contracts diff` compares the two (contracts/drift.py)."""
    out: dict[str, TableContract | None] = {}
    with connect(dsn) as conn, conn.cursor() as cur:
        for c in contracts:
            regclass = f"{quote_ident(c.schema)}.{quote_ident(c.name)}"
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (regclass,))
            exists = bool((cur.fetchone() or (False,))[0])
            out[c.qualified] = _contract(cur, c.schema, c.name, lambda _: None) if exists else None
    return out
