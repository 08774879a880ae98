"""Type a batch of change events into an Arrow table, column by column, against the contract.

Fast path: one Arrow conversion or cast per column (ints, decimals from exact strings, dates,
timestamps, ...). When a column does not convert in bulk, it is typed value by value so each
bad value is attributed to its row: those rows are dead-lettered with the reason, the rest are
written. The Arrow schema (contract columns + `_cdc_*` metadata columns) is the Parquet schema.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from consumers.contracts.model import Column, TableContract
from consumers.contracts.types import (
    ARRAY_ITEMS_TYPED,
    Kind,
    array_element,
    bit_length,
    char_length,
    decimal_precision_scale,
)
from consumers.events import hstore, interval, pgarray
from consumers.events.model import DELETE, ChangeEvent

UTC_US = pa.timestamp("us", tz="UTC")
METADATA_FIELDS = [
    pa.field("_cdc_version", pa.decimal128(38, 0), nullable=False),
    pa.field("_cdc_op", pa.string(), nullable=False),
    pa.field("_cdc_commit_ts", UTC_US),
    pa.field("_cdc_shard", pa.string(), nullable=False),
    pa.field("_cdc_sequence", pa.string(), nullable=False),
    pa.field("_cdc_batch", pa.string(), nullable=False),
    # ",col1,col2,": a string, so both warehouses test membership with POSITION(',c,' IN ...)
    pa.field("_cdc_unchanged", pa.string()),
    pa.field("_cdc_old_key", pa.string()),
]
_NUMERIC_RE = r"^(-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|NaN)$"
_UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def arrow_type(col: Column) -> pa.DataType:
    k = col.kind
    if k is Kind.DECIMAL:
        return pa.decimal128(*decimal_precision_scale(col.sql_type))
    if k is Kind.ARRAY:
        element = array_element(col.sql_type)[1]
        return pa.list_(_ARROW[element] if element in ARRAY_ITEMS_TYPED else pa.string())
    return _ARROW[k]


_ARROW: dict[Kind, pa.DataType] = {
    Kind.INT2: pa.int16(),
    Kind.INT4: pa.int32(),
    Kind.INT8: pa.int64(),
    Kind.NUMERIC: pa.string(),  # exact; no fixed precision fits every value
    Kind.FLOAT4: pa.float32(),
    Kind.FLOAT8: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.TEXT: pa.string(),
    Kind.DATE: pa.date32(),
    Kind.TIME: pa.time64("us"),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.TIMESTAMPTZ: UTC_US,
    Kind.INTERVAL: pa.string(),
    Kind.UUID: pa.string(),
    Kind.JSON: pa.string(),
    Kind.JSONB: pa.string(),
    Kind.BYTEA: pa.binary(),
    Kind.TEXT_ARRAY: pa.list_(pa.string()),
    Kind.INT_ARRAY: pa.list_(pa.int32()),
    Kind.ENUM: pa.string(),
    Kind.TIMETZ: pa.string(),
    # money: DMS maps it to NUMERIC(38,4); PostgreSQL's money is an int64 of hundredths under
    # a two-digit lc_monetary (the capture and the loader run with lc_monetary=C).
    Kind.MONEY: pa.decimal128(19, 2),
    Kind.INET: pa.string(),
    Kind.MACADDR: pa.string(),
    Kind.BIT: pa.string(),
    Kind.XML: pa.string(),
    Kind.CITEXT: pa.string(),
    Kind.HSTORE: pa.string(),  # the map as a JSON object (events/hstore.py)
    Kind.RANGE: pa.string(),
}


def arrow_schema(contract: TableContract) -> pa.Schema:
    # Parquet columns carry the warehouse names (ASCII folded, contracts/names.py): the Glue
    # tables over the lake name them so, and Glue/Athena names are lower case.
    fields = [pa.field(c.warehouse_name, arrow_type(c), nullable=True) for c in contract.columns]
    return pa.schema(fields + METADATA_FIELDS)


# ---------------------------------------------------------------- value-by-value (slow path)


def _int(bits: int) -> Callable[[Any], int]:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def conv(v: Any) -> int:
        if isinstance(v, bool):
            raise ValueError(f"boolean {v} for an integer")
        if isinstance(v, float | Decimal):  # Decimal: an exactly decoded JSON number
            try:
                whole = int(v)  # DMS without UseLargeIntegerValue sends bigints as doubles
            except (OverflowError, ValueError):
                raise ValueError(f"{v} is not a whole number") from None
            if whole != v:
                raise ValueError(f"{v} is not a whole number")
            v = whole
        elif isinstance(v, str):
            v = int(v)
        if not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{v!r} is out of range for a {bits}-bit integer")
        return v

    return conv


def _decimal(col: Column) -> Callable[[Any], Decimal]:
    precision, scale = decimal_precision_scale(col.sql_type)
    quantum = Decimal(1).scaleb(-scale)

    def conv(v: Any) -> Decimal:
        try:
            d = v if isinstance(v, Decimal) else Decimal(v if isinstance(v, str) else repr(v))
        except InvalidOperation:
            raise ValueError(f"{v!r} is not a decimal number") from None
        if not d.is_finite():
            raise ValueError(f"{v!r} is not a finite decimal")
        try:
            q = d.quantize(quantum)
        except InvalidOperation:  # more digits than the decimal context holds
            raise ValueError(f"{v!r} has more than {precision} digits") from None
        if q != d:
            raise ValueError(f"{v!r} has more than {scale} decimal places")
        if len(q.as_tuple().digits) > precision:
            raise ValueError(f"{v!r} has more than {precision} digits")
        return q

    return conv


def _numeric(v: Any) -> str:
    s = v if isinstance(v, str) else str(v) if isinstance(v, Decimal) else repr(v)
    try:
        Decimal(s)
    except InvalidOperation:
        raise ValueError(f"{v!r} is not a number") from None
    return s


_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("boolean for a float")
    if isinstance(v, int | float | Decimal):
        return float(v)
    if isinstance(v, str) and v in _FLOAT_WORDS:
        return _FLOAT_WORDS[v]
    raise ValueError(f"{v!r} is not a number")


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if v in ("true", "t", "1", 1):  # MapBooleanAsBoolean off: DMS sends "true"/"false"
        return True
    if v in ("false", "f", "0", 0):
        return False
    raise ValueError(f"{v!r} is not a boolean")


def _text(col: Column) -> Callable[[Any], str]:
    limit = char_length(col.sql_type)
    symbols = set(col.enum_symbols)

    def conv(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError(f"{v!r} is not a string")
        if limit is not None and len(v) > limit:
            raise ValueError(f"{len(v)} characters, over {col.sql_type}")
        if symbols and v not in symbols:
            raise ValueError(f"{v!r} is not one of the enum's values {sorted(symbols)}")
        if col.kind is Kind.UUID:
            return str(uuid.UUID(v))
        return v

    return conv


def _date(v: Any) -> date:
    return date.fromisoformat(v)


def _time(v: Any) -> time:
    return time.fromisoformat(v)


_FRACTION = re.compile(r"\.(\d{7,})")


def _iso(v: Any) -> datetime:
    """An ISO 8601 time (`T` or a space, any fraction): Python 3.11's fromisoformat would cut
    a fraction beyond microseconds silently; PostgreSQL keeps microseconds, so digits beyond
    them must be zeros, or the value is refused rather than altered."""
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not a time string")
    m = _FRACTION.search(v)
    if m and m.group(1)[6:].strip("0"):
        raise ValueError(f"{v!r} is more precise than a microsecond")
    return datetime.fromisoformat(v)


def _timestamp(v: Any) -> datetime:
    # DMS writes a timestamp without time zone with a `Z` ("2010-11-01T00:02:00.100000Z", and
    # no fraction when it is zero): the source's wall-clock value, not an offset to apply
    # (issue "Real AWS DMS", published DMS output). Any other zone is not DMS's: refused.
    d = _iso(v[:-1] if isinstance(v, str) and v.endswith("Z") else v)
    if d.tzinfo is not None:
        raise ValueError(f"{v!r} has a time zone; the column is timestamp without time zone")
    return d


def _timestamptz(v: Any) -> datetime:
    d = _iso(v.replace("Z", "+00:00") if isinstance(v, str) else v)
    if d.tzinfo is None:
        raise ValueError(f"{v!r} has no time zone; the column is timestamptz")
    return d.astimezone(UTC)


_HEX = re.compile(r"(?:0[xX])?((?:[0-9a-fA-F]{2})*)")


def _hex(v: Any) -> bytes:
    # DMS writes BLOB values (bytea) as hex, with a 0x prefix unless the Kinesis endpoint has
    # NoHexPrefix (KinesisSettings.NoHexPrefix, AWS DMS API reference); either case of digits.
    m = _HEX.fullmatch(v) if isinstance(v, str) else None
    if m is None:
        raise ValueError(
            "bytea value is not hex (DMS writes binary as hex; set "
            "CDC_BINARY_ENCODING=base64 only if your producer writes base64)"
        )
    return bytes.fromhex(m.group(1))


def _base64(v: Any) -> bytes:
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ValueError("bytea value is not base64 (CDC_BINARY_ENCODING=base64)") from None


BINARY_ENCODINGS: dict[str, Callable[[Any], bytes]] = {"hex": _hex, "base64": _base64}


def _interval(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not an interval string")
    return interval.canonical(v)


def _text_array(v: Any) -> list[str | None]:
    if isinstance(v, list):
        return [None if x is None else str(x) for x in v]
    return pgarray.parse(v)


def _int_array(v: Any) -> list[int | None]:
    items = v if isinstance(v, list) else pgarray.parse(v)
    to_int = _int(32)
    return [None if x is None else to_int(x) for x in items]


_TIMETZ = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$")
_MACADDR = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}(?:(?::[0-9a-fA-F]{2}){2})?$")
_BOUND = r'(?:"(?:[^"\\]|\\.)*"|[^,"()\[\]]*)'
_RANGE = re.compile(rf"^(?:empty|[\[(]{_BOUND},{_BOUND}[\])])$")


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if not isinstance(v, str) or not pattern.match(v):
            raise ValueError(f"{str(v)[:40]!r} is not a {what}")
        return v

    return conv


def _inet(col: Column) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError(f"{v!r} is not a network address string")
        try:
            if col.sql_type == "cidr":
                ipaddress.ip_network(v, strict=True)
            else:
                ipaddress.ip_interface(v)
        except ValueError:
            raise ValueError(f"{v[:50]!r} is not a valid {col.sql_type}") from None
        return v

    return conv


def _bits(col: Column) -> Callable[[Any], str]:
    n, fixed = bit_length(col.sql_type)

    def conv(v: Any) -> str:
        if not isinstance(v, str) or v.strip("01"):
            raise ValueError(f"{str(v)[:40]!r} is not a bit string")
        if n is not None and (len(v) != n if fixed else len(v) > n):
            raise ValueError(f"{len(v)} bits, not what {col.sql_type} holds")
        return v

    return conv


def _hstore(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not an hstore string")
    return orjson.dumps(hstore.parse(v)).decode()


_MONEY = Column("money", "numeric(19,2)", Kind.DECIMAL, True, False, None)


def _array(col: Column, binary: str) -> Callable[[Any], list[Any]]:
    """A one-dimensional array, as DMS sends it: PostgreSQL's array literal (NCLOB). Integer
    and boolean elements are typed; every other element keeps its PostgreSQL text (the local
    warehouse's native array type reads it back; Redshift's SUPER holds it as a string), checked
    by the element type's own converter so a bad element is a dead letter, not a failed load."""
    sql, kind = array_element(col.sql_type)
    element = value_converter(Column(col.name, sql, kind, True, False, None), binary)
    typed = kind in ARRAY_ITEMS_TYPED
    check: Callable[[Any], Any] = _ELEMENT_TEXT.get(kind) or element

    def conv(v: Any) -> list[Any]:
        items = v if isinstance(v, list) else pgarray.parse(v) if isinstance(v, str) else None
        if items is None:
            raise ValueError(f"{v!r} is not an array")
        out: list[Any] = []
        for x in items:
            if x is None:
                out.append(None)
            elif typed:
                out.append(element(x))
            elif not isinstance(x, str):
                raise ValueError(f"array element {x!r} is not a string")
            else:
                check(x)
                out.append(x)
        return out

    return conv


