from __future__ import annotations

import pytest

from consumers.batching.buffer import FlushPolicy, ShardBatch, TableBuffer
from consumers.errors import CdcError
from consumers.events.model import ChangeEvent


def ev(key, version, op="update", seq="1", unchanged=(), old_key=None, **values):
    return ChangeEvent("public.t", op, (key,), {"id": key, **values}, version, seq, None,
                       unchanged, old_key)  # fmt: skip


def test_last_write_wins_by_version_not_arrival():
    b = TableBuffer(("id",))
    b.add(ev(1, 20, name="new"))
    b.add(ev(1, 10, name="old"))  # arrives later, is older: ignored
    assert b.rows[(1,)].values["name"] == "new"


def test_unchanged_toast_is_filled_from_the_replaced_change():
    b = TableBuffer(("id",))
    b.add(ev(1, 10, op="insert", big="X" * 10, n=1))
    b.add(ev(1, 20, unchanged=("big",), n=2))
    row = b.rows[(1,)]
    assert row.values == {"id": 1, "big": "X" * 10, "n": 2} and row.unchanged == ()


def test_key_change_deletes_the_old_key_even_when_the_update_is_replaced():
    b = TableBuffer(("id",))
    b.add(ev(1, 10, op="insert", n=1))
    b.add(ev(2, 20, old_key=(1,), n=1))
    b.add(ev(2, 30, op="delete"))
    assert {k: e.op for k, e in b.rows.items()} == {(1,): "delete", (2,): "delete"}
    assert b.rows[(1,)].version == 20


def test_flush_reasons():
    now = [0.0]
    batch = ShardBatch(FlushPolicy(max_rows=2, max_bytes=100, max_age_seconds=5),
                       lambda t: ("id",), clock=lambda: now[0])  # fmt: skip
    assert batch.due() is None and batch.empty
    batch.note("1", 0, 10)
    assert batch.due() is None
    now[0] = 5.0
    assert batch.due() == "age"
    batch.note("2", 0, 10)
    assert batch.due() == "rows"
    big = ShardBatch(FlushPolicy(max_rows=99, max_bytes=100), lambda t: ("id",))
    big.note("1", 0, 150)
    assert big.due() == "bytes"


def test_stage_keeps_records_until_the_batch_is_full():
    batch = ShardBatch(FlushPolicy(max_rows=4, max_bytes=25), lambda t: ("id",))
    raws = [b"x" * 10, b"y" * 10, b"z" * 10, b"w" * 1]
    seqs, keys, arrivals = ["1", "2", "3", "4"], ["a"] * 4, [5, 6, 7, 8]
    assert batch.stage(raws, seqs, keys, arrivals) == 3  # 30 bytes >= 25: full after the third
    assert (batch.records, batch.bytes, batch.first_sequence, batch.last_sequence) == (
        3, 30, "1", "3",
    )  # fmt: skip
    assert batch.first_arrival_ms == 5 and batch.staged == raws[:3]
    assert batch.due() == "bytes"
    rest = ShardBatch(FlushPolicy(max_rows=1, max_bytes=1000), lambda t: ("id",))
    assert rest.stage(raws, seqs, keys, arrivals, 3) == 4  # from a start; the row limit
    assert rest.staged_sequences == ["4"] and rest.due() == "rows"


