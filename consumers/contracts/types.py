"""The type map: one row per supported PostgreSQL source type family.

A contract column carries its PostgreSQL type (`sql_type`, as written in the source DDL) and an
Avro type. `kind_of` derives the family from the `sql_type`; `expected_avro` is the Avro type
that family must have, so a contract whose two types disagree is rejected when it is loaded.
Later stages (Arrow, Redshift, PostgreSQL warehouse) add their columns to this same table.

The `dms_type` column is the DMS data type the PostgreSQL source maps the family to, with the
endpoint settings in infra/dms/ (AWS DMS User Guide, "Source data types for PostgreSQL"): it is
what `create-table` control records report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    INT2 = "int2"
    INT4 = "int4"
    INT8 = "int8"
    DECIMAL = "decimal"  # numeric(p,s)
    NUMERIC = "numeric"  # unconstrained numeric: no fixed precision, kept as an exact string
    FLOAT4 = "float4"
    FLOAT8 = "float8"
    BOOL = "bool"
    TEXT = "text"  # text, varchar(n), char(n)
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"  # without time zone
    TIMESTAMPTZ = "timestamptz"
    INTERVAL = "interval"
    UUID = "uuid"
    JSON = "json"
    JSONB = "jsonb"
    BYTEA = "bytea"
    TEXT_ARRAY = "text[]"
    INT_ARRAY = "int[]"
    ENUM = "enum"
    # issue 13: the types real databases use
    ARRAY = "array"  # a one-dimensional array of a supported scalar type (bigint[], date[], ...)
    TIMETZ = "timetz"
    MONEY = "money"
    INET = "inet"  # inet, cidr
    MACADDR = "macaddr"  # macaddr, macaddr8
    BIT = "bit"  # bit(n), varbit(n), varbit
    XML = "xml"
    CITEXT = "citext"
    HSTORE = "hstore"
    RANGE = "range"  # int4range, int8range, numrange, tsrange, tstzrange, daterange


# Types whose values PostgreSQL can store out of line (TOAST): variable-length ones that can
# exceed ~2 kB. An UPDATE that leaves such a value untouched does not carry it in the WAL.
# interval and numeric(p,s) are small fixed-size or bounded values and are never TOASTed.
TOASTABLE = frozenset(
    {
        Kind.TEXT,
        Kind.NUMERIC,
        Kind.JSON,
        Kind.JSONB,
        Kind.BYTEA,
        Kind.TEXT_ARRAY,
        Kind.INT_ARRAY,
        Kind.ARRAY,
        Kind.BIT,
        Kind.XML,
        Kind.CITEXT,
        Kind.HSTORE,
        Kind.RANGE,
    }
)


@dataclass(frozen=True)
class TypeInfo:
    avro: Any  # the Avro type of a non-null value
    dms_type: str


_TYPES: dict[Kind, TypeInfo] = {
    Kind.INT2: TypeInfo("int", "INT2"),
    Kind.INT4: TypeInfo("int", "INT4"),
    Kind.INT8: TypeInfo("long", "INT8"),
    Kind.DECIMAL: TypeInfo({"type": "bytes", "logicalType": "decimal"}, "NUMERIC"),
    # MapUnboundedNumericAsString=true: DMS maps unbounded numeric to STRING instead of
    # NUMERIC(28,6), which would round away digits.
    Kind.NUMERIC: TypeInfo("string", "STRING"),
    Kind.FLOAT4: TypeInfo("float", "REAL4"),
    Kind.FLOAT8: TypeInfo("double", "REAL8"),
    # MapBooleanAsBoolean=true: without it DMS maps boolean to VARCHAR(5).
    Kind.BOOL: TypeInfo("boolean", "BOOLEAN"),
    Kind.TEXT: TypeInfo("string", "WSTRING"),
    Kind.DATE: TypeInfo({"type": "int", "logicalType": "date"}, "DATE"),
    Kind.TIME: TypeInfo({"type": "long", "logicalType": "time-micros"}, "TIME"),
    Kind.TIMESTAMP: TypeInfo({"type": "long", "logicalType": "local-timestamp-micros"}, "DATETIME"),
    Kind.TIMESTAMPTZ: TypeInfo({"type": "long", "logicalType": "timestamp-micros"}, "DATETIME"),
    Kind.INTERVAL: TypeInfo("string", "STRING"),
    Kind.UUID: TypeInfo({"type": "string", "logicalType": "uuid"}, "STRING"),
    Kind.JSON: TypeInfo("string", "NCLOB"),
    Kind.JSONB: TypeInfo("string", "NCLOB"),
    Kind.BYTEA: TypeInfo("bytes", "BLOB"),
    Kind.TEXT_ARRAY: TypeInfo({"type": "array", "items": ["null", "string"]}, "NCLOB"),
    Kind.INT_ARRAY: TypeInfo({"type": "array", "items": ["null", "int"]}, "NCLOB"),
    Kind.ENUM: TypeInfo({"type": "enum"}, "STRING"),
    # AWS DMS User Guide, "Using a PostgreSQL database as a source", source data types: ARRAY,
    # HSTORE → NCLOB; MONEY → NUMERIC(38,4); CIDR, INET → STRING(50); MACADDR → STRING(18);
    # XML → CLOB; TSRANGE, TSTZRANGE, INT4RANGE, INT8RANGE, NUMRANGE, DATERANGE → STRING(255).
    # timetz, bit/varbit and citext are not in that table: DMS hands them over as their text
    # (STRING); the consumers accept exactly PostgreSQL's text output for them.
    Kind.ARRAY: TypeInfo({"type": "array"}, "NCLOB"),  # items: see expected_avro
    Kind.TIMETZ: TypeInfo("string", "STRING"),
    Kind.MONEY: TypeInfo(
        {"type": "bytes", "logicalType": "decimal", "precision": 19, "scale": 2}, "NUMERIC"
    ),
    Kind.INET: TypeInfo("string", "STRING"),
    Kind.MACADDR: TypeInfo("string", "STRING"),
    Kind.BIT: TypeInfo("string", "STRING"),
    Kind.XML: TypeInfo("string", "CLOB"),
    Kind.CITEXT: TypeInfo("string", "NCLOB"),
    Kind.HSTORE: TypeInfo("string", "NCLOB"),
    Kind.RANGE: TypeInfo("string", "STRING"),
}

# PostgreSQL spellings (as format_type() prints them, and common aliases) → canonical sql_type.
_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int2": "smallint",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "integer[]": "int[]",
    "int4[]": "int[]",
    "decimal": "numeric",
    "time with time zone": "timetz",
    "bit varying": "varbit",
}
_SIMPLE: dict[str, Kind] = {
    "smallint": Kind.INT2,
    "integer": Kind.INT4,
    "bigint": Kind.INT8,
    "numeric": Kind.NUMERIC,
    "real": Kind.FLOAT4,
    "double precision": Kind.FLOAT8,
    "boolean": Kind.BOOL,
    "text": Kind.TEXT,
    "date": Kind.DATE,
    "time": Kind.TIME,
    "timestamp": Kind.TIMESTAMP,
    "timestamptz": Kind.TIMESTAMPTZ,
    "interval": Kind.INTERVAL,
    "uuid": Kind.UUID,
    "json": Kind.JSON,
    "jsonb": Kind.JSONB,
    "bytea": Kind.BYTEA,
    "text[]": Kind.TEXT_ARRAY,
    "int[]": Kind.INT_ARRAY,
    "timetz": Kind.TIMETZ,
    "money": Kind.MONEY,
    "inet": Kind.INET,
    "cidr": Kind.INET,
    "macaddr": Kind.MACADDR,
    "macaddr8": Kind.MACADDR,
    "varbit": Kind.BIT,
    "xml": Kind.XML,
    "citext": Kind.CITEXT,
    "hstore": Kind.HSTORE,
    "int4range": Kind.RANGE,
    "int8range": Kind.RANGE,
    "numrange": Kind.RANGE,
    "tsrange": Kind.RANGE,
    "tstzrange": Kind.RANGE,
    "daterange": Kind.RANGE,
}
_DECIMAL = re.compile(r"^(?:numeric|decimal)\((\d+),\s*(\d+)\)$")
_VARCHAR = re.compile(r"^(?:character varying|varchar)\((\d+)\)$")
_CHAR = re.compile(r"^(?:character|char|bpchar)\((\d+)\)$")
# format_type's spellings with a precision or field restriction; the canonical form keeps them
# (the local warehouse declares the same type) and the family ignores them.
_PRECISE = re.compile(r"^(timestamp|time)\((\d)\)(?: (with|without) time zone)?$")
_BIT = re.compile(r"^(bit|varbit|bit varying)\((\d+)\)$")
_INTERVAL = re.compile(
    r"^interval(?: (?:year|month|day|hour|minute|second)(?: to (?:month|hour|minute|second))?)?"
    r"(?:\(\d\))?$"
)
_TIMED = {"timestamp": Kind.TIMESTAMP, "timestamptz": Kind.TIMESTAMPTZ, "time": Kind.TIME,
          "timetz": Kind.TIMETZ}  # fmt: skip
_EXTENSION_TYPES = ("citext", "hstore")  # format_type may qualify them with their schema


def canonical_sql_type(sql_type: str) -> str:
    """One spelling per type: 'character varying(40)' → 'varchar(40)', and so on."""
    t = " ".join(sql_type.strip().lower().split())
    t = _ALIASES.get(t, t)
    if m := _DECIMAL.match(t):
        return f"numeric({m.group(1)},{m.group(2)})"
    if m := _VARCHAR.match(t):
        return f"varchar({m.group(1)})"
    if m := _CHAR.match(t):
        return f"char({m.group(1)})"
    if t == "character varying":
        return "text"
    if m := _PRECISE.match(t):
        base = m.group(1) + ("tz" if m.group(3) == "with" else "")
        return f"{base}({m.group(2)})"
    if m := _BIT.match(t):
        return f"{'bit' if m.group(1) == 'bit' else 'varbit'}({m.group(2)})"
    if t.endswith("[]"):
        element = canonical_sql_type(t[:-2])
        return _ALIASES.get(f"{element}[]", f"{element}[]")
    if "." in t and t.rsplit(".", 1)[1].strip('"') in _EXTENSION_TYPES:
        return t.rsplit(".", 1)[1].strip('"')
    return t


def _timed(sql_type: str) -> Kind | None:
    """timestamp(3), timestamptz(6), time(0), timetz(2): their family."""
    head, _, rest = sql_type.partition("(")
    return _TIMED.get(head) if rest[:1].isdigit() and rest.endswith(")") else None


def array_element(sql_type: str) -> tuple[str, Kind]:
    """The element type of an array type ('bigint[]' → ('bigint', INT8)), or ValueError."""
    if not sql_type.endswith("[]"):
        raise ValueError(f"{sql_type!r} is not an array type")
    element = sql_type[:-2]
    kind = kind_of(element)
    if kind in _NO_ARRAYS:
        raise ValueError(f"arrays of {element} are not supported")
    return element, kind


def kind_of(sql_type: str, *, is_enum: bool = False) -> Kind:
    """The type family of a canonical sql_type; `is_enum` for a user-defined enum type name."""
    if is_enum:
        return Kind.ENUM
    if sql_type in _SIMPLE:
        return _SIMPLE[sql_type]
    if _DECIMAL.match(sql_type):
        return Kind.DECIMAL
    if _VARCHAR.match(sql_type) or _CHAR.match(sql_type):
        return Kind.TEXT
    if (timed := _timed(sql_type)) is not None:
        return timed
    if _BIT.match(sql_type):
        return Kind.BIT
    if _INTERVAL.match(sql_type):
        return Kind.INTERVAL
    if sql_type.endswith("[]"):
        array_element(sql_type)
        return Kind.ARRAY
    raise ValueError(f"unsupported PostgreSQL type {sql_type!r}")


def decimal_precision_scale(sql_type: str) -> tuple[int, int]:
    m = _DECIMAL.match(sql_type)
    if not m:
        raise ValueError(f"{sql_type!r} is not numeric(p,s)")
    return int(m.group(1)), int(m.group(2))


def char_length(sql_type: str) -> int | None:
    m = _VARCHAR.match(sql_type) or _CHAR.match(sql_type)
    return int(m.group(1)) if m else None


def bit_length(sql_type: str) -> tuple[int | None, bool]:
    """(n, fixed) of bit(n) / varbit(n); (None, False) for an unbounded varbit."""
    m = _BIT.match(sql_type)
    return (int(m.group(2)), m.group(1) == "bit") if m else (None, False)


# Array elements typed in the lake (Parquet list items); every other element is carried as its
# PostgreSQL text, checked by the element type's converter (events/columns.py).
ARRAY_ITEMS_TYPED = {Kind.INT2: "int", Kind.INT4: "int", Kind.INT8: "long", Kind.BOOL: "boolean"}
# No arrays of these: nested or document types, and the families carried whole as text.
_NO_ARRAYS = frozenset({Kind.ARRAY, Kind.TEXT_ARRAY, Kind.INT_ARRAY, Kind.ENUM, Kind.JSON,
                        Kind.JSONB, Kind.HSTORE, Kind.XML, Kind.MONEY})  # fmt: skip


def type_info(kind: Kind) -> TypeInfo:
    return _TYPES[kind]


def expected_avro(kind: Kind, sql_type: str) -> Any:
    """The Avro type a non-null value of this column must have in its contract."""
    avro = _TYPES[kind].avro
    if kind is Kind.DECIMAL:
        precision, scale = decimal_precision_scale(sql_type)
        return {**avro, "precision": precision, "scale": scale}
    if kind is Kind.ARRAY:
        element = array_element(sql_type)[1]
        return {"type": "array", "items": ["null", ARRAY_ITEMS_TYPED.get(element, "string")]}
    return avro


def supported_sql_types() -> list[str]:
    return sorted(
        [*_SIMPLE, "numeric(p,s)", "varchar(n)", "char(n)", "<enum type>", "timestamp(p)",
         "timestamptz(p)", "time(p)", "timetz(p)", "bit(n)", "varbit(n)",
         "interval <fields>(p)", "<supported scalar>[]", "<domain over a supported type>"]
    )  # fmt: skip