def _float_text(v: str) -> float:
    return float(v)  # "1.5", "NaN", "Infinity", "-Infinity": PostgreSQL's float text


def _bytea_text(v: str) -> bytes:
    if not v.startswith("\\x"):
        raise ValueError(f"{v[:40]!r} is not a bytea in hex output")
    return bytes.fromhex(v[2:])


# Array elements arrive as the element type's PostgreSQL text, not DMS's JSON value.
_ELEMENT_TEXT: dict[Kind, Callable[[str], Any]] = {
    Kind.FLOAT4: _float_text,
    Kind.FLOAT8: _float_text,
    Kind.BYTEA: _bytea_text,
}


def value_converter(col: Column, binary: str = "hex") -> Callable[[Any], Any]:
    """The value-by-value converter of a column; `binary` is how bytea values are encoded in
    the records (Settings.binary_encoding)."""
    k = col.kind
    if k in (Kind.INT2, Kind.INT4, Kind.INT8):
        return _int({Kind.INT2: 16, Kind.INT4: 32, Kind.INT8: 64}[k])
    if k is Kind.DECIMAL:
        return _decimal(col)
    if k is Kind.MONEY:
        return _decimal(_MONEY)
    if k is Kind.ARRAY:
        return _array(col, binary)
    if k is Kind.INET:
        return _inet(col)
    if k is Kind.BIT:
        return _bits(col)
    simple: dict[Kind, Callable[[Any], Any]] = {
        Kind.NUMERIC: _numeric,
        Kind.FLOAT4: _float,
        Kind.FLOAT8: _float,
        Kind.BOOL: _bool,
        Kind.DATE: _date,
        Kind.TIME: _time,
        Kind.TIMESTAMP: _timestamp,
        Kind.TIMESTAMPTZ: _timestamptz,
        Kind.BYTEA: BINARY_ENCODINGS[binary],
        Kind.INTERVAL: _interval,
        Kind.TEXT_ARRAY: _text_array,
        Kind.INT_ARRAY: _int_array,
        Kind.TIMETZ: _matching(_TIMETZ, "time with time zone (HH:MM:SS[.ffffff]+HH[:MM])"),
        Kind.MACADDR: _matching(_MACADDR, "MAC address"),
        Kind.RANGE: _matching(_RANGE, f"{col.sql_type} (PostgreSQL's range text)"),
        Kind.HSTORE: _hstore,
    }
    return simple.get(k) or _text(col)


