"""Golden DMS records: each operation's exact bytes, shaped like AWS's documented examples.

Regenerate after an intended format change with CDC_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from consumers.capture.messages import MessageBuilder, TableRenderer
from consumers.capture.pgoutput import UNCHANGED, parse_lsn
from tests import golden_files

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "records"
ROW = [b"7", b"1 High St", None, b"Avon", b"Leeds", b"LS1 1AA", b"UK", b"0113 496 0000",
       b"2024-01-02 03:04:05.6", b"2024-01-02 03:04:05.6"]  # fmt: skip
TXN = {
    "xid": 1140,
    "record_id": 2,
    # as in published DMS output: 00000002/7C007328.2.00000002/7C007328
    "position": (parse_lsn("2/7C007328"), 2, parse_lsn("2/7C007328")),
    "commit_ts": "2024-07-29T00:58:44.886717Z",
}


def _builder(dms) -> MessageBuilder:
    b = MessageBuilder(dms, "local-totesys_cdc")
    b.timestamp = "2024-07-29T00:58:44.895275Z"
    b.prev = (1139, 1)
    return b


def _cases(dms, contracts):
    address = next(c for c in contracts if c.name == "address")
    r = TableRenderer(dms, address, [c.name for c in address.columns])
    b = _builder(dms)
    old_key = [b"6", *[None] * 9]
    yield "load", _builder(dms).load(r, ROW)
    yield "insert", _builder(dms).change(r, "insert", ROW, None, **TXN)
    yield "update", _builder(dms).change(r, "update", ROW, None, **TXN)
    yield "update-key-change", _builder(dms).change(r, "update", ROW, old_key, **TXN)
    yield (
        "update-unchanged-toast",
        _builder(dms).change(r, "update", [*ROW[:1], UNCHANGED, *ROW[2:]], None, **TXN),
    )
    yield "delete", _builder(dms).change(r, "delete", [b"7", *[None] * 9], None, **TXN)
    yield "control-create-table", b.control(r, "create-table")


def test_records_match_their_golden_files(dms, contracts):
    for name, record in _cases(dms, contracts):
        golden_files.check(GOLDEN / f"{name}.json", record.data.decode() + "\n", name)


def test_golden_files_are_never_rewritten_under_ci(monkeypatch):
    monkeypatch.setenv("CDC_UPDATE_GOLDEN", "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="never rewritten in CI"):
        golden_files.updating()
    monkeypatch.delenv("CI")
    assert golden_files.updating()


@pytest.mark.parametrize(
    ("name", "top", "meta"),
    [
        # AWS's documented full-load example: no transaction details.
        ("load", ["data", "metadata"], ["timestamp", "record-type", "operation",
         "partition-key-type", "partition-key-value", "schema-name", "table-name"]),
        ("update-key-change", ["data", "before-image", "metadata"], ["timestamp",
         "record-type", "operation", "partition-key-type", "partition-key-value", "schema-name",
         "table-name", "transaction-id", "transaction-record-id", "prev-transaction-id",
         "prev-transaction-record-id", "commit-timestamp", "stream-position"]),
        ("control-create-table", ["control", "metadata"], ["timestamp", "record-type",
         "operation", "partition-key-type", "partition-key-value", "schema-name", "table-name"]),
    ],
)  # fmt: skip
def test_golden_shapes_follow_the_dms_examples(name, top, meta):
    doc = orjson.loads((GOLDEN / f"{name}.json").read_bytes())
    assert list(doc) == top
    assert list(doc["metadata"]) == meta


def test_golden_values(dms, contracts):
    cases = {n: orjson.loads(r.data) for n, r in _cases(dms, contracts)}
    assert cases["insert"]["metadata"]["stream-position"] == "00000002/7C007328.2.00000002/7C007328"
    assert cases["insert"]["metadata"]["partition-key-value"] == "public.address.7"
    assert cases["update"]["before-image"] == {}
    assert cases["update-key-change"]["before-image"] == {"address_id": 6}
    assert "address_line_1" not in cases["update-unchanged-toast"]["data"]
    assert cases["delete"]["data"]["address_id"] == 7 and cases["delete"]["data"]["city"] is None
    assert cases["load"]["data"]["created_at"] == "2024-01-02T03:04:05.600000Z"
    assert cases["control-create-table"]["metadata"]["partition-key-type"] == "task-id"
