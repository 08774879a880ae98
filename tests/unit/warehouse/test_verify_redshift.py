"""`cdc verify` and `cdc status` against a Redshift warehouse: the SQL they send through the
seam is Redshift's (parsed by sqlglot's redshift dialect, none of the PostgreSQL-only forms the
local verify uses), the source side hashes with the same formula, and the comparison reports
what differs. The warehouse is a recording stand-in; nothing here reaches AWS."""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot.errors import ErrorLevel

from consumers.status import last_load_query, live_rows_query
from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect
from consumers.warehouse.verify import compare

# PostgreSQL forms Redshift rejects: concat_ws and E'' strings (not in Redshift's SQL
# reference), FILTER on aggregates, ::text (TEXT is VARCHAR(256) there: a longer value would
# be cut) and CAST to text; bytea's encode().
NOT_REDSHIFT = [r"concat_ws", r"\bE'", r"FILTER\s*\(", r"::text", r"AS text\)", r"encode\("]


class Recorder:
    """A seam Database that records each statement and answers from `answers`."""

    def __init__(self, dialect: Any, answers: dict[str, list[tuple[Any, ...]]]) -> None:
        self.dialect, self.answers, self.sent = dialect, answers, []

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        self.sent.append(sql)
        table = re.search(r'FROM ("[^"]+"\."[^"]+")', sql)
        return self.answers.get(table.group(1) if table else "", [])


def _redshift_ok(sql: str) -> None:
    sqlglot.parse_one(sql, read="redshift", error_level=ErrorLevel.RAISE)
    for form in NOT_REDSHIFT:
        assert not re.search(form, sql), f"{form} in {sql[:200]}"


def test_verify_sends_redshift_sql_for_every_contract_table(contracts):
    src = Recorder(PostgresDialect(), {})
    wh = Recorder(RedshiftDialect(), {})
    diffs = compare(src, wh, contracts)
    assert len(wh.sent) == len(contracts) == len(diffs)
    for sql in wh.sent:
        _redshift_ok(sql)
        assert 'WHERE NOT "_cdc_deleted"' in sql
    for sql in src.sent:  # the source is PostgreSQL: its own dialect, the same hash formula
        sqlglot.parse_one(sql, read="postgres", error_level=ErrorLevel.RAISE)
        assert "concat_ws" not in sql and sql.count("COALESCE(MD5(") == sql.count("'n')")


def test_every_redshift_type_is_rendered_by_the_dialect_not_cast_to_text(contracts):
    zoo = next(c for c in contracts if c.name == "type_zoo")
    wh = Recorder(RedshiftDialect(), {})
    compare(Recorder(PostgresDialect(), {}), wh, [zoo])
    (sql,) = wh.sent
    assert 'JSON_SERIALIZE("c_jsonb")' in sql  # SUPER does not CAST to VARCHAR
    assert "FROM_VARBYTE(\"c_bytea\", 'hex')" in sql
    assert "CASE WHEN \"c_bool\" THEN 'true'" in sql


def test_the_two_sides_hash_the_same_columns_in_the_same_order(contracts):
    zoo = next(c for c in contracts if c.name == "type_zoo")
    src, wh = Recorder(PostgresDialect(), {}), Recorder(RedshiftDialect(), {})
    compare(src, wh, [zoo])
    (s,), (w,) = src.sent, wh.sent
    assert s.count("COALESCE(MD5(") == w.count("COALESCE(MD5(") == len(zoo.columns)
    assert "encode(\"c_bytea\", 'hex')" in s  # the source's bytea as Redshift prints VARBYTE


def test_verify_reports_what_differs_between_the_answers(contracts):
    currency = next(c for c in contracts if c.name == "currency")
    table = '"public"."currency"'
    src = Recorder(PostgresDialect(), {table: [("1", "a"), ("2", "b"), ("3", "c")]})
    wh = Recorder(RedshiftDialect(), {table: [("1", "a"), ("2", "B"), ("4", "d")]})
    (d,) = compare(src, wh, [currency])
    assert (d.missing, d.extra, d.different) == ([("3",)], [("4",)], [("2",)])
    assert not d.ok
    same = Recorder(RedshiftDialect(), {table: [("1", "a"), ("2", "b"), ("3", "c")]})
    assert compare(src, same, [currency])[0].ok


def test_status_sends_redshift_sql(contracts):
    for c in contracts:
        _redshift_ok(live_rows_query(c))
    sql = last_load_query(RedshiftDialect())
    _redshift_ok(sql.replace("%s", "'public.currency'"))
    assert "DATEDIFF(microsecond" in sql and "extract(epoch" not in sql
    assert "extract(epoch" in last_load_query(PostgresDialect())  # the local one is unchanged
