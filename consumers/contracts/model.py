"""Table contracts: one Avro schema (.avsc) per replicated table, the single source of truth.

File `schemas/<schema>.<table>.avsc` is an Avro record schema (parsed and validated by fastavro)
with a few extra attributes that Avro ignores and we read:

- record level: `namespace` is the PostgreSQL schema, `name` the table; `primary_key` (list of
  column names, in key order); `delete_mode` (`hard` deletes the warehouse row, `soft` keeps it
  with `_cdc_deleted`); for a table without a primary key, either `append_only` (inserts only:
  its updates and deletes are not replicated, as DMS ignores them for keyless tables) or
  `"replica_identity": "full"` (the source table has REPLICA IDENTITY FULL: updates and deletes
  apply by the whole old row, the DMS before-image with BeforeImageSettings ColumnFilter `all`).
- field level: `sql_type` (the PostgreSQL type as in the source DDL, e.g. `numeric(10,2)`);
  `pii` (true for personal data: analysts never see it). A nullable column is the union
  `["null", T]` with `"default": null`.
- schema changes (README, "Schema changes"): record `new_columns` (`dead-letter`, the default,
  or `auto`: `cdc contracts diff --apply` adds a new nullable source column to the contract);
  field `"classification": "pending"` (a column added that way: withheld from analysts like a
  PII column until someone sets `pii` and removes the mark; a new column may be personal data,
  so the default is deny); field `renamed_from` (the column's previous name: the warehouse
  renames its column instead of adding an empty one, and records from before the rename are
  read by it); record `added_columns` (columns added at the source after the pipeline started:
  records from before the add lack them, which is a NULL, not a drop) and `dropped_columns`
  (columns dropped at the source: records from before the drop carry them, ignored). Both matter
  for dead letters redriven and replays of records older than the change (events/decode.py).
- names (names.py): `name`/`namespace` are Avro names; a table, schema or column whose PostgreSQL
  name is not one (`"year of birth"`, `"größe"`) carries the real name in `sql_name` (record:
  also `sql_schema`). `primary_key` lists the SQL names. `generated_columns` lists the source's
  generated columns, which are not replicated (the import leaves them out: see importer.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import fastavro
import orjson

from consumers.contracts import names
from consumers.contracts.types import Kind, canonical_sql_type, expected_avro, kind_of
from consumers.errors import ContractError

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DeleteMode = Literal["hard", "soft"]
NewColumns = Literal["auto", "dead-letter"]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    kind: Kind
    nullable: bool
    pii: bool
    avro: Any
    enum_symbols: tuple[str, ...] = ()
    avro_name: str = ""  # the field's Avro name when `name` is not one (names.py)
    doc: str = ""  # e.g. the source type of a column carried as text (contracts/importer.py)
    # Added by `cdc contracts diff --apply` and not classified yet: `pii` is then True (withheld
    # from analysts, default deny) until someone classifies it (contracts/drift.py).
    pending: bool = False
    renamed_from: str = ""  # the column's previous source name (warehouse/evolve.py renames)

    @property
    def warehouse_name(self) -> str:
        """The column's name in the warehouse: ASCII letters folded (names.py)."""
        return names.fold(self.name)


