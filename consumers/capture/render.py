"""How each PostgreSQL type is rendered as a JSON value in the DMS Kinesis message.

Input is the type's text output (pgoutput 't' values and COPY ... TO STDOUT produce the same
text) under the session settings in `SESSION_GUCS`, so every value has one spelling.

| family | JSON value (with infra/dms settings) | without the setting (what DMS emits) |
|---|---|---|
| smallint, integer | number | |
| bigint | number, exact to 2^63 (UseLargeIntegerValue) | a double: digits beyond 2^53 lost |
| numeric(p,s), p <= 38 | number, exact digits as PostgreSQL prints them (`12.30`) | |
| numeric(p,s), p > 38 | string, exact (DMS maps it to STRING) | |
| numeric (unconstrained) | string, exact (MapUnboundedNumericAsString) | NUMERIC(28,6): rounded to 6 places |
| real | number with 9 significant digits (`2.20000005`); NaN/±Infinity as strings | |
| double precision | number, shortest round-trip; a whole value as an integer (`25`) | |
| boolean | true/false (MapBooleanAsBoolean) | "true"/"false" strings (VARCHAR(5)) |
| text, varchar(n), char(n) | string (char(n) keeps its blank padding) | |
| date | "YYYY-MM-DD" | |
| time | "HH:MM:SS", ".ffffff" only when the fraction is not zero | |
| timestamp | "YYYY-MM-DDTHH:MM:SS[.ffffff]Z": the wall-clock value with a `Z` that is not an offset | |
| timestamptz | "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (UTC) | |
| interval | PostgreSQL's text output, "1 year 2 mons 3 days 04:05:06.789" | |
| uuid, enum | string | |
| json, jsonb | the JSON document as a string (NCLOB) | |
| bytea | hex string, no `0x` (NoHexPrefix) | hex with a `0x` prefix |
| text[], int[], any scalar[] | PostgreSQL array literal as a string, '{a,"b c",NULL}' (NCLOB) | |
| money | number, exact (`-1234.56`; DMS: NUMERIC(38,4)), read under lc_monetary=C | |
| inet, cidr, macaddr | PostgreSQL's text (DMS: STRING(50), STRING(18)) | |
| timetz, bit, varbit, citext | PostgreSQL's text (STRING; not in the DMS type table) | |
| xml, hstore | PostgreSQL's text (DMS: CLOB, NCLOB) | |
| int4range ... daterange | PostgreSQL's text, `[1,10)` (DMS: STRING(255)) | |

Sources: the AWS DMS User Guide ("Using a PostgreSQL database as a source": source data types;
"Using Amazon Kinesis Data Streams as a target"; KinesisSettings NoHexPrefix and
UseLargeIntegerValue; PostgreSQLSettings MapBooleanAsBoolean, MapUnboundedNumericAsString) and
published output of real DMS tasks: timestamps with a `Z` and no fraction when it is zero,
intervals in PostgreSQL's text form, real with 9 significant digits, a whole double as an
integer. DMS's spelling of `time` is unpublished: ours mirrors its timestamps. ±infinity
timestamps pass through as "infinity"/"-infinity" (DMS truncates them to 9999-12-31 23:59:59
and 4713-01-01 00:00:00 BC; we keep the value rather than alter it, and the consumers refuse
it as a dead letter with the reason).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from consumers.capture.dms_config import DmsConfig
from consumers.contracts.types import Kind

Converter = Callable[[bytes], Any]

# Set on every connection (capture, loader, verify) so text output is stable whatever the
# server defaults are. The capture reads intervals in PostgreSQL's default `postgres` style,
# which is what DMS sends; the loader and verify read them as ISO 8601, the consumers'
# canonical form (events/interval.py).
SESSION_GUCS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "iso_8601",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "client_encoding": "UTF8",
    # money's text depends on lc_monetary ("$1,234.56" under C, "1.234,56 €" under de_DE);
    # under C it is always `-$d,ddd.dd`: two fraction digits, `$`, `,` groups, a leading
    # minus, which the capture reads back exactly (_money) and the loader and `cdc verify`
    # read and write alike. The capture's connections set it, so the source's default does
    # not matter; a source whose money values were written under a locale with other than
    # two fraction digits is not supported (its stored integer means something else).
    "lc_monetary": "C",
}
CAPTURE_GUCS = {**SESSION_GUCS, "IntervalStyle": "postgres"}


def libpq_options(gucs: dict[str, str] = SESSION_GUCS) -> str:
    return " ".join(f"-c {k}={v.replace(' ', '')}" for k, v in gucs.items())


def _text(b: bytes) -> str:
    return b.decode()


def _fraction6(clock: str) -> str:
    """'12:34:56' → '12:34:56' (DMS leaves out a zero fraction); '12:34:56.5' →
    '12:34:56.500000'."""
    if len(clock) == 8 or len(clock) == 15:
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
    return f"{day}T{_fraction6(clock)}Z"


def _timestamptz(b: bytes) -> str:
    s = b.decode()
    if s[0] not in "0123456789":
        return s
    # TimeZone=UTC: the offset is always +00 (PostgreSQL prints it as "+00").
    day, _, clock = s[:-3].partition(" ")
    return f"{day}T{_fraction6(clock)}Z"


def _float4(b: bytes) -> float | str:
    f = float(b)
    if not math.isfinite(f):
        return b.decode()
    # DMS prints a real with 9 significant digits (2.2 → 2.20000005): the float32's own value.
    return float(f"{struct.unpack('f', struct.pack('f', f))[0]:.9g}")


def _float8(b: bytes) -> float | int | str:
    f = float(b)
    if not math.isfinite(f):
        return b.decode()
    return int(f) if f.is_integer() and abs(f) < 2**53 else f  # DMS: 25.0 → 25


def _bytea_hex(b: bytes) -> str:
    return b[2:].decode()  # bytea_output=hex: \x0102 → 0102


def _bytea_0x(b: bytes) -> str:
    return "0x" + b[2:].decode()


def _decimal_number(b: bytes) -> orjson.Fragment | str:
    """numeric(p,s), p <= 38 (DMS type NUMERIC) as a JSON number with PostgreSQL's exact
    digits; a Fragment, since a float would lose them."""
    return b.decode() if b == b"NaN" else orjson.Fragment(b)


def _money(b: bytes) -> orjson.Fragment:
    """money under lc_monetary=C (`-$1,234.56`) as a JSON number with its exact digits, as
    DMS maps money to NUMERIC(38,4): no digit or sign is lost, no float is involved."""
    s = b.decode()
    digits = s.replace("$", "").replace(",", "")
    if s.startswith("(") and s.endswith(")"):  # a locale's accounting form, for safety
        digits = "-" + digits[1:-1]
    Decimal(digits)  # raises on anything that is not a plain number now
    return orjson.Fragment(digits.encode())


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
    Kind.DECIMAL: _decimal_number,
    Kind.NUMERIC: _text,
    Kind.FLOAT4: _float4,
    Kind.FLOAT8: _float8,
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
    Kind.BYTEA: _bytea_hex,
    Kind.TEXT_ARRAY: _text,
    Kind.INT_ARRAY: _text,
    Kind.ENUM: _text,
    Kind.ARRAY: _text,
    Kind.TIMETZ: _text,
    Kind.MONEY: _money,
    Kind.INET: _text,
    Kind.MACADDR: _text,
    Kind.BIT: _text,
    Kind.XML: _text,
    Kind.CITEXT: _text,
    Kind.HSTORE: _text,
    Kind.RANGE: _text,
}


def converter(kind: Kind | None, cfg: DmsConfig, precision: int | None = None) -> Converter:
    """The text → JSON converter for a column; `None` (a column the contract lacks) → string.
    `precision`: a numeric(p,s) column's p (DMS maps p > 38 to STRING)."""
    if kind is None:
        return _text
    if kind is Kind.DECIMAL and precision is not None and precision > 38:
        return _text
    if kind is Kind.BYTEA and not cfg.no_hex_prefix:
        return _bytea_0x
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
