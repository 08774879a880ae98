from __future__ import annotations

import dataclasses
from dataclasses import replace

import orjson
import pytest

from consumers.capture.render import converter, copy_field
from consumers.contracts.types import Kind

CASES = [
    (Kind.INT2, b"-32768", -32768),
    (Kind.INT8, b"9223372036854775807", 9223372036854775807),
    (Kind.DECIMAL, b"-12.30", orjson.Fragment(b"-12.30")),  # a JSON number, exact digits
    (Kind.NUMERIC, b"1.0000000000000000000000000001", "1.0000000000000000000000000001"),
    (Kind.FLOAT4, b"0.1", 0.100000001),  # DMS: 9 significant digits
    (Kind.FLOAT4, b"2.2", 2.20000005),
    (Kind.FLOAT8, b"25", 25),  # DMS: a whole double as an integer
    (Kind.FLOAT8, b"0.1", 0.1),
    (Kind.FLOAT8, b"-Infinity", "-Infinity"),
    (Kind.FLOAT8, b"NaN", "NaN"),
    (Kind.BOOL, b"t", True),
    (Kind.BOOL, b"f", False),
    (Kind.TEXT, "ünï".encode(), "ünï"),
    (Kind.DATE, b"2024-02-29", "2024-02-29"),
    (Kind.TIME, b"12:34:56", "12:34:56"),
    (Kind.TIME, b"12:34:56.5", "12:34:56.500000"),
    (Kind.TIMESTAMP, b"2024-02-29 12:34:56.123", "2024-02-29T12:34:56.123000Z"),
    (Kind.TIMESTAMP, b"2010-11-01 00:00:00", "2010-11-01T00:00:00Z"),
    (Kind.TIMESTAMP, b"infinity", "infinity"),
    (Kind.TIMESTAMPTZ, b"2024-02-29 12:34:56+00", "2024-02-29T12:34:56Z"),
    (Kind.TIMESTAMPTZ, b"2024-02-29 12:34:56.000001+00", "2024-02-29T12:34:56.000001Z"),
    (Kind.INTERVAL, b"1 year 2 mons 3 days 04:05:06.789", "1 year 2 mons 3 days 04:05:06.789"),
    (Kind.BYTEA, b"\\x00ff", "00ff"),  # hex; NoHexPrefix is set
    (Kind.TEXT_ARRAY, b'{a,"b c",NULL}', '{a,"b c",NULL}'),
    # issue 13 types (AWS DMS source data types for PostgreSQL)
    (Kind.ARRAY, b"{1,NULL,-9223372036854775808}", "{1,NULL,-9223372036854775808}"),
    (Kind.ARRAY, b'{"2024-02-29 12:00:00+00"}', '{"2024-02-29 12:00:00+00"}'),
    (Kind.MONEY, b"-$92,233,720,368,547,758.08", orjson.Fragment(b"-92233720368547758.08")),
    (Kind.MONEY, b"$0.01", orjson.Fragment(b"0.01")),
    (Kind.MONEY, b"$1,234.50", orjson.Fragment(b"1234.50")),
    (Kind.TIMETZ, b"23:59:59.999999-15:59", "23:59:59.999999-15:59"),
    (Kind.INET, b"2001:db8::1/64", "2001:db8::1/64"),
    (Kind.MACADDR, b"08:00:2b:01:02:03", "08:00:2b:01:02:03"),
    (Kind.BIT, b"0101", "0101"),
    (Kind.XML, "<a>ë</a>".encode(), "<a>ë</a>"),
    (Kind.CITEXT, "MiXeD ✓".encode(), "MiXeD ✓"),
    (Kind.HSTORE, b'"a"=>"1", "b"=>NULL', '"a"=>"1", "b"=>NULL'),
    (Kind.RANGE, b'["2024-01-01 00:00:00",)', '["2024-01-01 00:00:00",)'),
]


@pytest.mark.parametrize(("kind", "text", "expected"), CASES)
def test_rendering_with_the_shipped_settings(dms, kind, text, expected):
    value = converter(kind, dms)(text)
    assert orjson.dumps(value) == orjson.dumps(expected) and type(value) is type(expected)


def test_rendering_without_the_lossless_settings_matches_dms_defaults(dms):
    plain = dataclasses.replace(
        dms,
        use_large_integer_value=False,
        map_boolean_as_boolean=False,
        map_unbounded_numeric_as_string=False,
    )
    assert converter(Kind.INT8, plain)(b"9007199254740993") == 9007199254740992.0  # a double
    assert converter(Kind.BOOL, plain)(b"t") == "true"
    assert converter(Kind.NUMERIC, plain)(b"1.23456789") == "1.234568"  # NUMERIC(28,6)
    assert converter(None, plain)(b"anything") == "anything"  # a column the contract lacks
    assert converter(Kind.BYTEA, replace(dms, no_hex_prefix=False))(b"\\x00FF") == "0x00FF"
    assert converter(Kind.DECIMAL, dms, precision=39)(b"1.5") == "1.5"  # DMS: STRING


def test_copy_text_fields():
    assert copy_field(b"\\N") is None
    assert copy_field(b"plain") == b"plain"
    assert copy_field(b"a\\tb\\nc\\\\d\\re") == b"a\tb\nc\\d\re"


def test_money_is_read_back_from_lc_monetary_c_output_or_refused(dms):
    money = converter(Kind.MONEY, dms)
    assert orjson.dumps(money(b"-$1,234.56")) == b"-1234.56"
    assert orjson.dumps(money(b"($1,234.56)")) == b"-1234.56"  # an accounting form
    with pytest.raises(ArithmeticError):  # another locale's text: never a guessed number
        money("1.234,56 €".encode())