@dataclass(frozen=True)
class TableContract:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    delete_mode: DeleteMode = "hard"
    append_only: bool = False
    doc: str = ""
    full_row_identity: bool = False  # keyless, REPLICA IDENTITY FULL at the source
    generated_columns: tuple[str, ...] = ()  # at the source; not replicated (importer.py)
    new_columns: NewColumns = "dead-letter"  # evolution policy (contracts/drift.py)
    added_columns: tuple[str, ...] = ()  # may be absent from older records (a NULL)
    dropped_columns: tuple[str, ...] = ()  # ignored in older records

    @property
    def qualified(self) -> str:
        """schema.table as at the source: how manifests, the ledger and messages name it."""
        return f"{self.schema}.{self.name}"

    @property
    def warehouse_schema(self) -> str:
        return names.fold(self.schema)

    @property
    def warehouse_table(self) -> str:
        return names.fold(self.name)

    @property
    def warehouse_key(self) -> tuple[str, ...]:
        return tuple(names.fold(k) for k in self.primary_key)

    @property
    def file_name(self) -> str:
        """The contract's file name: schema.table.avsc, with `/` and `%` percent-encoded."""
        safe = self.qualified.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")
        return f"{safe}.avsc"

    @property
    def keyless(self) -> bool:
        """No primary key: rows are a multiset, loaded by change identity (warehouse/plan.py)."""
        return not self.primary_key

    @cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def column(self, name: str) -> Column:
        return self.by_name[name]

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

    @property
    def enum_types(self) -> dict[str, tuple[str, ...]]:
        return {c.sql_type: c.enum_symbols for c in self.columns if c.kind is Kind.ENUM}

    def to_avsc(self) -> dict[str, Any]:
        """The contract as the Avro schema document stored in schemas/."""
        fields: list[dict[str, Any]] = []
        taken: set[str] = set()
        for c in self.columns:
            avro = c.avro_name or names.avro_name(c.name, taken)
            taken.add(avro)
            f: dict[str, Any] = {"name": avro}
            if avro != c.name:
                f["sql_name"] = c.name
            f["type"] = ["null", c.avro] if c.nullable else c.avro
            if c.nullable:
                f["default"] = None
            f["sql_type"] = c.sql_type
            if c.pending:
                f["classification"] = "pending"
            elif c.pii:
                f["pii"] = True
            if c.renamed_from:
                f["renamed_from"] = c.renamed_from
            if c.doc:
                f["doc"] = c.doc
            fields.append(f)
        record, namespace = names.avro_name(self.name, set()), names.avro_name(self.schema, set())
        doc: dict[str, Any] = {"type": "record", "name": record, "namespace": namespace}
        if record != self.name:
            doc["sql_name"] = self.name
        if namespace != self.schema:
            doc["sql_schema"] = self.schema
        if self.doc:
            doc["doc"] = self.doc
        doc["primary_key"] = list(self.primary_key)
        doc["delete_mode"] = self.delete_mode
        if self.append_only:
            doc["append_only"] = True
        if self.full_row_identity:
            doc["replica_identity"] = "full"
        if self.generated_columns:
            doc["generated_columns"] = list(self.generated_columns)
        if self.new_columns != "dead-letter":
            doc["new_columns"] = self.new_columns
        if self.added_columns:
            doc["added_columns"] = list(self.added_columns)
        if self.dropped_columns:
            doc["dropped_columns"] = list(self.dropped_columns)
        doc["fields"] = fields
        return doc


def _fail(path: Path, problem: str, fix: str) -> ContractError:
    return ContractError(f"contract {path}: {problem}: {fix}")


