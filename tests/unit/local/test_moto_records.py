"""The launcher's record store answers as moto's dict of Records does, from its files."""

from __future__ import annotations

import datetime
import gc
import random
import threading
from collections import OrderedDict

import pytest
from moto.core.utils import unix_time
from moto.kinesis import models

from consumers.local import moto_records
from consumers.local.moto_records import ShardRecords

START = datetime.datetime(2024, 1, 1, 0, 0, 0, 123)


def record(sequence, arrival, key="k", data="ZGF0YQ==", hash_key=None):
    """A moto Record as moto's put makes it, with a chosen arrival time."""
    r = models.Record(key, data, sequence, hash_key)
    r.created_at_datetime = arrival
    r.created_at = unix_time(arrival)
    return r


def same(a, b):
    return vars(a) == vars(b) and type(a) is type(b)


def both(tmp_path, records):
    """moto's dict and the store, holding the same records."""
    store, moto_dict = ShardRecords(tmp_path), OrderedDict()
    for r in records:
        store[r.sequence_number] = moto_dict[r.sequence_number] = r
    return store, moto_dict


def test_unix_time_is_motos_to_the_bit():
    rng = random.Random(7)
    values = [0, 1, -1, 999_999, 86_400_000_000, -86_400_000_001, 1_700_000_000_123_456]
    values += [rng.randrange(-(6 * 10**16), 6 * 10**16) for _ in range(20_000)]  # ±1900 years
    epoch, micro = datetime.datetime(1970, 1, 1), datetime.timedelta(microseconds=1)
    for us in values:
        assert moto_records.unix_time(us) == unix_time(epoch + us * micro), us


def test_the_dict_interface_answers_as_motos_dict(tmp_path, monkeypatch):
    monkeypatch.setattr(moto_records, "READ_CHUNK", 7)  # iterations cross several reads
    monkeypatch.setattr(moto_records, "FLUSH_BYTES", 300)  # some puts written, some pending
    tick = datetime.timedelta(microseconds=1501)
    rows = [
        record(
            s, START + s * tick, key=f"k{s}\u00e9" if s % 3 else "\ud800",  # a lone surrogate
            data=None if s == 4 else "eA==" * s, hash_key=str(s * 10**30) if s % 2 else None,
        )
        for s in range(1, 41)
    ]  # fmt: skip
    store, moto_dict = both(tmp_path, rows)
    assert len(store) == len(moto_dict) == 40 and bool(store)
    assert list(store) == list(moto_dict) and list(reversed(store)) == list(reversed(moto_dict))
    assert list(store.keys()) == list(moto_dict.keys())
    for key in (0, 1, 17, 40, 41, "1"):
        assert (key in store) == (key in moto_dict)
    for key in (1, 4, 9, 40):
        assert same(store[key], moto_dict[key])
    with pytest.raises(KeyError):
        store[41]
    pairs = zip(store.values(), moto_dict.values(), strict=True)
    assert all(same(a, b) for a, b in pairs)
    pairs = zip(reversed(store.values()), reversed(moto_dict.values()), strict=True)
    assert all(same(a, b) for a, b in pairs)
    assert len(store.values()) == 40
    items = zip(store.items(), moto_dict.items(), strict=True)
    assert all(k == j and same(a, b) for (k, a), (j, b) in items)
    tracked = {id(r) for r in models.Record.instances_tracked}
    assert not any(id(r) in tracked for r in store.values())


def test_an_empty_store_and_appends(tmp_path):
    store = ShardRecords(tmp_path)
    assert (len(store), list(store), list(store.values()), 1 in store) == (0, [], [], False)
    assert store.after(0, None) == ([], 0, 0) and store.sequence_at(12.5) == 0
    assert store.append("a", "eA==", None, START) == 1  # moto's put: 1 in an empty shard
    assert store.append("b", "eA==", "5", START) == 2
    with pytest.raises(KeyError):
        store[5] = record(5, START)  # moto only ever puts the next
    store[3] = record(3, START)
    assert list(store) == [1, 2, 3]
    seeded = ShardRecords(tmp_path)
    seeded[7] = record(7, START)
    assert seeded.append("c", "eA==", None, START) == 8


def test_after_is_motos_walk(tmp_path):
    tick = datetime.timedelta(milliseconds=3, microseconds=7)
    store, moto_dict = both(tmp_path, [record(s, START + s * tick) for s in range(1, 51)])
    shard = models.Shard(0, 0, 2**128)
    shard.records = moto_dict
    for last in (0, 1, 13, 49, 50, 70):
        for limit in (None, 1, 6, 10_000):
            got, want = store.after(last, limit), models.Shard.get_records(shard, str(last), limit)
            assert all(same(a, b) for a, b in zip(got[0], want[0], strict=True))
            assert got[1:] == want[1:], (last, limit)
    behind = unix_time(START + 50 * tick) - unix_time(START + 3 * tick)
    assert store.after(0, 3)[2] == int(behind * 1000) > 0


@pytest.mark.parametrize("in_order", [True, False])
def test_sequence_at_is_motos(tmp_path, in_order):
    """AT_TIMESTAMP: bisection while arrival times are in order; moto's backward walk when the
    clock went back (equal arrival times included)."""
    rng = random.Random(3)
    micros = sorted(rng.randrange(0, 10**7) for _ in range(300))
    if not in_order:
        micros[150], micros[151] = micros[151] + 5, micros[150]
    micros[20] = micros[21] = micros[22]  # equal times
    rows = [record(i + 1, START + datetime.timedelta(microseconds=m)) for i, m in enumerate(micros)]
    store, moto_dict = both(tmp_path, rows)
    shard = models.Shard(0, 0, 2**128)
    shard.records = moto_dict
    first = unix_time(START)
    probes = [r.created_at for r in rows] + [r.created_at + 1e-7 for r in rows]
    probes += [first - 1, first + 11, 10**10]
    for at in probes:
        assert store.sequence_at(at) == models.Shard.get_sequence_number_at(shard, at), at


def test_files_go_when_the_store_is_dropped_or_closed(tmp_path):
    store = ShardRecords(tmp_path)
    store.append("k", "eA==", None, START)
    assert store[1].data == "eA=="
    paths = store.paths
    assert all(p.exists() for p in paths) and paths[0].stat().st_size > 0
    del store
    gc.collect()
    assert not any(p.exists() for p in paths)
    closed = ShardRecords(tmp_path)
    closed.append("k", "eA==", None, START)
    closed.close()
    assert list(tmp_path.iterdir()) == []
    reused = ShardRecords(tmp_path)  # may get the closed store's descriptor numbers
    reused.append("other", "b3RoZXI=", None, START)
    assert (len(closed), closed.after(0, None), 1 in closed) == (0, ([], 0, 0), False)
    with pytest.raises(ValueError, match="deleted stream"):
        closed.append("k", "eA==", None, START)
    assert reused[1].data == "b3RoZXI="


def test_reads_racing_puts_see_every_record_once(tmp_path, monkeypatch):
    """moto's server is threaded: GetRecords (which writes the pending puts) while PutRecords."""
    monkeypatch.setattr(moto_records, "FLUSH_BYTES", 4096)
    store = ShardRecords(tmp_path)
    total, seen, errors = 20_000, [], []

    def put():
        for i in range(total):
            store.append(str(i), f"{i:08d}", None, START)

    def read():
        last = 0
        try:
            while last < total:
                records, last, _ = store.after(last, 500)
                seen.extend(int(r.data) for r in records)
        except Exception as e:  # reported below, with the test's failure
            errors.append(e)

    threads = [threading.Thread(target=put), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and seen == list(range(total))
