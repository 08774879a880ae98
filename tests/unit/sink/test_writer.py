from __future__ import annotations

import io

import orjson
import pyarrow.parquet as pq

from consumers.batching.buffer import FlushPolicy, ShardBatch
from consumers.events.decode import Decoder
from consumers.sink.writer import BatchManifest, BatchWriter
from tests.fakes import FakeS3
from tests.unit.events.records import insert_record


def _batch(contracts) -> ShardBatch:
    decoder = Decoder(contracts)
    batch = ShardBatch(FlushPolicy(), lambda t: ("currency_id",))
    for seq in ("101", "102", "103"):
        raw = insert_record(int(seq), record_id=int(seq))
        batch.note(seq, 1_764_000_000_000, len(raw))
        batch.add(decoder.decode(raw, seq))
    return batch


def test_keys_are_deterministic_and_a_retried_flush_rewrites_the_same_bytes(contracts):
    index = {c.qualified: c for c in contracts}
    first, second = FakeS3(), FakeS3(fail=2)  # the second flush survives two S3 errors
    BatchWriter(first, "b", "d", index).write("shard-7", _batch(contracts), "rows")
    BatchWriter(second, "b", "d", index).write("shard-7", _batch(contracts), "rows")
    assert first.objects == second.objects
    assert first.keys() == [
        "data/public.currency/date=2025-11-24/shard-7/101-103.parquet",
        "manifests/shard-7/101-103.json",
    ]


def test_manifest_content_and_order(contracts):
    s3 = FakeS3()
    writer = BatchWriter(s3, "b", "d", {c.qualified: c for c in contracts})
    manifest = writer.write("shard-7", _batch(contracts), "age")
    stored = BatchManifest.from_json(s3.objects[("b", "manifests/shard-7/101-103.json")])
    assert stored == manifest
    assert (stored.batch_id, stored.records, stored.flush_reason) == ("shard-7/101-103", 3, "age")
    (f,) = stored.files
    assert (f.table, f.rows, f.operations) == ("public.currency", 3, {"insert": 3})
    assert int(f.min_version) < int(f.max_version)
    parquet = pq.read_table(io.BytesIO(s3.objects[("b", f.key)]))
    assert parquet.num_rows == 3 and parquet.schema.field("currency_code").type == "string"
    assert (
        pq.ParquetFile(io.BytesIO(s3.objects[("b", f.key)]))
        .metadata.row_group(0)
        .column(0)
        .compression
        == "ZSTD"
    )
    assert list(s3.objects)[-1] == ("b", "manifests/shard-7/101-103.json")  # written last
    assert orjson.loads(s3.objects[("b", "manifests/shard-7/101-103.json")])["format"]