def _column(path: Path, field: dict[str, Any]) -> Column:
    avro_name = field.get("name", "")
    if not isinstance(avro_name, str) or not names.AVRO_NAME.match(avro_name):
        raise _fail(
            path,
            f"field name {avro_name!r} is not an Avro name ([A-Za-z_][A-Za-z0-9_]*)",
            'use an Avro-safe "name" and put the column\'s real name in "sql_name"',
        )
    name = field.get("sql_name", avro_name)
    if not isinstance(name, str) or (bad := names.column_problem(name)):
        raise _fail(path, f"column name {name!r} {bad or 'is not a string'}", "rename it")
    avro = field["type"]
    nullable = isinstance(avro, list) and "null" in avro
    if nullable:
        rest = [t for t in avro if t != "null"]
        if len(rest) != 1:
            raise _fail(path, f"column {name} has a union other than [null, T]", "use [null, T]")
        avro = rest[0]
    raw_sql = field.get("sql_type")
    if not raw_sql:
        raise _fail(path, f"column {name} has no sql_type", 'add e.g. "sql_type": "integer"')
    is_enum = isinstance(avro, dict) and avro.get("type") == "enum"
    sql_type = canonical_sql_type(raw_sql)
    try:
        kind = kind_of(sql_type, is_enum=is_enum)
    except ValueError as e:
        raise _fail(
            path, f"column {name}: {e}", "use a type listed in the README type table"
        ) from None
    symbols: tuple[str, ...] = ()
    if is_enum:
        symbols = tuple(avro["symbols"])
        if not IDENTIFIER.match(sql_type):
            raise _fail(path, f"enum type {sql_type!r} is not a plain identifier", "rename it")
    else:
        want = expected_avro(kind, sql_type)
        if avro != want:
            raise _fail(
                path,
                f"column {name} ({sql_type}) has Avro type {orjson.dumps(avro).decode()}",
                f"use {orjson.dumps(want).decode()}",
            )
    classification = field.get("classification")
    if classification not in (None, "pending"):
        raise _fail(
            path,
            f"column {name} has classification {classification!r}",
            'classify it with "pii": true or false and remove "classification"',
        )
    renamed_from = field.get("renamed_from", "")
    if not isinstance(renamed_from, str) or (renamed_from and names.column_problem(renamed_from)):
        raise _fail(path, f"column {name}: renamed_from {renamed_from!r}", "use the old name")
    return Column(
        name=name,
        sql_type=sql_type,
        kind=kind,
        nullable=nullable,
        pii=bool(field.get("pii", False)) or classification == "pending",
        pending=classification == "pending",
        renamed_from=renamed_from,
        avro=avro,
        enum_symbols=symbols,
        avro_name=avro_name,
        doc=str(field.get("doc", "")),
    )


def parse_contract(doc: dict[str, Any], path: Path) -> TableContract:
    try:
        fastavro.parse_schema(doc)
    except Exception as e:  # fastavro raises SchemaParseException and plain ValueError/KeyError
        raise _fail(path, f"not a valid Avro schema ({e})", "fix the schema JSON") from None
    if doc.get("type") != "record":
        raise _fail(path, "top-level type is not a record", 'use "type": "record"')
    for what in ("namespace", "name"):
        if not names.AVRO_NAME.match(str(doc.get(what, ""))):
            raise _fail(
                path,
                f"record {what} {doc.get(what)!r} is not an Avro name ([A-Za-z_][A-Za-z0-9_]*)",
                f'use an Avro-safe "{what}" and put the real name in '
                f'"{"sql_schema" if what == "namespace" else "sql_name"}"',
            )
    schema = doc.get("sql_schema", doc["namespace"])
    table = doc.get("sql_name", doc["name"])
    for what, ident in (("schema", schema), ("table", table)):
        if not isinstance(ident, str) or (bad := names.problem(ident)):
            raise _fail(path, f"{what} name {ident!r} {bad or 'is not a string'}", "rename it")
    columns = tuple(_column(path, f) for f in doc["fields"])
    names_ = [c.name for c in columns]
    for what, listed in (("column", names_), ("field", [c.avro_name for c in columns])):
        if len(set(listed)) != len(listed):
            dup = sorted({n for n in listed if listed.count(n) > 1})
            raise _fail(path, f"duplicate {what} names {dup}", "remove the duplicates")
    for a, b in names.collisions(names_):
        raise _fail(
            path,
            f"columns {a!r} and {b!r} have the same warehouse name {names.fold(a)!r} (Redshift "
            "folds ASCII letters to lower case)",
            "rename one at the source, or leave one out of the contract",
        )
    append_only = bool(doc.get("append_only", False))
    identity = doc.get("replica_identity", "default")
    if identity not in ("default", "full"):
        raise _fail(path, f"replica_identity {identity!r}", 'use "full" or leave it out')
    full = identity == "full"
    pk = tuple(doc.get("primary_key") or ())
    if not pk and append_only == full:
        raise _fail(
            path,
            "no primary_key" if not full else 'both "append_only" and "replica_identity"',
            'add a primary key; or mark the table "append_only": true (inserts only); or set '
            'REPLICA IDENTITY FULL at the source and mark it "replica_identity": "full"',
        )
    if pk and (full or append_only):
        raise _fail(
            path,
            "a table with a primary_key is loaded by its key",
            'remove "append_only" / "replica_identity" (or the primary_key)',
        )
    if not pk and doc.get("delete_mode", "hard") != "hard":
        raise _fail(path, "a table without a primary key deletes rows", 'use "delete_mode": "hard"')
    for k in pk:
        if k not in names_:
            raise _fail(path, f"primary key column {k!r} is not a field", "fix primary_key")
        if dict(zip(names_, columns, strict=True))[k].nullable:
            raise _fail(path, f"primary key column {k!r} is nullable", "make it non-null")
    delete_mode = doc.get("delete_mode", "hard")
    if delete_mode not in ("hard", "soft"):
        raise _fail(path, f"delete_mode {delete_mode!r}", 'use "hard" or "soft"')
    new_columns = doc.get("new_columns", "dead-letter")
    if new_columns not in ("auto", "dead-letter"):
        raise _fail(path, f"new_columns {new_columns!r}", 'use "auto" or "dead-letter"')
    added = tuple(doc.get("added_columns") or ())
    for a in added:
        if a not in names_ or dict(zip(names_, columns, strict=True))[a].nullable is False:
            raise _fail(
                path,
                f"added_columns lists {a!r}, which is not a nullable field",
                "list only nullable columns of the contract there",
            )
    dropped = tuple(doc.get("dropped_columns") or ())
    for d in dropped:
        if d in names_:
            raise _fail(
                path, f"dropped_columns lists {d!r}, which is a field", "remove one of the two"
            )
    return TableContract(
        schema=schema,
        name=table,
        columns=columns,
        primary_key=pk,
        delete_mode=delete_mode,
        append_only=append_only,
        doc=doc.get("doc", ""),
        full_row_identity=full,
        generated_columns=tuple(doc.get("generated_columns") or ()),
        new_columns=new_columns,
        added_columns=added,
        dropped_columns=dropped,
    )


