from __future__ import annotations

import base64
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pyarrow as pa
import pytest

from consumers.events.columns import arrow_schema, to_table
from consumers.events.model import ChangeEvent
from consumers.events.pgarray import parse


def _zoo(contracts):
    return next(c for c in contracts if c.name == "type_zoo")


def _event(values, op="insert", unchanged=()):
    return ChangeEvent("public.type_zoo", op, (values["id"],), values, 1, "1", None, unchanged)


FULL = {
    "id": 1, "c_smallint": -32768, "c_int": 7, "c_bigint": 9223372036854775807,
    "c_numeric_ps": "-123.000001", "c_numeric": "1.000000000000000000000000000001",
    "c_real": 0.1, "c_double": "-Infinity", "c_bool": True, "c_varchar": "ünï",
    "c_text": "x", "c_char": "ab   ", "c_date": "0001-01-01", "c_time": "23:59:59.999999",
    "c_timestamp": "2024-02-29T12:00:00.000001Z", "c_timestamptz": "2024-02-29T18:29:59.500000Z",
    "c_interval": "1 day", "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "c_json": "[]",
    "c_jsonb": "{}", "c_bytea": "00ff",
    "c_text_array": '{a,"b c",NULL}', "c_int_array": "{1,NULL}", "c_mood": "ok",
}  # fmt: skip


def test_every_type_zoo_value_is_typed_exactly(contracts):
    zoo = _zoo(contracts)
    table, bad = to_table(zoo, [_event(dict(FULL))], "shard-1")
    assert bad == {}
    assert table.schema == arrow_schema(zoo)
    row = table.to_pylist()[0]
    assert row["c_bigint"] == 9223372036854775807
    assert row["c_numeric_ps"] == Decimal("-123.000001")
    assert row["c_numeric"] == "1.000000000000000000000000000001"
    assert row["c_double"] == float("-inf")
    assert row["c_date"] == date(1, 1, 1) and row["c_time"] == time(23, 59, 59, 999999)
    assert row["c_timestamp"] == datetime(2024, 2, 29, 12, 0, 0, 1)
    assert row["c_timestamptz"] == datetime(2024, 2, 29, 18, 29, 59, 500000, tzinfo=UTC)
    assert row["c_bytea"] == b"\x00\xff" and row["c_interval"] == "P1D"
    assert row["c_text_array"] == ["a", "b c", None] and row["c_int_array"] == [1, None]
    assert row["_cdc_version"] == Decimal(1) and row["_cdc_shard"] == "shard-1"


def test_values_dms_sends_without_the_lossless_settings_are_accepted(contracts):
    values = {"id": 2, "c_bigint": 9007199254740992.0, "c_bool": "false", "c_numeric": "1.5"}
    table, bad = to_table(_zoo(contracts), [_event(values)], "s")
    assert bad == {}
    row = table.to_pylist()[0]
    assert row["c_bigint"] == 9007199254740992 and row["c_bool"] is False


def test_bad_values_are_attributed_to_their_rows(contracts):
    rows = [
        {"id": 1, "c_smallint": 40000},
        {"id": 2, "c_numeric_ps": "1.0000001"},
        {"id": 3, "c_varchar": "x" * 41},
        {"id": 4, "c_mood": "furious"},
        {"id": 5, "c_timestamp": "infinity"},
        {"id": 6, "c_uuid": "not-a-uuid"},
        {"id": 7, "c_int": 1},
    ]
    table, bad = to_table(_zoo(contracts), [_event(r) for r in rows], "s")
    assert set(bad) == {0, 1, 2, 3, 4, 5}
    assert "c_smallint" in bad[0] and "decimal places" in bad[1] and "c_varchar" in bad[2]
    assert "enum" in bad[3] and "c_timestamp" in bad[4] and "c_uuid" in bad[5]
    assert table.column("id").to_pylist() == [7]


def test_not_null_is_enforced_except_for_deletes_and_unchanged_columns(contracts):
    currency = next(c for c in contracts if c.name == "currency")
    ok = ChangeEvent("public.currency", "delete", (1,), {"currency_id": 1}, 5, "1")
    toast = ChangeEvent(
        "public.currency", "update", (2,), {"currency_id": 2, "currency_code": "USD",
        "created_at": "2024-01-01T00:00:00.000000"}, 5, "2", unchanged=("last_updated",),
    )  # fmt: skip
    missing = ChangeEvent("public.currency", "insert", (3,), {"currency_id": 3}, 5, "3")
    table, bad = to_table(currency, [ok, toast, missing], "s")
    assert list(bad) == [2] and "NOT NULL" in bad[2]
    assert table.num_rows == 2


def test_array_literals():
    assert parse('{a,"b c",NULL,"\\"q\\"","x\\\\y"}') == ["a", "b c", None, '"q"', "x\\y"]
    assert parse("{}") == []
    assert pa.array([parse("{1,2}")]).to_pylist() == [["1", "2"]]


