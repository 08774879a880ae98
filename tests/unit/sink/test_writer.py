from __future__ import annotations

import base64
import dataclasses
import io
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from consumers.batching.buffer import FlushPolicy, ShardBatch
from consumers.contracts.model import parse_contract
from consumers.errors import TransientError
from consumers.events.decode import Decoder
from consumers.events.model import ChangeEvent, ControlEvent
from consumers.sink.writer import BatchManifest, BatchWriter, dead_letter_document, manifest_key
from tests.fakes import FakeS3
from tests.unit.batching.test_keyless import FULL
from tests.unit.batching.test_keyless import record as keyless_record
from tests.unit.events.records import insert_record
from tests.unit.events.test_decode_outcomes import rec


def _batch(contracts, records: dict[str, bytes] | None = None, arrival_ms: int = 1_764_000_000_000,
           key: tuple[str, ...] = ("currency_id",)) -> ShardBatch:  # fmt: skip
    """A batch of these records (sequence → record), decoded; by default three inserts."""
    if records is None:
        records = {s: insert_record(int(s), record_id=int(s)) for s in ("101", "102", "103")}
    decoder = Decoder(contracts)
    batch = ShardBatch(FlushPolicy(), lambda t: key)
    for seq, raw in records.items():
        batch.note(seq, arrival_ms, len(raw))
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


def test_a_row_the_warehouse_cannot_store_is_a_dead_letter_and_the_rest_load(contracts):
    records = [insert_record(1), insert_record(2, code="X" * 300), insert_record(3)]
    batch = _batch(contracts, dict(zip(("101", "102", "103"), records, strict=True)))
    s3 = FakeS3()
    manifest = BatchWriter(s3, "b", "d", {c.qualified: c for c in contracts}).write(
        "shard-7", batch, "rows"
    )
    (f,) = manifest.files
    assert (f.rows, f.operations) == (2, {"insert": 2})
    assert pq.read_table(io.BytesIO(s3.objects[("b", f.key)])).column(0).to_pylist() == [1, 3]
    (note,) = batch.dead_letters
    assert (note.sequence, note.key) == ("102", "dead-letters/shard-7/102.json")
    assert "currency_code" in note.reason
    assert manifest.dead_letters == [
        {"sequence": "102", "key": "dead-letters/shard-7/102.json", "reason": note.reason}
    ]
    doc = orjson.loads(s3.objects[("d", "dead-letters/shard-7/102.json")])
    assert doc == {
        "shard_id": "shard-7", "sequence_number": "102", "partition_key": "2",
        "approximate_arrival": None, "reason": note.reason,
        "data_base64": base64.b64encode(records[1]).decode(),
    }  # fmt: skip
    assert s3.content_types[("d", "dead-letters/shard-7/102.json")] == "application/json"
    assert s3.content_types[("b", "manifests/shard-7/101-103.json")] == "application/json"


def test_a_batch_whose_every_row_is_refused_writes_no_data_file(contracts):
    batch = _batch(contracts, {"5": insert_record(2, code="X" * 300)})
    s3 = FakeS3()
    manifest = BatchWriter(s3, "b", "d", {c.qualified: c for c in contracts}).write(
        "s", batch, "age"
    )
    assert manifest.files == [] and len(manifest.dead_letters) == 1
    assert s3.keys() == ["dead-letters/s/5.json", "manifests/s/5-5.json"]


def test_a_keyless_update_with_a_bad_value_is_one_dead_letter_and_neither_half_loads():
    changes = [
        keyless_record("insert", {"who": "a", "n": 1}, position="1/10.1.1/10"),
        keyless_record("update", {"who": "b", "n": 99_999_999_999}, {"who": "a", "n": 1},
                       position="1/20.1.1/20"),
        keyless_record("insert", {"who": "c", "n": 3}, position="1/30.1.1/30"),
    ]  # fmt: skip
    batch = _batch([FULL], dict(zip(("1", "2", "3"), changes, strict=True)), key=())
    s3 = FakeS3()
    manifest = BatchWriter(s3, "b", "d", {FULL.qualified: FULL}).write("s", batch, "rows")
    (f,) = manifest.files
    rows = pq.read_table(io.BytesIO(s3.objects[("b", f.key)])).to_pylist()
    assert [(r["who"], r["_cdc_op"]) for r in rows] == [("a", "insert"), ("c", "insert")]
    assert [d.sequence for d in batch.dead_letters] == ["2"]
    assert "n" in batch.dead_letters[0].reason
    assert s3.keys("dead-letters/") == ["dead-letters/s/2.json"]


