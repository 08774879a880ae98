"""The O(1) replacements return what moto's own methods return, on real moto shards."""

from __future__ import annotations

from moto.kinesis import models

from consumers.local import moto_server


def test_sequence_number_lookups_are_unchanged():
    original_max = models.Shard.get_max_sequence_number
    original_min = models.Shard.get_min_sequence_number
    shard = models.Shard(0, 0, 2**128)
    assert (moto_server._last_key(shard), moto_server._first_key(shard)) == (
        original_max(shard),
        original_min(shard),
    )
    for i in range(5):
        shard.put_record(str(i), "data", None)  # uses whichever implementation is installed
    assert (
        (moto_server._last_key(shard), moto_server._first_key(shard))
        == (
            original_max(shard),
            original_min(shard),
        )
        == (5, 1)
    )
