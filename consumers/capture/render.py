"""How each PostgreSQL type is rendered as a JSON value in the DMS Kinesis message.

Input is the type's text output (pgoutput 't' values and COPY ... TO STDOUT produce the same
text) under the session settings in `SESSION_GUCS`, so every value has one spelling.

| family | JSON value (with infra/dms settings) | without the setting (what DMS emits) |
|---|---|---|
| smallint, integer | number | |
| bigint | number, exact to 2^63 (UseLargeIntegerValue) | a double: digits beyond 2^53 lost |
| numeric(p,s) | string, exact ("12.30") | |
| numeric (unconstrained) | string, exact (MapUnboundedNumericAsString) | NUMERIC(28,6): rounded to 6 places |
| real, double precision | number (shortest round-trip); NaN/±Infinity as strings | |
| boolean | true/false (MapBooleanAsBoolean) | "true"/"false" strings (VARCHAR(5)) |
| text, varchar(n), char(n) | string (char(n) keeps its blank padding) | |
| date | "YYYY-MM-DD" | |
| time | "HH:MM:SS.ffffff" | |
| timestamp | "YYYY-MM-DDTHH:MM:SS.ffffff" (no zone) | |
| timestamptz | "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC) | |
| interval | ISO 8601 duration, "P1Y2M3DT4H5M6.5S" | |
| uuid, enum | string | |
| json, jsonb | the JSON document as a string (NCLOB) | |
| bytea | base64 string (BLOB) | |
| text[], int[] | PostgreSQL array literal as a string, '{a,"b c",NULL}' (NCLOB) | |

DMS's exact spelling of dates and times in Kinesis JSON is not documented; the forms above are
our decision: ISO 8601, always six fractional digits, so values compare as strings and keep
microseconds. ±infinity timestamps pass through as "infinity"/"-infinity".
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from consumers.capture.dms_config import DmsConfig
from consumers.contracts.types import Kind

Converter = Callable[[bytes], Any]

# Set on every capture connection so text output is stable whatever the server defaults are.
SESSION_GUCS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "iso_8601",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "client_encoding": "UTF8",
}


def libpq_options() -> str:
    return " ".join(f"-c {k}={v.replace(' ', '')}" for k, v in SESSION_GUCS.items())


def _text(b: bytes) -> str:
    return b.decode()


def _fraction6(clock: str) -> str:
    """'12:34:56' → '12:34:56.000000'; '12:34:56.5' → '12:34:56.500000'."""
    if len(clock) == 8:
        return clock + ".000000"
    if len(clock) == 15:
        return clock
    head, _, frac = clock.partition(".")
    return f"{head}.{frac:0<6}"


def _time(b: bytes) -> str:
    return _fraction6(b.decode())


def _timestamp(b: bytes) -> str:
    s = b.decode()
    if s[0] not in "0123456789":  # infinity, -infinity
        return s
    day, _, clock = s.partition(" ")
    return f"{day}T{_fraction6(clock)}"


def _timestamptz(b: bytes) -> str:
    s = b.decode()
    if s[0] not in "0123456789":
        return s
    # TimeZone=UTC: the offset is always +00 (PostgreSQL prints it as "+00").
    day, _, clock = s[:-3].partition(" ")
    return f"{day}T{_fraction6(clock)}Z"


def _float(b: bytes) -> float | str:
    f = float(b)
    return f if math.isfinite(f) else b.decode()


def _bytea(b: bytes) -> str:
    return base64.b64encode(bytes.fromhex(b[2:].decode())).decode()


def _bool(b: bytes) -> bool:
    return b == b"t"


def _bool_string(b: bytes) -> str:
    return "true" if b == b"t" else "false"


def _int_as_double(b: bytes) -> float:
    return float(int(b))


_SIX_PLACES = Decimal("0.000001")


def _numeric_28_6(b: bytes) -> str:
    s = b.decode()
    if s == "NaN":
        return s
    return str(Decimal(s).quantize(_SIX_PLACES, rounding=ROUND_HALF_UP))


_BASE: dict[Kind, Converter] = {
    Kind.INT2: int,
    Kind.INT4: int,
    Kind.INT8: int,
    Kind.DECIMAL: _text,
    Kind.NUMERIC: _text,
    Kind.FLOAT4: _float,
    Kind.FLOAT8: _float,
    Kind.BOOL: _bool,
    Kind.TEXT: _text,
    Kind.DATE: _text,
    Kind.TIME: _time,
    Kind.TIMESTAMP: _timestamp,
    Kind.TIMESTAMPTZ: _timestamptz,
    Kind.INTERVAL: _text,
    Kind.UUID: _text,
    Kind.JSON: _text,
    Kind.JSONB: _text,
    Kind.BYTEA: _bytea,
    Kind.TEXT_ARRAY: _text,
    Kind.INT_ARRAY: _text,
    Kind.ENUM: _text,
}


def converter(kind: Kind | None, cfg: DmsConfig) -> Converter:
    """The text → JSON converter for a column; `None` (a column the contract lacks) → string."""
    if kind is None:
        return _text
    if kind is Kind.INT8 and not cfg.use_large_integer_value:
        return _int_as_double
    if kind is Kind.NUMERIC and not cfg.map_unbounded_numeric_as_string:
        return _numeric_28_6
    if kind is Kind.BOOL and not cfg.map_boolean_as_boolean:
        return _bool_string
    return _BASE[kind]


def copy_field(raw: bytes) -> bytes | None:
    r"""One field of COPY TO's text format: \N is NULL; backslash escapes undone."""
    if raw == b"\\N":
        return None
    if b"\\" not in raw:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x5C and i + 1 < n:
            nxt = raw[i + 1]
            out += _COPY_ESCAPES.get(nxt, bytes([nxt]))
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


_COPY_ESCAPES = {
    ord("n"): b"\n",
    ord("t"): b"\t",
    ord("r"): b"\r",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("v"): b"\v",
    ord("\\"): b"\\",
}