def _typed(contracts, column: str, values: list, binary: str = "hex"):
    """Each value alone (typed value by value when it is bad) and all together (in bulk)."""
    zoo = _zoo(contracts)
    events = [_event({"id": i, column: v}) for i, v in enumerate(values)]
    table, bad = to_table(zoo, events, "s", binary=binary)
    kept = dict(zip(table.column("id").to_pylist(), table.column(column).to_pylist(), strict=True))
    return [kept.get(i) for i in range(len(values))], bad


# Every spelling that real DMS output (or its documentation) allows, typed to one warehouse
# value. Sources: tests/golden/dms/README.md.
SPELLINGS = {
    "c_timestamp": (
        ["2010-11-01T00:02:00.100000Z", "2010-11-01T00:02:00.1Z", "2010-11-01 00:02:00.1",
         "2010-11-01T00:02:00.100000", "2010-11-01T00:02:00.100000000Z"],
        datetime(2010, 11, 1, 0, 2, 0, 100000),
    ),
    "c_timestamptz": (
        ["2010-11-01T00:00:00Z", "2010-11-01 00:00:00Z", "2010-11-01T01:00:00+01:00",
         "2010-11-01T00:00:00.000000Z"],
        datetime(2010, 11, 1, tzinfo=UTC),
    ),
    "c_time": (["04:05:06.5", "04:05:06.500000"], time(4, 5, 6, 500000)),
    "c_bytea": (["00ff", "00FF", "0x00ff", "0X00Ff"], b"\x00\xff"),
    "c_interval": (["1 day 04:00:00", "P1DT4H", "1 day 4:00:00"], "P1DT4H"),
    "c_numeric_ps": (
        [Decimal("12.5"), "12.5", "12.500000", 12.5, Decimal("1.25E+1")], Decimal("12.500000")
    ),
    "c_numeric": ([Decimal("0.1000000000000000055511151231257827"),
                   "0.1000000000000000055511151231257827"],
                  "0.1000000000000000055511151231257827"),
    "c_real": ([2.20000005, 2.2, Decimal("2.20000005")], 2.200000047683716),
    "c_double": ([25, 25.0, Decimal("25")], 25.0),
    "c_bool": ([True, "true"], True),
}  # fmt: skip


@pytest.mark.parametrize("column", sorted(SPELLINGS))
def test_every_dms_spelling_types_to_the_same_value(contracts, column):
    spellings, expected = SPELLINGS[column]
    typed, bad = _typed(contracts, column, spellings)
    assert bad == {}
    assert typed == [expected] * len(spellings)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("c_timestamp", "2010-11-01T00:00:00.123456789Z", "more precise than a microsecond"),
        ("c_timestamp", "2010-11-01T00:00:00+02:00", "has a time zone"),
        ("c_bytea", "AP8=", "not hex"),  # base64, when the setting says hex
        ("c_bytea", "0x0", "not hex"),
        ("c_interval", "1-2 3 4:05:06", "not an interval"),  # sql_standard style: refused
        ("c_interval", "@ 1 day ago", "not an interval"),
        ("c_interval", "2147483648 days", "out of range"),
        ("c_numeric_ps", Decimal("1e400"), "digits"),
        ("c_numeric_ps", Decimal("12.3456789"), "decimal places"),
        ("c_int", Decimal("1.5"), "not a whole number"),
    ],
)
def test_values_no_spelling_allows_are_dead_letters_with_the_reason(
    contracts, column, value, reason
):
    typed, bad = _typed(contracts, column, [value])
    assert typed == [None] and reason in bad[0] and column in bad[0]


def test_base64_bytea_only_when_the_setting_says_so(contracts):
    assert _typed(contracts, "c_bytea", ["AP8="], binary="base64") == ([b"\x00\xff"], {})
    # hex text is valid base64 too: the setting decides, and verify catches a wrong one
    assert _typed(contracts, "c_bytea", ["00ff"], binary="base64")[0] == [base64.b64decode("00ff")]


def _col(sql: str):
    from consumers.contracts.model import Column
    from consumers.contracts.types import canonical_sql_type, expected_avro, kind_of

    canon = canonical_sql_type(sql)
    kind = kind_of(canon)
    return Column("x", canon, kind, True, False, expected_avro(kind, canon))