def test_operations_versions_control_records_and_a_replay_prefix(contracts):
    batch = _batch(contracts, arrival_ms=1_700_000_000_000)
    events = [e for buf in batch.tables.values() for e in buf.rows.values()]
    batch.tables["public.currency"].rows[(102,)] = dataclasses.replace(events[1], op="delete")
    batch.control.append(ControlEvent("public.currency", "create-table", "100", {"x": 1}))
    s3 = FakeS3()
    writer = BatchWriter(s3, "b", "d", {c.qualified: c for c in contracts}, prefix="replays/r1/")
    manifest = writer.write("shard-7", batch, "shard-end")
    assert s3.keys() == [
        "replays/r1/data/public.currency/date=2023-11-14/shard-7/101-103.parquet",
        "replays/r1/manifests/shard-7/101-103.json",
    ]
    (f,) = manifest.files
    assert f.operations == {"insert": 2, "delete": 1}
    assert (int(f.min_version), int(f.max_version)) == (
        min(e.version for e in events), max(e.version for e in events),
    )  # fmt: skip
    assert f.bytes == len(s3.objects[("b", f.key)])
    assert manifest.control == [
        {"table": "public.currency", "operation": "create-table", "sequence_number": "100",
         "x": 1},
    ]  # fmt: skip
    assert manifest.first_arrival == "2023-11-14T22:13:20+00:00"
    assert manifest.flush_reason == "shard-end" and manifest.shard_id == "shard-7"
    assert manifest_key("s", "1", "2", "p/") == "p/manifests/s/1-2.json"
    key = writer.dead_letter("shard-7", "104", "pk", 1_700_000_000_000, b"{", "why")
    assert key == "replays/r1/dead-letters/shard-7/104.json"
    doc = orjson.loads(s3.objects[("d", key)])
    assert doc["approximate_arrival"] == "2023-11-14T22:13:20+00:00"


def test_a_put_that_keeps_failing_raises_after_the_attempts(contracts):
    index = {c.qualified: c for c in contracts}
    BatchWriter(FakeS3(fail=2), "b", "d", index, attempts=3).write("s", _batch(contracts), "r")
    with pytest.raises(TransientError):
        BatchWriter(FakeS3(fail=3), "b", "d", index, attempts=3).write("s", _batch(contracts), "r")


def blobs(keyless: bool = False):
    """A table with a bytea column (and an integer to break), with or without a key."""
    doc = {
        "type": "record", "name": "blobs", "namespace": "public",
        "primary_key": [] if keyless else ["id"],
        "fields": [
            {"name": "id", "type": "int", "sql_type": "integer"},
            {"name": "b", "type": ["null", "bytes"], "default": None, "sql_type": "bytea"},
        ],
        **({"replica_identity": "full"} if keyless else {}),
    }  # fmt: skip
    return parse_contract(doc, Path("schemas/public.blobs.avsc"))


def _blob_batch(contract, rows: list[dict]) -> ShardBatch:
    events = [
        ChangeEvent(contract.qualified, "insert", (r["id"],) if contract.primary_key else (), r,
                    10 + i, str(i + 1), None, raw=orjson.dumps(r))
        for i, r in enumerate(rows)
    ]  # fmt: skip
    batch = ShardBatch(FlushPolicy(), lambda t: contract.primary_key)
    for e in events:
        batch.note(e.sequence, 1_764_000_000_000, len(e.raw))
        batch.add(e)
    return batch


@pytest.mark.parametrize("keyless", [False, True])
def test_the_binary_encoding_setting_decides_how_bytea_is_read(keyless):
    contract = blobs(keyless)
    rows = [{"id": 1, "b": "AAE="}, {"id": 1 << 40, "b": None}]  # the second cannot be stored
    s3 = FakeS3()
    writer = BatchWriter(s3, "b", "d", {contract.qualified: contract}, binary_encoding="base64")
    (f,) = writer.write("s", _blob_batch(contract, rows), "rows").files
    assert pq.read_table(io.BytesIO(s3.objects[("b", f.key)])).column("b").to_pylist() == [
        b"\x00\x01"
    ]
    hex_writer = BatchWriter(FakeS3(), "b", "d", {contract.qualified: contract})
    manifest = hex_writer.write("s", _blob_batch(contract, rows), "rows")
    assert manifest.files == [] and len(manifest.dead_letters) == 2  # "AAE=" is not hex


def test_a_dead_letter_of_a_composite_key_names_the_key(contracts):
    doc = {
        "type": "record", "name": "pair", "namespace": "public", "primary_key": ["b", "a"],
        "fields": [{"name": n, "type": "int", "sql_type": "integer"} for n in ("a", "b", "c")],
    }  # fmt: skip
    pair = parse_contract(doc, Path("schemas/public.pair.avsc"))
    e = ChangeEvent(pair.qualified, "insert", (2, 1), {"a": 1, "b": 2, "c": 1 << 40}, 5, "9")
    batch = ShardBatch(FlushPolicy(), lambda t: pair.primary_key)
    batch.note("9", 1_764_000_000_000, 10)
    batch.add(e)
    s3 = FakeS3()
    BatchWriter(s3, "b", "d", {pair.qualified: pair}).write("s", batch, "rows")
    assert orjson.loads(s3.objects[("d", "dead-letters/s/9.json")])["partition_key"] == "2.1"