def load_contract(path: Path) -> TableContract:
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as e:
        raise ContractError(
            f"contract {path}: cannot read it ({e.strerror}): check the path"
        ) from None
    except orjson.JSONDecodeError as e:
        raise _fail(path, f"not valid JSON ({e})", "fix the JSON syntax") from None
    return parse_contract(doc, path)


def load_contracts(directory: Path, tables: Iterable[str] | None = None) -> list[TableContract]:
    """Every contract in `directory`, sorted by qualified name; `tables` filters by name."""
    if not directory.is_dir():
        raise ContractError(
            f"contracts directory {directory} does not exist: pass --contracts DIR "
            "or create contracts with `cdc contracts import`"
        )
    contracts = [load_contract(p) for p in sorted(directory.glob("*.avsc"))]
    if not contracts:
        raise ContractError(
            f"no *.avsc contracts in {directory}: create them with `cdc contracts import`"
        )
    seen: dict[str, TableContract] = {}
    warehouse: dict[tuple[str, str], TableContract] = {}
    for c in contracts:
        if c.qualified in seen:
            raise ContractError(f"two contracts for table {c.qualified} in {directory}: keep one")
        seen[c.qualified] = c
        other = warehouse.setdefault((c.warehouse_schema, c.warehouse_table), c)
        if other is not c:
            raise ContractError(
                f"tables {other.qualified!r} and {c.qualified!r} in {directory} have the same "
                f"warehouse name {c.warehouse_schema}.{c.warehouse_table} (Redshift folds ASCII "
                "letters to lower case): keep one of the two contracts"
            )
    if tables is not None:
        wanted = list(tables)
        chosen = []
        for t in wanted:
            match = seen.get(t) or next((c for c in contracts if c.name == t), None)
            if match is None:
                raise ContractError(
                    f"no contract for table {t!r} in {directory}: "
                    f"choose from {', '.join(c.name for c in contracts)}"
                )
            chosen.append(match)
        return chosen
    return contracts
