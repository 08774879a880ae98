from __future__ import annotations

from consumers.batching.buffer import FlushPolicy, ShardBatch, TableBuffer
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