def test_a_table_whose_rows_are_all_refused_does_not_stop_the_next(contracts):
    bad_address = rec("insert", **{"data.created_at": "not a time"})
    batch = _batch(contracts, {"1": bad_address, "2": insert_record(2)}, key=("address_id",))
    batch.tables["public.currency"].key_names = ("currency_id",)
    s3 = FakeS3()
    manifest = BatchWriter(s3, "b", "d", {c.qualified: c for c in contracts}).write(
        "s", batch, "rows"
    )
    assert [f.table for f in manifest.files] == ["public.currency"]
    assert [d["sequence"] for d in manifest.dead_letters] == ["1"]


def test_the_date_partition_is_the_utc_date_whatever_the_machine_zone(contracts, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        s3 = FakeS3()
        batch = _batch(contracts, arrival_ms=1_700_013_600_000)  # 2023-11-15T02:00Z
        manifest = BatchWriter(s3, "b", "d", {c.qualified: c for c in contracts}).write(
            "s", batch, "rows"
        )
        assert manifest.files[0].key.startswith("data/public.currency/date=2023-11-15/")
        assert manifest.first_arrival == "2023-11-15T02:00:00+00:00"
        doc = dead_letter_document("s", "1", "k", 1_700_013_600_000, b"", "why")
        assert orjson.loads(doc)["approximate_arrival"] == "2023-11-15T02:00:00+00:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_every_put_is_retried_the_default_eight_times(contracts, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)  # tenacity's backoff, not waited
    index = {c.qualified: c for c in contracts}
    BatchWriter(FakeS3(fail=7), "b", "d", index).write("s", _batch(contracts), "rows")
    with pytest.raises(TransientError):
        BatchWriter(FakeS3(fail=8), "b", "d", index).write("s", _batch(contracts), "rows")
    BatchWriter(FakeS3(fail=7), "b", "d", index).dead_letter("s", "1", "k", None, b"x", "why")
    with pytest.raises(TransientError):
        BatchWriter(FakeS3(fail=8), "b", "d", index).dead_letter("s", "1", "k", None, b"", "w")


def test_a_keyless_batch_whose_every_record_is_refused_is_dead_letters_not_a_crash():
    """Regression: to_table of no events raised ValueError, so the processor exited, restarted
    from its checkpoint and met the same batch again: a stuck shard."""
    contract = blobs(keyless=True)
    s3 = FakeS3()
    batch = _blob_batch(contract, [{"id": 1 << 40, "b": None}, {"id": 2, "b": "zz"}])
    manifest = BatchWriter(s3, "b", "d", {contract.qualified: contract}).write("s", batch, "r")
    assert manifest.files == [] and sorted(d["sequence"] for d in manifest.dead_letters) == [
        "1",
        "2",
    ]
    assert s3.keys("dead-letters/") == ["dead-letters/s/1.json", "dead-letters/s/2.json"]


class FailingPrefix(FakeS3):
    """Fails the first `fail` puts of keys under `prefix` only."""

    def __init__(self, prefix: str, fail: int) -> None:
        super().__init__()
        self.prefix, self.left = prefix, fail

    def put_object(self, Bucket: str, Key: str, Body: bytes, **extra):
        if Key.startswith(self.prefix) and self.left:
            self.left -= 1
            self.fail = 1
        return super().put_object(Bucket=Bucket, Key=Key, Body=Body, **extra)


@pytest.mark.parametrize("prefix", ["data/", "manifests/", "dead-letters/"])
def test_each_kind_of_object_is_put_with_the_writer_attempts(contracts, monkeypatch, prefix):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    index = {c.qualified: c for c in contracts}
    records = {"1": insert_record(1), "2": insert_record(2, code="X" * 300)}
    BatchWriter(FailingPrefix(prefix, 2), "b", "d", index, attempts=3).write(
        "s", _batch(contracts, records), "rows"
    )
    with pytest.raises(TransientError):
        BatchWriter(FailingPrefix(prefix, 3), "b", "d", index, attempts=3).write(
            "s", _batch(contracts, records), "rows"
        )
    assert manifest_key("s", "1", "2") == "manifests/s/1-2.json"


def test_the_good_half_of_a_refused_keyless_update_does_not_load_alone():
    batch = _batch(
        [FULL],
        {"1": keyless_record("update", {"who": "b", "n": 1 << 40}, {"who": "a", "n": 1})},
        key=(),
    )
    manifest = BatchWriter(FakeS3(), "b", "d", {FULL.qualified: FULL}).write("s", batch, "r")
    assert manifest.files == [] and [d["sequence"] for d in manifest.dead_letters] == ["1"]
