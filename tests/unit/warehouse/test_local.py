"""The local loader: the cut of a table backlog into loads of bounded size, and the bounded
history of its loads."""

from __future__ import annotations

import itertools
import random

from consumers.warehouse.local import LocalWarehouse


def loader(cap, rows):
    wh = LocalWarehouse("postgresql://unused", [], s3=None, bucket="b", max_rows_per_load=cap)
    wh.file_rows = dict(rows)
    return wh


def test_parts_keep_order_and_batches_whole_within_the_cap():
    rng = random.Random(11)
    for _ in range(300):
        cap = rng.randint(1, 50)
        files, rows = [], {}
        for b in range(rng.randint(1, 30)):
            for f in range(
                rng.choice((1, 1, 2, 3))
            ):  # a batch may hold several of the table's files
                key = f"b{b}/f{f}.parquet"
                files.append((f"b{b}", key))
                rows[key] = rng.choice((0, 1, 5, 20, 49, 80))
        parts = loader(cap, rows).parts(files)
        assert [f for part in parts for f in part] == files  # nothing lost, nothing reordered
        batches = [[b for b, _ in part] for part in parts]
        for earlier, later in itertools.pairwise(batches):
            assert earlier[-1] != later[0]  # a batch is never cut
        for part in parts:
            size = sum(rows[k] for _, k in part)
            assert size <= cap or len({b for b, _ in part}) == 1  # over the cap: one batch alone


def test_a_backlog_under_the_cap_is_one_load():
    rows = {f"k{i}": 1000 for i in range(10)}
    files = [(f"b{i}", f"k{i}") for i in range(10)]
    assert loader(10_000, rows).parts(files) == [files]
    assert loader(3_000, rows).parts(files) == [files[0:3], files[3:6], files[6:9], files[9:]]
    assert loader(10_000, rows).parts([]) == []


def test_load_history_keeps_recent_loads_and_sums_up_the_whole_run():
    """A long `cdc run` keeps only the last KEEP_SECONDS of loads (each holds a freshness
    sample a row), but still knows every load's count, each table's last load, and freshness
    percentiles of the whole run to the nearest 10 ms."""
    from datetime import UTC, datetime, timedelta

    from consumers.warehouse.local import LoadHistory, TableLoad, percentile

    start = datetime(2026, 11, 30, tzinfo=UTC)
    rng = random.Random(7)
    history, every = LoadHistory(), []
    for i in range(3000):  # one load a second, for 50 minutes
        table = f"public.t{i % 7}"
        freshness = [rng.uniform(0.2, 9.0) for _ in range(rng.randint(0, 40))]
        load = TableLoad(table, 1, len(freshness), 0.1, start + timedelta(seconds=i), freshness)
        history.append(load)
        every.append(load)
    recent = list(history)
    assert history.total == 3000
    assert recent == every[-601:]  # the last 600 s, both ends included
    assert history.last == {x.table: x for x in every}
    samples = [f for x in every for f in x.freshness_s]
    for p in (0.0, 0.5, 0.99, 1.0):
        got, want = history.freshness_percentile(p), percentile(samples, p)
        assert got is not None and want is not None
        assert want - 0.015 <= got <= want + 0.005
    assert LoadHistory().freshness_percentile(0.5) is None
