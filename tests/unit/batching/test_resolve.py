"""batching/resolve.py: where each staged record goes at the flush: a table the C fast path
types whole, the reference decoder's per-key buffers, the control records or a dead letter; and
the counts the processor reports (received = batched + dead-lettered)."""

from __future__ import annotations

import pytest

from consumers.batching.buffer import FlushPolicy, ShardBatch
from consumers.batching.resolve import resolve
from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder
from tests.unit.batching.test_keyless import FULL
from tests.unit.batching.test_keyless import record as keyless_record
from tests.unit.events.records import insert_record
from tests.unit.events.test_decode import golden
from tests.unit.events.test_decode_outcomes import control, rec


def _staged(contracts, raws: list[bytes]) -> ShardBatch:
    keys = {c.qualified: c.primary_key for c in contracts}
    batch = ShardBatch(FlushPolicy(max_rows=1000), keys.__getitem__)
    n = len(raws)
    batch.stage(raws, [str(10 + i) for i in range(n)], ["pk"] * n, [1_764_000_000_000] * n)
    return batch


def _resolve(contracts, batch: ShardBatch, fast: bool = True):
    dead: list[tuple[int, str]] = []
    counts = resolve(
        batch, Decoder(contracts), FastDecoder(contracts, enabled=fast), "s",
        lambda i, why: dead.append((i, why)),
    )  # fmt: skip
    return counts, dead


@pytest.mark.parametrize("fast", [True, False])
def test_each_record_goes_to_one_place_and_the_stage_is_emptied(contracts, fast):
    raws = [
        insert_record(1),
        golden("insert"),
        b"{not json",
        golden("update-unchanged-toast"),  # the reference's: the whole table goes there
        control("truncate-table"),
        insert_record(2, record_id=2),
        b"[]",
    ]
    batch = _staged(contracts, raws)
    counts, dead = _resolve(contracts, batch, fast)
    assert counts == (5, 2)
    assert [(i, why[:9]) for i, why in dead] == [(2, "not JSON "), (6, "not a DMS")]
    assert [c.operation for c in batch.control] == ["truncate-table"]
    assert set(batch.typed) == ({"public.currency"} if fast else set())
    expected = {"public.address"} | (set() if fast else {"public.currency"})
    assert set(batch.tables) == expected
    address = batch.tables["public.address"].rows[(7,)]
    assert (address.op, address.sequence) == ("update", "13")  # the later change of key 7
    if fast:
        assert batch.typed["public.currency"].column("currency_id").to_pylist() == [1, 2]
    assert (batch.staged, batch.staged_sequences) == ([], [])
    assert (batch.staged_partition_keys, batch.staged_arrivals) == ([], [])
    assert batch.records == 7  # counted as staged, whatever became of them


def test_an_empty_stage_resolves_to_nothing(contracts):
    batch = ShardBatch(FlushPolicy(), lambda t: ())
    assert _resolve(contracts, batch) == ((0, 0), [])
    assert batch.typed == {} and batch.tables == {}


def test_a_table_the_fast_path_cannot_type_goes_whole_to_the_reference(contracts):
    raws = [insert_record(1), insert_record(2, code="X" * 300), insert_record(3)]
    batch = _staged(contracts, raws)
    assert _resolve(contracts, batch) == ((3, 0), [])  # refused later, by the writer
    assert batch.typed == {}
    assert sorted(batch.tables["public.currency"].rows) == [(1,), (2,), (3,)]


def test_equal_versions_keep_the_later_record_on_the_reference_path(contracts):
    first = rec("load", **{"data.city": "First"})
    second = rec("load", **{"data.city": "Second"})
    batch = _staged(contracts, [first, second, golden("update-unchanged-toast")])
    _resolve(contracts, batch)
    # the update (version > 0) wins over both full-load rows; its untouched value is filled
    # from the later full-load row
    row = batch.tables["public.address"].rows[(7,)]
    assert row.op == "update" and row.values["address_line_1"] == "1 High St"
    loads = _staged(contracts, [first, second, golden("update-key-change")])
    _resolve(contracts, loads)
    assert loads.tables["public.address"].rows[(6,)].op == "delete"
    old = _staged(contracts, [first, second, control("truncate-table")])
    _resolve(contracts, old, fast=False)
    assert old.tables["public.address"].rows[(7,)].values["city"] == "Second"


def test_a_table_without_a_primary_key_keeps_every_change(contracts):
    raws = [keyless_record("insert", {"who": "a", "n": 1}) for _ in range(2)]
    keys = {FULL.qualified: ()}
    batch = ShardBatch(FlushPolicy(), keys.__getitem__)
    batch.stage(raws, ["1", "2"], ["pk", "pk"], [1, 1])
    counts = resolve(batch, Decoder([FULL]), FastDecoder([FULL]), "s", lambda i, w: None)
    assert counts == (2, 0) and batch.typed == {}
    assert len(batch.tables[FULL.qualified].rows) == 1  # the same change identity, once