def test_flush_policy_defaults_and_settings(monkeypatch):
    for name in ("CDC_FLUSH_MAX_ROWS", "CDC_FLUSH_MAX_BYTES", "CDC_FLUSH_MAX_AGE"):
        monkeypatch.delenv(name, raising=False)
    assert FlushPolicy.from_env() == FlushPolicy(20_000, 16 * 1024 * 1024, 1.0)  # README
    monkeypatch.setenv("CDC_FLUSH_MAX_ROWS", "1")
    monkeypatch.setenv("CDC_FLUSH_MAX_BYTES", "1024")
    monkeypatch.setenv("CDC_FLUSH_MAX_AGE", "0.25")
    assert FlushPolicy.from_env() == FlushPolicy(1, 1024, 0.25)  # the smallest accepted


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CDC_FLUSH_MAX_ROWS", "many", "bad CDC_FLUSH_* setting"),
        ("CDC_FLUSH_MAX_BYTES", "1.5", "bad CDC_FLUSH_* setting"),
        ("CDC_FLUSH_MAX_AGE", "soon", "bad CDC_FLUSH_* setting"),
        ("CDC_FLUSH_MAX_ROWS", "0", "CDC_FLUSH_MAX_ROWS >= 1"),
        ("CDC_FLUSH_MAX_BYTES", "1023", "CDC_FLUSH_MAX_BYTES >= 1024"),
        ("CDC_FLUSH_MAX_AGE", "0", "MAX_AGE > 0"),
    ],
)
def test_a_bad_flush_setting_is_a_one_line_error_naming_it(monkeypatch, name, value, message):
    for n in ("CDC_FLUSH_MAX_ROWS", "CDC_FLUSH_MAX_BYTES", "CDC_FLUSH_MAX_AGE"):
        monkeypatch.delenv(n, raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(CdcError) as refused:
        FlushPolicy.from_env()
    assert message in str(refused.value) and "\n" not in str(refused.value)
    if "bad" not in message:
        assert str(refused.value) == (
            "CDC_FLUSH_MAX_ROWS >= 1, CDC_FLUSH_MAX_BYTES >= 1024, MAX_AGE > 0"
        )


def test_a_key_change_buffers_a_full_delete_of_the_old_key():
    b = TableBuffer(("id",))
    moved = ChangeEvent("public.t", "update", (2,), {"id": 2, "n": 1}, 20, "7", "2024-01-01Z",
                        (), (1,))  # fmt: skip
    b.add(moved)
    assert b.rows[(1,)] == ChangeEvent(
        "public.t", "delete", (1,), {"id": 1}, 20, "7", "2024-01-01Z"
    )
    assert b.rows[(2,)] == moved


def test_a_key_change_takes_its_untouched_values_from_the_old_key():
    b = TableBuffer(("id",))
    b.add(ev(1, 10, op="insert", big="X", n=1))
    b.add(ev(2, 20, old_key=(1,), unchanged=("big",), n=2))
    assert b.rows[(2,)].values == {"id": 2, "big": "X", "n": 2}
    assert b.rows[(2,)].unchanged == ()
    c = TableBuffer(("id",))
    c.add(ev(2, 20, old_key=(1,), unchanged=("big",), n=2))  # nothing buffered for key 1
    assert c.rows[(2,)].unchanged == ("big",) and "big" not in c.rows[(2,)].values


def test_equal_versions_keep_the_later_change():
    b = TableBuffer(("id",))
    b.add(ev(1, 0, op="load", seq="1", name="first"))
    b.add(ev(1, 0, op="load", seq="2", name="second"))  # a redone full load
    assert b.rows[(1,)].values["name"] == "second"


def test_unchanged_values_are_not_taken_from_a_delete_or_a_change_without_them():
    b = TableBuffer(("id",))
    b.add(ev(1, 10, op="delete", big="gone"))
    b.add(ev(1, 20, unchanged=("big",), n=2))
    assert b.rows[(1,)].unchanged == ("big",) and "big" not in b.rows[(1,)].values
    c = TableBuffer(("id",))
    c.add(ev(1, 10, op="insert", n=1))  # carries no "big" either
    c.add(ev(1, 20, unchanged=("big", "n"), other=2))
    assert c.rows[(1,)].unchanged == ("big",) and c.rows[(1,)].values["n"] == 1
    d = TableBuffer(("id",))
    d.add(ev(1, 20, unchanged=("big",), n=2))
    d.add(ev(1, 10, op="insert", big="X", n=1))  # older, arriving later: still fills
    assert d.rows[(1,)].values == {"id": 1, "big": "X", "n": 2} and d.rows[(1,)].version == 20


def test_keyless_changes_are_kept_once_per_change_identity():
    b = TableBuffer(())
    row = {"who": "a"}
    load = ChangeEvent("public.l", "load", (), row, 0, "5", None)
    b.add(load)
    b.add(load)  # redelivered
    b.add(ChangeEvent("public.l", "load", (), row, 0, "6", None))  # another full-load row
    insert = ChangeEvent("public.l", "insert", (), row, 7, "8", None)
    delete = ChangeEvent("public.l", "delete", (), row, 9, "9", None)
    for e in (insert, insert, delete):
        b.add(e)
    assert sorted(b.rows) == sorted([("load", "5"), ("load", "6"), ("+", 7), ("-", 9)], key=str)
    assert b.rows[("-", 9)] is delete and b.rows[("+", 7)] is insert
    assert b.rows[("load", "5")] is load


def test_a_keyless_update_is_the_removal_of_its_old_row_and_the_addition_of_its_new():
    b = TableBuffer(())
    update = ChangeEvent("public.l", "update", (), {"who": "b"}, 7, "8", None,
                         before={"who": "a"})  # fmt: skip
    b.add(update)
    assert b.rows[("-", 7)] == ChangeEvent("public.l", "delete", (), {"who": "a"}, 7, "8", None)
    assert b.rows[("+", 7)] == ChangeEvent("public.l", "update", (), {"who": "b"}, 7, "8", None)


def test_a_batch_counts_its_records_and_names_its_range():
    now = [100.0]
    batch = ShardBatch(FlushPolicy(max_age_seconds=5), lambda t: ("id",), clock=lambda: now[0])
    assert batch.empty and batch.due() is None
    batch.note("11", 1_000, 10)
    now[0] = 103.0
    batch.note("12", 2_000, 5)
    assert (batch.records, batch.bytes, batch.first_arrival_ms) == (2, 15, 1_000)
    assert batch.batch_id("s") == "s/11-12" and not batch.empty
    assert batch.opened_at == 100.0  # the age runs from the first record
    now[0] = 104.999
    assert batch.due() is None
    now[0] = 105.0
    assert batch.due() == "age"
    batch.add(ev(1, 10, op="insert"))
    batch.add(ev(2, 10, op="insert"))
    assert list(batch.tables) == ["public.t"] and len(batch.tables["public.t"].rows) == 2


def test_a_batch_at_exactly_its_limits_is_due():
    rows = ShardBatch(FlushPolicy(max_rows=2, max_bytes=100), lambda t: ("id",))
    rows.note("1", 0, 1)
    assert rows.due() is None
    rows.note("2", 0, 1)
    assert rows.due() == "rows"
    size = ShardBatch(FlushPolicy(max_rows=10, max_bytes=100), lambda t: ("id",))
    size.note("1", 0, 99)
    assert size.due() is None
    size.note("2", 0, 1)
    assert size.due() == "bytes"


def test_stage_stops_at_the_record_that_reaches_the_byte_limit_exactly():
    batch = ShardBatch(FlushPolicy(max_rows=10, max_bytes=20), lambda t: ("id",))
    raws = [b"a" * 10, b"b" * 10, b"c" * 10]
    seqs, keys, arrivals = ["1", "2", "3"], ["k1", "k2", "k3"], [7, 8, 9]
    assert batch.stage(raws, seqs, keys, arrivals) == 2  # 20 bytes: full at the second
    assert batch.staged_partition_keys == ["k1", "k2"] and batch.staged_arrivals == [7, 8]
    big = ShardBatch(FlushPolicy(max_rows=10, max_bytes=1024), lambda t: ("id",))
    assert big.stage([b"x" * 5000, b"y"], ["1", "2"], ["k", "k"], [1, 2]) == 1  # one, whole
    assert big.bytes == 5000 and big.due() == "bytes"
    more = ShardBatch(FlushPolicy(max_rows=3, max_bytes=1024), lambda t: ("id",))
    assert more.stage(raws[:2], seqs[:2], keys[:2], arrivals[:2]) == 2
    assert more.stage([b"c", b"d"], ["3", "4"], ["k3", "k4"], [9, 10]) == 1  # room for one
    assert (more.records, more.bytes, more.last_sequence) == (3, 21, "3")
    later = ShardBatch(FlushPolicy(max_rows=10, max_bytes=1024), lambda t: ("id",))
    later.stage(raws[:1], seqs[:1], keys[:1], arrivals[:1])
    later.stage(raws[1:], seqs[1:], keys[1:], arrivals[1:])
    assert (later.first_sequence, later.last_sequence, later.first_arrival_ms) == ("1", "3", 7)
    assert later.bytes == 30 and later.staged == raws and later.staged_sequences == seqs
    assert later.staged_partition_keys == keys and later.staged_arrivals == arrivals
    nothing = ShardBatch(FlushPolicy(), lambda t: ("id",))
    assert nothing.stage([], [], [], []) == 0 and nothing.empty
    assert nothing.stage(raws, seqs, keys, arrivals, 3) == 3 and nothing.empty
