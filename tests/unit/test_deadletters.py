"""Dead-letter documents: parsed back with their table and time; the list/redrive filters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from consumers.deadletters import DeadLetter, Filters
from consumers.sink.writer import dead_letter_document

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "records"


def letter(reason: str = "column(s) note of public.address are not in the contract") -> DeadLetter:
    raw = (GOLDEN / "update.json").read_bytes()
    body = dead_letter_document(
        "shardId-000000000001", "4960", "public.address.7", None, raw, reason
    )
    return DeadLetter.parse("dead-letters/shardId-000000000001/4960.json", body)


def test_a_document_parses_back_with_its_table_and_time():
    d = letter()
    assert (d.table, d.operation, d.shard, d.sequence) == (
        "public.address",
        "update",
        "shardId-000000000001",
        "4960",
    )
    assert d.raw == (GOLDEN / "update.json").read_bytes()
    assert d.when == datetime(2024, 7, 29, 0, 58, 44, 895275, tzinfo=UTC)  # metadata timestamp
    not_json = DeadLetter.parse(
        "k", dead_letter_document("s", "1", "", 1_700_000_000_000, b"\xff", "not JSON")
    )
    assert not_json.table == "" and not_json.when == datetime.fromtimestamp(1_700_000_000, UTC)


def test_filters():
    d = letter()
    assert Filters().match(d)
    assert Filters(table="public.address").match(d) and Filters(table="address").match(d)
    assert not Filters(table="public.staff").match(d)
    assert Filters(reason="NOT IN THE CONTRACT").match(d)
    assert not Filters(reason="over varchar").match(d)
    assert Filters(shard="shardId-000000000001").match(d)
    assert not Filters(shard="shardId-000000000000").match(d)
    t = d.when
    assert t is not None
    assert Filters(since=t).match(d) and not Filters(until=t).match(d)
    assert not Filters(since=datetime(2025, 1, 1, tzinfo=UTC)).match(d)
