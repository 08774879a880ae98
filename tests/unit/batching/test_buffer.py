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
