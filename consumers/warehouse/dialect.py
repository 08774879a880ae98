"""SQL for the warehouse, one dialect class per warehouse, pure builders (no I/O).

PostgreSQL is the local warehouse; Redshift extends it and overrides only what differs
(types, COPY, locking, timestamps). Identifiers are always quoted, and are the warehouse names
of the contract's tables and columns: the source names with ASCII letters folded to lower case,
as Redshift stores them (consumers/contracts/names.py has the decision and its source).

Warehouse tables: the contract's columns plus
  _cdc_version    numeric(38,0)  ordering version of the row's latest applied change
  _cdc_op         the operation of that change (load, insert, update, delete)
  _cdc_commit_ts  its source commit time (UTC); NULL for full-load rows
  _cdc_loaded_at  when the load that applied it ran
  _cdc_deleted    soft-delete tables: true once the row was deleted at the source
Hard-delete tables keep the keys and versions of deleted rows in cdc."<schema>__<table>__deleted"
(shortened with a hash beyond 63 bytes: names.derived_name)
so an older change arriving late (a replay, a duplicate) never brings a deleted row back.
Tables without a primary key (a multiset of rows) also have
  _cdc_row        the identity of the change that added the row: its ordering version, or
                  `load:<shard>:<sequence>` for a full-load row (all of which have version 0)
  _cdc_hash       md5 over every column's text: removals find their row by it
and their tombstones table records, per applied removal, its version and the _cdc_row it
removed (NULL when no row matched), so neither a removal nor the re-delivered addition of a
removed row is ever applied twice.
"""

from __future__ import annotations

import re
from typing import ClassVar

from consumers.contracts.model import Column, TableContract
from consumers.contracts.names import derived_name
from consumers.contracts.types import Kind, bit_length, char_length, decimal_precision_scale

LEDGER = '"cdc"."load_ledger"'
# Batches whose load failed for a reason in their data (warehouse/failures.py): not retried
# until released (`cdc load --retry-quarantined`).
QUARANTINE = '"cdc"."load_quarantine"'
# Parquet metadata columns, in file order (consumers/events/columns.py METADATA_FIELDS).
STAGE_META = ("_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_shard", "_cdc_sequence",
              "_cdc_batch", "_cdc_unchanged", "_cdc_old_key")  # fmt: skip


# Roles the bootstrap creates: the loader (what the Data API secret's user, or the local loader,
# acts as) and engineers (full read). Analyst access with PII columns withheld comes from the
# access-control issue, generated from the contracts' `pii` flags.
ROLES = {
    "cdc_loader": "SELECT, INSERT, UPDATE, DELETE",
    "cdc_engineer": "SELECT",
}
ANALYST = "cdc_analyst"
ANALYST_SCHEMA = "analyst"
# What an analyst may read of a base table besides its non-PII columns.
ANALYST_META = ("_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted")