# ---------------------------------------------------------------- column at a time (fast path)


def _all(mask: pa.Array) -> bool:
    """True when every non-null entry of a boolean mask is true."""
    return pc.all(mask).as_py() is not False


def check_strings(col: Column, arr: pa.Array) -> pa.Array:
    """A string column typed in bulk: cast (decimal, date, timestamp) or checked (numeric, uuid,
    enum, length). Raises when any value breaks the contract."""
    k = col.kind
    if k is Kind.TIMESTAMP:  # DMS's `Z` on a naive timestamp (see _timestamp)
        arr = pc.replace_substring_regex(arr, "Z$", "")
    if k in (Kind.DECIMAL, Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return check_storable(col, arr.cast(arrow_type(col)))
    check_storable(col, arr)
    limit = char_length(col.sql_type)
    if (
        (k is Kind.NUMERIC and not _all(pc.match_substring_regex(arr, _NUMERIC_RE)))
        or (k is Kind.UUID and not _all(pc.match_substring_regex(arr, _UUID_RE)))
        or (k is Kind.ENUM and not _all(pc.is_in(arr, pa.array(col.enum_symbols))))
        or (limit is not None and (pc.max(pc.utf8_length(arr)).as_py() or 0) > limit)
    ):
        raise ValueError("a value breaks the contract")
    return arr


def _bulk(col: Column, values: list[Any], typ: pa.DataType) -> pa.Array:
    k = col.kind
    if k in _BY_VALUE:
        raise ValueError("typed value by value")
    if k in (Kind.DECIMAL, Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return check_strings(col, pa.array(values, pa.string()))
    bulk_types(col, values)  # exact numbers (Decimal) too: typed value by value
    arr = pa.array(values, typ)
    return check_strings(col, arr) if typ == pa.string() else check_storable(col, arr)


_BY_VALUE = frozenset(
    {Kind.TIME, Kind.BYTEA, Kind.TEXT_ARRAY, Kind.INT_ARRAY, Kind.INTERVAL, Kind.ARRAY,
     Kind.TIMETZ, Kind.MONEY, Kind.INET, Kind.MACADDR, Kind.BIT, Kind.HSTORE, Kind.RANGE}
)  # fmt: skip


def column_array(
    col: Column, values: list[Any], binary: str = "hex"
) -> tuple[pa.Array, dict[int, str]]:
    """The column as an Arrow array, and {row: reason} for values that break the contract."""
    typ = arrow_type(col)
    try:
        return _bulk(col, values, typ), {}
    except _BULK_ERRORS:
        pass
    conv = value_converter(col, binary)
    typed: list[Any] = []
    bad: dict[int, str] = {}
    for i, v in enumerate(values):
        if v is None:
            typed.append(None)
            continue
        try:
            typed.append(one_value(col, conv, v, typ))
        except (ValueError, TypeError, OverflowError) as e:
            bad[i] = f"column {col.name} ({col.sql_type}): {e}"
            typed.append(None)
    return pa.array(typed, typ), bad


_BULK_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    ValueError,
    TypeError,
    OverflowError,  # a Python int past int64 (pyarrow raises it, not ArrowInvalid)
)


def one_value(col: Column, conv: Callable[[Any], Any], v: Any, typ: pa.DataType) -> Any:
    """One value typed exactly as the bulk conversion would type it when it can, so a value's
    fate never depends on the other values of its batch; else by its converter."""
    try:
        return _bulk(col, [v], typ)[0].as_py()
    except _BULK_ERRORS:
        pass
    if isinstance(v, dict):  # no column takes a JSON object (json/jsonb come as text)
        raise ValueError(f"a JSON object is not a {col.sql_type} value")
    try:
        value = conv(v)
    except ArithmeticError:  # decimal.InvalidOperation: more digits than its context's 28
        raise ValueError(f"{v!r} has more digits than {col.sql_type} holds") from None
    reason = unstorable(col, v) or over_redshift_limit(col, value)
    if reason is not None:
        raise ValueError(reason)
    return value


# ---------------------------------------------------------------- what the warehouse cannot store
# A value the contract admits but a warehouse would refuse (failing every load of its batch) or
# alter is a dead letter, decided here, never changed silently.

_NUL = "\x00"  # PostgreSQL text cannot hold NUL ("The character with the code zero cannot be
# stored", docs 8.3 Character Types; COPY fails with SQLSTATE 22021)
_TEXT_KINDS = (Kind.TEXT, Kind.NUMERIC, Kind.INTERVAL, Kind.UUID, Kind.JSON, Kind.JSONB, Kind.ENUM,
               Kind.XML, Kind.CITEXT, Kind.HSTORE, Kind.RANGE)  # fmt: skip
# numeric: PostgreSQL refuses an exponent beyond +-1000 (NUMERIC_MAX_PRECISION, numeric.c, SQLSTATE
# 22P02); Redshift keeps an unconstrained numeric in VARCHAR(256) (warehouse/dialect.py).
_NUMERIC_EXPONENT = r"[eE][-+]?0*[1-9][0-9]{3,}"
_NUMERIC_MAX_CHARS = 256
_DATED = (Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ)
_BULK_PYTHON_TYPES: dict[Kind, tuple[type, ...]] = {
    Kind.INT2: (int,),
    Kind.INT4: (int,),
    Kind.INT8: (int,),
    Kind.FLOAT4: (int, float),
    Kind.FLOAT8: (int, float),
    Kind.BOOL: (bool,),
}


def bulk_types(col: Column, values: list[Any]) -> None:
    """pyarrow converts more than the contract admits (1.5 → 1 for an integer, true → 1.0 for a
    float): bulk conversion only over values of the column's own JSON type."""
    allowed = _BULK_PYTHON_TYPES.get(col.kind)
    if allowed is not None and not set(map(type, values)) <= {*allowed, type(None)}:
        raise ValueError("typed value by value")


def check_storable(col: Column, arr: pa.Array) -> pa.Array:
    """The column typed in bulk, or ValueError when a value is one a warehouse cannot store."""
    k = col.kind
    if arr.type == pa.string() and _holds_nul(arr):
        raise ValueError("a value holds NUL")
    if k is Kind.NUMERIC and (
        _any(pc.match_substring_regex(arr, _NUMERIC_EXPONENT))
        or (pc.max(pc.utf8_length(arr)).as_py() or 0) > _NUMERIC_MAX_CHARS
    ):
        raise ValueError("a numeric out of the warehouse's range")
    first_year = pc.min(pc.year(arr)).as_py() if k in _DATED else None
    if first_year is not None and first_year < 1:
        raise ValueError("a date before year 1")  # Arrow reads year 0000; PostgreSQL refuses it
    if k is Kind.FLOAT4 and _any(pc.is_inf(arr)):
        raise ValueError("a real out of range")  # the values decide: ±Infinity pass by value
    limit = redshift_limit(col)
    if (
        limit is not None
        and arr.type == pa.string()
        and (pc.max(pc.binary_length(arr)).as_py() or 0) > limit[0]
    ):
        raise ValueError("a value over Redshift's size limit")  # the values decide, one by one
    return arr


# Redshift's size limits, per column family, in bytes (Amazon Redshift Database Developer Guide:
# "Character types": VARCHAR holds at most 65535 bytes, its n counts bytes not characters;
# "SUPER type" limitations: a SUPER object holds at most 16 MB; "VARBYTE type": at most
# 1,024,000 bytes). A value over its limit is a dead letter with the reason, whichever warehouse
# loads the lake, so a contract behaves the same locally and on AWS; nothing is truncated.
VARCHAR_MAX = 65535
SUPER_MAX = 16 * 1024 * 1024
VARBYTE_MAX = 1_024_000
_SUPER_KINDS = frozenset(
    {Kind.JSON, Kind.JSONB, Kind.HSTORE, Kind.ARRAY, Kind.TEXT_ARRAY, Kind.INT_ARRAY}
)
_VARCHAR_BYTES = {Kind.RANGE: 255}  # DMS's STRING(255); Redshift VARCHAR(255)


def redshift_limit(col: Column) -> tuple[int, str] | None:
    """The most bytes a value of the column may take in Redshift, and the type that sets it."""
    k = col.kind
    if k in _SUPER_KINDS:
        return SUPER_MAX, "SUPER (16 MB)"
    if k is Kind.BYTEA:
        return VARBYTE_MAX, "VARBYTE (1,024,000 bytes)"
    if k in (Kind.TEXT, Kind.XML, Kind.CITEXT, Kind.BIT):
        return VARCHAR_MAX, "VARCHAR (65535 bytes)"
    if k in _VARCHAR_BYTES:
        return _VARCHAR_BYTES[k], f"VARCHAR({_VARCHAR_BYTES[k]})"
    return None


def over_redshift_limit(col: Column, value: Any) -> str | None:
    """Why a typed value is too large for Redshift, or None."""
    limit = redshift_limit(col)
    if limit is None or value is None:
        return None
    if isinstance(value, str):
        size = len(value.encode())
    elif isinstance(value, bytes):
        size = len(value)
    elif isinstance(value, list):
        size = len(orjson.dumps(value))
    else:
        return None
    if size > limit[0]:
        return f"{size} bytes, over Redshift's {limit[1]} limit for {col.sql_type}"
    return None


def _holds_nul(arr: pa.Array) -> bool:
    """Whether a string array's data holds a NUL byte: one pass over the buffer (a tenth of a
    per-string search). A slice may see bytes outside its view: then the values are typed one
    by one, which decides them exactly."""
    data = arr.buffers()[2]
    if data is None or data.size == 0:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool(np.count_nonzero(raw) != raw.size)


def _any(mask: pa.Array) -> bool:
    """True when any entry of a boolean mask is true."""
    return pc.any(mask).as_py() is True


def unstorable(col: Column, v: Any) -> str | None:
    """Why a value typed by its converter cannot be stored, or None."""
    k = col.kind
    if isinstance(v, str) and k in _TEXT_KINDS and _NUL in v:
        return "text contains NUL (U+0000), which PostgreSQL and Redshift text cannot store"
    if k is Kind.TEXT_ARRAY and isinstance(v, list):
        for x in v:
            if x is not None and not isinstance(x, str):
                return f"array element {x!r} is not a string"
            if x is not None and _NUL in x:
                return "array element contains NUL (U+0000), which PostgreSQL text cannot store"
    if k is Kind.NUMERIC:
        s = v if isinstance(v, str) else str(v) if isinstance(v, Decimal) else repr(v)
        if len(s) > _NUMERIC_MAX_CHARS or re.search(_NUMERIC_EXPONENT, s):
            return f"{s[:40]!r} is out of range for the warehouse's numeric"
    if k is Kind.FLOAT4 and isinstance(v, int | float | Decimal) and math.isfinite(v):
        try:
            struct.pack("<f", float(v))  # Decimal: a record read exactly (decode._exact)
        except OverflowError:
            return f"{v!r} is out of range for type real (SQLSTATE 22003)"
    return None


def commit_timestamps(values: list[Any]) -> tuple[pa.Array, dict[int, str]]:
    """DMS commit-timestamps as UTC timestamps, and {row: reason} for any that is not one (a
    damaged record must be a dead letter, not a flush that fails for ever)."""
    try:
        return pa.array(values, pa.string()).cast(UTC_US), {}
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    typed: list[Any] = []
    bad: dict[int, str] = {}
    for i, v in enumerate(values):
        try:
            typed.append(pa.array([v], pa.string()).cast(UTC_US)[0])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            bad[i] = f"metadata commit-timestamp {v!r} is not an ISO 8601 time with a zone"
            typed.append(None)
    return pa.array(typed, UTC_US), bad


def to_table(
    contract: TableContract,
    events: Sequence[ChangeEvent],
    shard: str,
    batch_id: str = "",
    binary: str = "hex",
) -> tuple[pa.Table, dict[int, str]]:
    """The events as one Arrow table (rows with bad values removed), and {index: reason}."""
    names = [c.name for c in contract.columns]
    # One C-level map per row, then a transpose: far cheaper than a comprehension per column.
    columns = list(zip(*[tuple(map(e.values.get, names)) for e in events], strict=True))
    bad: dict[int, str] = {}
    arrays = []
    for col, values in zip(contract.columns, columns, strict=True):
        arr, col_bad = column_array(col, list(values), binary)
        for i, reason in col_bad.items():
            bad.setdefault(i, reason)
        if not col.nullable and arr.null_count:
            for i in pc.indices_nonzero(pc.is_null(arr)).to_pylist():
                e = events[i]
                if e.op != DELETE and col.name not in e.unchanged and i not in bad:
                    bad[i] = f"column {col.name} is NULL but the contract says NOT NULL"
        arrays.append(arr)
    ops, versions, commits, sequences = (
        list(c)
        for c in zip(*[(e.op, e.version, e.commit_ts, e.sequence) for e in events], strict=True)
    )
    commit_ts, commit_bad = commit_timestamps(commits)
    for i, reason in commit_bad.items():
        bad.setdefault(i, reason)
    arrays += [
        pa.array(versions, pa.decimal128(38, 0)),
        pa.array(ops, pa.string()),
        commit_ts,
        pa.array([shard] * len(events), pa.string()),
        pa.array(sequences, pa.string()),
        pa.array([batch_id] * len(events), pa.string()),
        pa.array(
            [f",{','.join(e.unchanged)}," if e.unchanged else None for e in events], pa.string()
        ),
        pa.array(
            [orjson.dumps(e.old_key).decode() if e.old_key else None for e in events], pa.string()
        ),
    ]
    table = pa.Table.from_arrays(arrays, schema=arrow_schema(contract))
    if bad:
        keep = pa.array([i not in bad for i in range(len(events))])
        table = table.filter(keep)
    return table, bad
