"""Tables without a primary key, from the DMS record to the buffered rows: every change kept once
per change identity; an update under REPLICA IDENTITY FULL becomes a removal of the old row and
an addition of the new; an append-only table's update or delete is a dead letter."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from consumers.batching.buffer import TableBuffer
from consumers.capture import dms_config
from consumers.contracts.model import ContractError, parse_contract
from consumers.events.decode import Decoder
from consumers.events.model import DeadLetter


def contract(**options):
    doc = {
        "type": "record", "name": "log", "namespace": "public", "primary_key": [],
        "fields": [
            {"name": "who", "type": "string", "sql_type": "text"},
            {"name": "n", "type": ["null", "int"], "default": None, "sql_type": "integer"},
        ],
        **options,
    }  # fmt: skip
    return parse_contract(doc, Path("schemas/public.log.avsc"))


FULL = contract(replica_identity="full")
APPEND = contract(append_only=True)


def record(op, data, before=None, position="00000001/00000010.1.00000001/00000008"):
    meta = {
        "timestamp": "2026-01-01T00:00:00Z", "record-type": "data", "operation": op,
        "partition-key-type": "schema-table", "schema-name": "public", "table-name": "log",
        "transaction-id": 5, "transaction-record-id": int(position.split(".")[1]),
        "commit-timestamp": "2026-01-01T00:00:00Z", "stream-position": position,
    }  # fmt: skip
    msg = {"data": data, **({"before-image": before} if before is not None else {})}
    return orjson.dumps({**msg, "metadata": meta})


def test_contract_needs_exactly_one_keyless_mode():
    for bad in ({}, {"append_only": True, "replica_identity": "full"}):
        with pytest.raises(ContractError, match="REPLICA IDENTITY FULL"):
            contract(**bad)
    with pytest.raises(ContractError, match="delete_mode"):
        contract(append_only=True, delete_mode="soft")
    assert FULL.keyless and FULL.full_row_identity and not FULL.append_only
    assert FULL.to_avsc()["replica_identity"] == "full"


def test_update_under_full_identity_is_a_removal_and_an_addition():
    d = Decoder([FULL])
    e = d.decode(record("update", {"who": "a", "n": 2}, {"who": "a", "n": 1}), "7")
    assert e.before == {"who": "a", "n": 1} and e.key == ()
    b = TableBuffer(())
    b.add(e)
    b.add(e)  # the same record again (Kinesis redelivery): buffered once
    assert sorted((r.op, tuple(r.values.items())) for r in b.rows.values()) == [
        ("delete", (("who", "a"), ("n", 1))),
        ("update", (("who", "a"), ("n", 2))),
    ]


def test_identical_rows_stay_distinct_changes():
    d = Decoder([FULL])
    b = TableBuffer(())
    for i, seq in ((1, "1"), (2, "2")):  # two inserts of the same values
        pos = f"00000001/00000010.{i}.00000001/00000008"
        b.add(d.decode(record("insert", {"who": "a", "n": 1}, position=pos), seq))
    for seq in ("3", "4"):  # two full-load rows of the same values, identified by record
        b.add(d.decode(record("load", {"who": "a", "n": 1}), seq))
    assert len(b.rows) == 4


def test_full_identity_needs_the_whole_old_row():
    d = Decoder([FULL])
    with pytest.raises(DeadLetter, match="ColumnFilter all"):
        d.decode(record("update", {"who": "a", "n": 2}, {}), "1")  # pk-only: {}
    with pytest.raises(DeadLetter, match="lacks column"):
        d.decode(record("delete", {"who": "a"}), "1")


def test_unchanged_toast_of_a_full_identity_update_comes_from_the_before_image():
    d = Decoder([FULL])
    e = d.decode(record("update", {"n": 2}, {"who": "big", "n": 1}), "1")
    assert e.values == {"who": "big", "n": 2} and e.unchanged == ()


def test_append_only_update_or_delete_is_a_dead_letter():
    d = Decoder([APPEND])
    assert d.decode(record("insert", {"who": "a", "n": 1}), "1").op == "insert"
    for op in ("update", "delete"):
        with pytest.raises(DeadLetter, match="append-only"):
            d.decode(record(op, {"who": "a", "n": 1}, {"who": "a", "n": 1}), "2")


def test_capture_renders_the_old_row_and_schema_table_partitioning(dms):
    from consumers.capture.messages import MessageBuilder, TableRenderer

    r = TableRenderer(dms, FULL, ["who", "n"])
    b = MessageBuilder(dms, "task")
    rec = b.change(
        r, "update", [b"a", b"2"], [b"a", b"1"], xid=5, record_id=1, position=(8, 1, 8),
        commit_ts="2026-01-01T00:00:00Z",
    )  # fmt: skip
    msg = orjson.loads(rec.data)
    assert msg["before-image"] == {"who": "a", "n": 1}
    assert msg["metadata"]["partition-key-type"] == "schema-table"
    assert "partition-key-value" not in msg["metadata"]  # DMS: not for schema-table-type
    (rule,) = [r for r in dms_config.table_mappings([FULL])["rules"] if "mapping-parameters" in r]
    assert rule["mapping-parameters"] == {"partition-key-type": "schema-table"}
    assert rec.partition_key == "public.log"
    pk_only = dataclasses.replace(dms, before_image_filter="pk-only")
    rec = MessageBuilder(pk_only, "task").change(
        TableRenderer(pk_only, FULL, ["who", "n"]), "update", [b"a", b"2"], [b"a", b"1"],
        xid=5, record_id=1, position=(8, 1, 8), commit_ts="2026-01-01T00:00:00Z",
    )  # fmt: skip
    assert orjson.loads(rec.data)["before-image"] == {}  # what DMS sends with pk-only


def test_a_bad_value_in_either_half_of_a_keyless_update_dead_letters_the_record_once():
    from consumers.batching.buffer import FlushPolicy, ShardBatch
    from consumers.sink.writer import BatchWriter
    from tests.fakes import FakeS3

    d = Decoder([FULL])
    batch = ShardBatch(FlushPolicy(), lambda t: ())
    good = record("insert", {"who": "a", "n": 1}, position="00000001/00000010.1.00000001/08")
    # the old row is fine, the new one breaks the contract (integer out of range)
    bad = record("update", {"who": "a", "n": 1 << 40}, {"who": "a", "n": 1},
                 position="00000001/00000010.2.00000001/08")  # fmt: skip
    for seq, raw in (("1", good), ("2", bad)):
        batch.note(seq, 1_764_000_000_000, len(raw))
        batch.add(d.decode(raw, seq))
    s3 = FakeS3()
    manifest = BatchWriter(s3, "b", "d", {FULL.qualified: FULL}).write("shard-1", batch, "rows")
    assert [x["sequence"] for x in manifest.dead_letters] == ["2"]
    (f,) = manifest.files
    assert f.rows == 1 and f.operations == {"insert": 1}  # neither half of the update