def analyst_columns(c: TableContract) -> list[str]:
    """Every column except those classified `pii` in the contract."""
    return [col.warehouse_name for col in c.columns if not col.pii]


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def regex_literal(text: str) -> str:
    """`text` matched literally by a POSIX regular expression (PostgreSQL and Redshift)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\-])", r"\\\1", text)


class PostgresDialect:
    name = "postgres"
    TYPES: ClassVar[dict[Kind, str]] = {
        Kind.INT2: "smallint",
        Kind.INT4: "integer",
        Kind.INT8: "bigint",
        Kind.NUMERIC: "numeric",
        Kind.FLOAT4: "real",
        Kind.FLOAT8: "double precision",
        Kind.BOOL: "boolean",
        Kind.DATE: "date",
        Kind.TIME: "time",
        Kind.TIMESTAMP: "timestamp",
        Kind.TIMESTAMPTZ: "timestamptz",
        Kind.INTERVAL: "interval",
        Kind.UUID: "uuid",
        Kind.JSON: "json",
        Kind.JSONB: "jsonb",
        Kind.BYTEA: "bytea",
        Kind.TEXT_ARRAY: "text[]",
        Kind.INT_ARRAY: "integer[]",
        Kind.ENUM: "text",  # the label; no enum type to keep in step with the source
        Kind.TIMETZ: "timetz",
        Kind.MONEY: "money",
        Kind.INET: "inet",
        Kind.MACADDR: "macaddr",
        Kind.BIT: "varbit",
        Kind.XML: "xml",
        # citext and hstore are extensions the warehouse may not have: citext as text (the
        # same text; case-insensitive comparison is lost), hstore as jsonb (the same map;
        # `cdc verify` compares the source's hstore_to_jsonb).
        Kind.CITEXT: "text",
        Kind.HSTORE: "jsonb",
    }
    # The local warehouse declares the source's own type for these (a precision, a field
    # restriction, an element type, a range or network type): `cdc verify` then compares
    # values PostgreSQL itself printed the same way.
    NATIVE: ClassVar[frozenset[Kind]] = frozenset(
        {Kind.ARRAY, Kind.INTERVAL, Kind.TIMESTAMP, Kind.TIMESTAMPTZ, Kind.TIME, Kind.TIMETZ,
         Kind.INET, Kind.MACADDR, Kind.BIT, Kind.RANGE}
    )  # fmt: skip
    TEXT = "text"
    # PostgreSQL's MERGE takes several WHEN MATCHED clauses with conditions: one statement can
    # skip stale changes, delete and update. Redshift's takes one, unconditional.
    MERGE_WITH_CONDITIONS = True
    VERSION = "numeric(38,0)"
    TIMESTAMPTZ = "timestamptz"

    # ------------------------------------------------------------------ names and types

    def table(self, c: TableContract) -> str:
        return f"{q(c.warehouse_schema)}.{q(c.warehouse_table)}"

    def tombstones(self, c: TableContract) -> str:
        return f'"cdc".{q(self.derived(c, "__deleted"))}'

    @staticmethod
    def derived(c: TableContract, suffix: str) -> str:
        return derived_name(f"{c.warehouse_schema}__{c.warehouse_table}", suffix)

    def column_type(self, col: Column) -> str:
        if col.kind is Kind.DECIMAL:
            p, s = decimal_precision_scale(col.sql_type)
            return f"numeric({p},{s})"
        if col.kind is Kind.TEXT:
            return col.sql_type if col.sql_type != "text" else self.TEXT
        if col.kind in self.NATIVE:
            return col.sql_type
        return self.TYPES[col.kind]

    def now(self) -> str:
        return "now()"

    def transaction_start(self) -> str:
        return "now()"  # PostgreSQL's now() is the transaction's start

    def clock(self) -> str:
        return "clock_timestamp()"

    def longest_seconds(self, start: str, end: str) -> str:
        """The longest `end - start` over the rows, in seconds (a float): `cdc status`."""
        return f"CAST(extract(epoch FROM max({end} - {start})) AS float)"

    # ------------------------------------------------------------------ DDL

    def target_columns(self, c: TableContract) -> list[str]:
        cols = [
            f"{q(col.warehouse_name)} {self.column_type(col)}{'' if col.nullable else ' NOT NULL'}"
            for col in c.columns
        ]
        cols += [
            f'"_cdc_version" {self.VERSION} NOT NULL',
            '"_cdc_op" varchar(8) NOT NULL',
            f'"_cdc_commit_ts" {self.TIMESTAMPTZ}',
            f'"_cdc_loaded_at" {self.TIMESTAMPTZ} NOT NULL',
            '"_cdc_deleted" boolean NOT NULL DEFAULT false',
            # ",col:version,": columns whose stored value came from a change older than
            # _cdc_version (an untouched TOASTed value), or is not known yet (-1: below every
            # version, full-load rows' 0 included).
            '"_cdc_unknown" varchar(65535)',
        ]
        if c.primary_key:
            cols.append(f"PRIMARY KEY ({', '.join(q(k) for k in c.warehouse_key)})")
        else:
            cols += ['"_cdc_row" varchar(256) NOT NULL', '"_cdc_hash" char(32) NOT NULL']
            cols.append('PRIMARY KEY ("_cdc_row")')
        return cols

    def create_table(self, c: TableContract) -> str:
        body = ",\n  ".join(self.target_columns(c))
        return f"CREATE TABLE IF NOT EXISTS {self.table(c)} (\n  {body}\n)"

    def create_tombstones(self, c: TableContract) -> str:
        keys = [
            f"{q(c.column(k).warehouse_name)} {self.column_type(c.column(k))} NOT NULL"
            for k in c.primary_key
        ]
        if c.keyless:
            keys = ['"_cdc_row" varchar(256)']
        body = ", ".join([*keys, f'"_cdc_version" {self.VERSION} NOT NULL'])
        return f"CREATE TABLE IF NOT EXISTS {self.tombstones(c)} ({body})"

    def keyless_indexes(self, c: TableContract) -> list[str]:
        """Lookups a keyless table's load makes: a removal finds its row by hash; a change is
        checked against the tombstones by version and by row."""
        table, x = self.table(c), self.tombstones(c)
        return [
            # An index lives in its table's schema: its name need not hold the schema's.
            f"CREATE INDEX IF NOT EXISTS {q(derived_name(c.warehouse_table, '__cdc_hash'))} "
            f'ON {table} ("_cdc_hash")',
            f"CREATE INDEX IF NOT EXISTS {q(self.derived(c, '__deleted__version'))} ON {x} "
            '("_cdc_version")',
            f"CREATE INDEX IF NOT EXISTS {q(self.derived(c, '__deleted__row'))} ON {x} "
            '("_cdc_row")',
        ]

    def value_text(self, col: Column, expr: str) -> str:
        """`expr` as text, equal exactly when the values are equal (row hashes)."""
        return f"CAST({expr} AS text)"

    def row_hash(self, c: TableContract) -> str:
        """md5 over each column's md5 (or `n` for NULL): unambiguous, and bounded in length
        whatever the columns hold (Redshift's varchar stops at 65535 bytes)."""
        parts = " || ".join(
            f"COALESCE(MD5({self.value_text(col, q(col.warehouse_name))}), 'n')"
            for col in c.columns
        )
        return f"MD5({parts})"

    def create_ledger(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {LEDGER} (batch_id varchar(256) NOT NULL, "
            f"table_name varchar(256) NOT NULL, row_count bigint NOT NULL, "
            f"started_at {self.TIMESTAMPTZ} NOT NULL, "
            f"applied_at {self.TIMESTAMPTZ} NOT NULL, PRIMARY KEY (batch_id, table_name))"
        )

    def create_quarantine(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {QUARANTINE} (batch_id varchar(256) NOT NULL, "
            "table_name varchar(256) NOT NULL, sqlstate varchar(5), reason varchar(4096) "
            f"NOT NULL, quarantined_at {self.TIMESTAMPTZ} NOT NULL, "
            "PRIMARY KEY (batch_id, table_name))"
        )

    def bootstrap(self, contracts: list[TableContract], access: bool = True) -> list[str]:
        out = ['CREATE SCHEMA IF NOT EXISTS "cdc"', self.create_ledger(), self.create_quarantine()]
        for schema in sorted({c.warehouse_schema for c in contracts}):
            out.append(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
        for c in contracts:
            out.append(self.create_table(c))
            if c.delete_mode == "hard":
                out.append(self.create_tombstones(c))
            if c.keyless:
                out += self.keyless_indexes(c)
        schemas = ", ".join(q(x) for x in ["cdc", *sorted({c.warehouse_schema for c in contracts})])
        for role, privileges in ROLES.items():
            out.append(self.create_role(role))
            out.append(f"GRANT USAGE ON SCHEMA {schemas} TO {self.grantee(role)}")
            out.append(
                f"GRANT {privileges} ON ALL TABLES IN SCHEMA {schemas} TO {self.grantee(role)}"
            )
        return out + (self.analyst_access(contracts) if access else [])

    def analyst_access(self, contracts: list[TableContract]) -> list[str]:
        """The analyst role, from the contracts: column-level SELECT on every base table (all
        but the PII columns), and views without them in schema `analyst`, so that `SELECT *`
        works for analysts (views run with their owner's rights)."""
        analyst = self.grantee(ANALYST)
        out = [self.create_role(ANALYST), f"CREATE SCHEMA IF NOT EXISTS {q(ANALYST_SCHEMA)}"]
        for schema in sorted({c.warehouse_schema for c in contracts}):
            out.append(f"GRANT USAGE ON SCHEMA {q(schema)} TO {analyst}")
        for c in contracts:
            cols = [*analyst_columns(c), *ANALYST_META]
            # Column grants add up across bootstraps: a column classified PII after it was
            # granted (a pending column, issue 18, or a reclassification) is revoked by name.
            pii = [col.warehouse_name for col in c.columns if col.pii]
            if pii:
                out.append(
                    f"REVOKE SELECT ({', '.join(q(n) for n in pii)}) ON {self.table(c)} "  # nosec B608  # identifiers from validated contracts, quoted by q()
                    f"FROM {analyst}"
                )
            out.append(
                f"GRANT SELECT ({', '.join(q(n) for n in cols)}) ON {self.table(c)} TO {analyst}"
            )
            view = f"{q(ANALYST_SCHEMA)}.{q(c.warehouse_table)}"
            picked = ", ".join(q(n) for n in analyst_columns(c))
            out.append(
                f"CREATE OR REPLACE VIEW {view} AS SELECT {picked} FROM {self.table(c)} "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                'WHERE NOT "_cdc_deleted"'
            )
        out.append(f"GRANT USAGE ON SCHEMA {q(ANALYST_SCHEMA)} TO {analyst}")
        out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {q(ANALYST_SCHEMA)} TO {analyst}")
        from consumers.warehouse.analytics import star_schema

        return out + star_schema(self, contracts)

    def create_role(self, role: str) -> str:
        # Roles are cluster-wide in PostgreSQL: bootstrap of a second database must not fail.
        return (
            f"DO $$ BEGIN CREATE ROLE {q(role)} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )

    def grantee(self, role: str) -> str:
        return q(role)

    # ------------------------------------------------------------------ staging

    def stage_columns(self, c: TableContract) -> list[tuple[str, str]]:
        """Staging columns in Parquet file order (Redshift's COPY matches by position)."""
        cols = [(col.warehouse_name, self.column_type(col)) for col in c.columns]
        meta = [self.VERSION, "varchar(8)", self.TIMESTAMPTZ, "varchar(64)", "varchar(128)",
                "varchar(256)", "varchar(65535)", "varchar(65535)"]  # fmt: skip
        return cols + list(zip(STAGE_META, meta, strict=True))

    def create_stage(self, c: TableContract) -> str:
        body = ", ".join(f"{q(n)} {t}" for n, t in self.stage_columns(c))
        return f'CREATE TEMP TABLE "stage" ({body})'

    def copy_stage(self, c: TableContract, manifest_url: str, iam_role: str) -> str:
        """Locally the executor streams the Parquet rows with COPY FROM STDIN instead."""
        cols = ", ".join(q(n) for n, _ in self.stage_columns(c))
        return f'COPY "stage" ({cols}) FROM STDIN'

    def date_part(self, part: str, expr: str) -> str:
        return f"CAST(EXTRACT({part} FROM {expr}) AS integer)"

    def iso_day_of_week(self, expr: str) -> str:
        return f"CAST(EXTRACT(isodow FROM {expr}) AS integer)"  # Monday 1 .. Sunday 7

    def day_name(self, expr: str) -> str:
        return f"TO_CHAR({expr}, 'FMDay')"

    def month_name(self, expr: str) -> str:
        return f"TO_CHAR({expr}, 'FMMonth')"

    def provenance(self, expr: str, column: str) -> str:
        """The version recorded for `column` in a `_cdc_unknown` string, or NULL."""
        pattern = lit(f",{regex_literal(column)}:(-?[0-9]+),")
        return f"CAST(substring({expr} from {pattern}) AS {self.VERSION})"

    def lock(self, c: TableContract) -> str:
        return self.lock_all([c])

    def lock_all(self, contracts: list[TableContract]) -> str:
        # SHARE ROW EXCLUSIVE conflicts with itself: two loads of one table serialize.
        tables = ", ".join(self.table(c) for c in contracts)
        return f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE"

    def drop_temp(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS {q(name)}"


class RedshiftDialect(PostgresDialect):
    """Redshift differs in types (no arrays, interval, uuid, json types: SUPER and VARCHAR),
    COPY (from S3, Parquet, by a COPY manifest), LOCK and the current time."""

    name = "redshift"
    TYPES: ClassVar[dict[Kind, str]] = {
        **PostgresDialect.TYPES,
        Kind.NUMERIC: "varchar(256)",  # unconstrained numeric exceeds DECIMAL(38): kept exact
        Kind.TIME: "time",
        Kind.INTERVAL: "varchar(64)",
        Kind.UUID: "char(36)",
        Kind.JSON: "super",
        Kind.JSONB: "super",
        Kind.BYTEA: "varbyte(1024000)",
        Kind.TEXT_ARRAY: "super",
        Kind.INT_ARRAY: "super",
        Kind.ENUM: "varchar(256)",
        # issue 13 types (Amazon Redshift Database Developer Guide, "Data types"; sizes from
        # AWS DMS's source data types for PostgreSQL). Values over a size are dead letters
        # (events/columns.py redshift_limit), never truncated.
        Kind.ARRAY: "super",  # SERIALIZETOJSON loads the Parquet list as a SUPER array
        Kind.TIMETZ: "varchar(32)",  # COPY has no Parquet form for TIMETZ: the text
        Kind.MONEY: "decimal(19,2)",  # money's whole int64 range, in hundredths
        Kind.INET: "varchar(50)",  # DMS: STRING(50)
        Kind.MACADDR: "varchar(23)",  # DMS: STRING(18) for macaddr; macaddr8 needs 23
        Kind.BIT: "varchar(65535)",  # '0101': a bit string need not fill whole bytes
        Kind.XML: "varchar(65535)",  # SUPER does not take XML (SUPER limitations)
        Kind.CITEXT: "varchar(65535)",
        Kind.HSTORE: "super",  # the map as a SUPER object
        Kind.RANGE: "varchar(255)",  # DMS: STRING(255)
    }
    NATIVE: ClassVar[frozenset[Kind]] = frozenset()
    TEXT = "varchar(65535)"
    TIMESTAMPTZ = "timestamptz"
    MERGE_WITH_CONDITIONS = False

    def column_type(self, col: Column) -> str:
        if col.kind is Kind.TEXT and col.sql_type == "text":
            return self.TEXT
        if col.kind is Kind.TEXT and (n := char_length(col.sql_type)) is not None:
            # PostgreSQL's varchar(n)/char(n) count characters, Redshift's count bytes (Redshift
            # Developer Guide, "Character types": "lengths in bytes, not characters"; CHAR holds
            # single-byte characters only): room for n characters of up to 4 UTF-8 bytes each.
            return f"varchar({min(4 * n, 65535)})"
        if col.kind is Kind.BIT and (n := bit_length(col.sql_type)[0]) is not None:
            return f"varchar({n})"
        return super().column_type(col)

    def keyless_indexes(self, c: TableContract) -> list[str]:
        return []  # Redshift has no indexes (sort and distribution keys instead)

    def value_text(self, col: Column, expr: str) -> str:
        # SUPER and VARBYTE do not CAST to VARCHAR; neither does BOOLEAN (Redshift's CAST
        # and CONVERT functions: "You can't cast a BOOLEAN to a character type").
        if self.TYPES.get(col.kind) == "super":
            return f"JSON_SERIALIZE({expr})"
        if col.kind is Kind.BYTEA:
            return f"FROM_VARBYTE({expr}, 'hex')"
        if col.kind is Kind.BOOL:
            return f"CASE WHEN {expr} THEN 'true' WHEN NOT {expr} THEN 'false' END"
        return f"CAST({expr} AS varchar(65535))"

    def now(self) -> str:
        return "GETDATE()"

    def transaction_start(self) -> str:
        return "SYSDATE"  # Redshift's SYSDATE is the transaction's start

    def clock(self) -> str:
        return "GETDATE()"  # the current statement's start

    def longest_seconds(self, start: str, end: str) -> str:
        # DATEDIFF takes TIMESTAMP (Redshift "DATEDIFF function"), not TIMESTAMPTZ.
        return (
            f"max(DATEDIFF(microsecond, CAST({start} AS timestamp), CAST({end} AS timestamp)))"
            " / 1000000.0"
        )

    def create_stage(self, c: TableContract) -> str:
        body = ", ".join(f"{q(n)} {t}" for n, t in self.stage_columns(c))
        return f'CREATE TEMP TABLE "stage" ({body})'

    def copy_stage(self, c: TableContract, manifest_url: str, iam_role: str) -> str:
        # COPY from Parquet matches columns by position: the stage mirrors the file layout.
        # SERIALIZETOJSON loads Parquet lists into SUPER columns.
        return (
            f'COPY "stage" FROM {lit(manifest_url)} IAM_ROLE {lit(iam_role)} '
            "FORMAT AS PARQUET SERIALIZETOJSON MANIFEST"
        )

    def iso_day_of_week(self, expr: str) -> str:
        # Redshift has no isodow: DATE_PART(dow) is Sunday 0 .. Saturday 6.
        dow = f"DATE_PART(dow, {expr})"
        return f"CAST(CASE {dow} WHEN 0 THEN 7 ELSE {dow} END AS integer)"

    def provenance(self, expr: str, column: str) -> str:
        # Redshift's string literals take a backslash as an escape (REGEXP_SUBSTR: the pattern
        # '(\\w+)' means (\w+)), so the regex escapes are doubled.
        pattern = lit(f",{regex_literal(column).replace(chr(92), chr(92) * 2)}:(-?[0-9]+),")
        return f"CAST(REGEXP_SUBSTR({expr}, {pattern}, 1, 1, 'e') AS {self.VERSION})"

    def lock_all(self, contracts: list[TableContract]) -> str:
        return f"LOCK {', '.join(self.table(c) for c in contracts)}"

    def create_role(self, role: str) -> str:
        return f"CREATE ROLE {q(role)}"  # the bootstrap runs once on Redshift

    def grantee(self, role: str) -> str:
        return f"ROLE {q(role)}"