MORE_GOOD = [  # (type, what DMS sends, what the lake holds)
    ("bigint[]", "{1,NULL,-9223372036854775808}", [1, None, -9223372036854775808]),
    ("bigint[]", [1, 2], [1, 2]),  # a JSON array too
    ("smallint[]", "{}", []),
    ("boolean[]", "{t,f,NULL}", [True, False, None]),
    ("double precision[]", "{0.1,NaN,-Infinity}", ["0.1", "NaN", "-Infinity"]),
    ("numeric(5,2)[]", "{1.25,-3.50}", ["1.25", "-3.50"]),
    ("varchar(3)[]", '{abc,"a,b",NULL,"q\\""}', ["abc", "a,b", None, 'q"']),
    ("timestamptz[]", '{"2024-02-29 18:29:59.5+00"}', ["2024-02-29 18:29:59.5+00"]),
    ("bytea[]", '{"\\\\x00ff"}', ["\\x00ff"]),
    ("interval[]", '{"1 day 02:00:00"}', ["1 day 02:00:00"]),
    ("interval hour to minute", "-838:59:00", "PT-838H-59M"),  # PostgreSQL's ISO 8601
    ("money", Decimal("-92233720368547758.08"), Decimal("-92233720368547758.08")),
    ("money", Decimal("1234.5600"), Decimal("1234.56")),  # DMS's NUMERIC(38,4)
    ("money", "0.01", Decimal("0.01")),
    ("timetz", "23:59:59.999999-15:59", "23:59:59.999999-15:59"),
    ("inet", "192.168.0.1/24", "192.168.0.1/24"),
    ("cidr", "::/0", "::/0"),
    ("macaddr8", "08:00:2b:01:02:03:04:05", "08:00:2b:01:02:03:04:05"),
    ("bit(4)", "0101", "0101"),
    ("varbit(4)", "", ""),
    ("xml", "<a/>", "<a/>"),
    ("citext", "MiXeD", "MiXeD"),
    ("hstore", '"a"=>"1", "q\\"k"=>NULL', '{"a":"1","q\\"k":null}'),
    ("hstore", "", "{}"),
    ("int4range", "[1,10)", "[1,10)"),
    ("tstzrange", '["2024-01-01 00:00:00+00",)', '["2024-01-01 00:00:00+00",)'),
    ("daterange", "empty", "empty"),
]


@pytest.mark.parametrize(("sql", "sent", "stored"), MORE_GOOD)
def test_the_types_real_databases_use_are_typed_losslessly(sql, sent, stored):
    from consumers.events.columns import column_array

    arr, bad = column_array(_col(sql), [sent, None])
    assert bad == {} and arr.to_pylist() == [stored, None]


MORE_BAD = [  # (type, a value that breaks it, words of the reason)
    ("bigint[]", "{1.5}", "invalid literal"),
    ("bigint[]", "{{1,2},{3,4}}", "multi-dimensional"),
    ("double precision[]", "{abc}", "could not convert"),
    ("varchar(3)[]", "{abcd}", "over varchar(3)"),
    ("numeric(5,2)[]", "{1.234}", "decimal places"),
    ("date[]", "{2024-02-30}", "day is out of range"),
    ("money", Decimal("1.005"), "more than 2 decimal places"),
    ("money", "$1.00", "not a decimal"),
    ("timetz", "25:00", "not a time with time zone"),
    ("inet", "300.1.1.1", "not a valid inet"),
    ("cidr", "10.0.0.1/8", "not a valid cidr"),
    ("macaddr", "zz", "not a MAC address"),
    ("bit(4)", "01", "2 bits"),
    ("bit(4)", "0102", "not a bit string"),
    ("varbit(2)", "010", "3 bits"),
    ("hstore", '"a"=>', "not hstore text"),
    ("int4range", "1,10", "range text"),
    ("xml", "a\x00b", "NUL"),
]


@pytest.mark.parametrize(("sql", "sent", "reason"), MORE_BAD)
def test_bad_values_of_the_new_types_are_dead_letters_with_the_reason(sql, sent, reason):
    from consumers.events.columns import column_array

    arr, bad = column_array(_col(sql), [sent])
    assert list(bad) == [0] and reason in bad[0], bad
    assert arr.to_pylist() == [None]


@pytest.mark.parametrize(
    ("sql", "value", "limit"),
    [
        ("text", "é" * 32768, "VARCHAR (65535 bytes)"),  # 32768 characters, 65536 bytes
        ("xml", "<a>" + "x" * 65536 + "</a>", "VARCHAR (65535 bytes)"),
        ("varbit", "1" * 65536, "VARCHAR (65535 bytes)"),
        ("int8range", "[" + "1" * 130 + "," + "2" * 130 + ")", "VARCHAR(255)"),
        ("bytea", "00" * 1_024_001, "VARBYTE (1,024,000 bytes)"),
        ("jsonb", '"' + "x" * (16 * 1024 * 1024) + '"', "SUPER (16 MB)"),
        ("bigint[]", "{" + ",".join(["-9223372036854775808"] * 900_000) + "}", "SUPER (16 MB)"),
    ],
)
def test_values_over_a_redshift_limit_are_dead_letters_never_truncated(sql, value, limit):
    from consumers.events.columns import column_array

    arr, bad = column_array(_col(sql), [value])
    assert list(bad) == [0] and f"over Redshift's {limit} limit" in bad[0]
    assert arr.to_pylist() == [None]


def test_values_just_within_a_redshift_limit_are_kept():
    from consumers.events.columns import column_array

    ok = "é" * 32767 + "x"  # 65535 bytes
    arr, bad = column_array(_col("text"), [ok])
    assert bad == {} and arr.to_pylist() == [ok]
