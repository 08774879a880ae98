"""Golden decode: the capture's golden records (tests/golden/records) become typed events."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from consumers.capture.pgoutput import parse_lsn
from consumers.events.decode import Decoder
from consumers.events.model import ChangeEvent, ControlEvent, DeadLetter

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "records"


def golden(name: str) -> bytes:
    return (GOLDEN / f"{name}.json").read_bytes()


@pytest.fixture
def decoder(contracts) -> Decoder:
    return Decoder(contracts)


def test_golden_records_decode(decoder):
    load = decoder.decode(golden("load"), "1")
    assert isinstance(load, ChangeEvent)
    assert (load.table, load.op, load.key, load.version) == ("public.address", "load", (7,), 0)
    update = decoder.decode(golden("update"), "2")
    assert update.op == "update" and update.old_key is None and update.unchanged == ()
    assert update.version == (parse_lsn("2/7C007328") << 32) | 2
    assert update.commit_ts == "2024-07-29T00:58:44.886717Z"
    moved = decoder.decode(golden("update-key-change"), "3")
    assert moved.key == (7,) and moved.old_key == (6,)
    toast = decoder.decode(golden("update-unchanged-toast"), "4")
    assert toast.unchanged == ("address_line_1",)
    delete = decoder.decode(golden("delete"), "5")
    assert delete.op == "delete" and delete.key == (7,)
    control = decoder.decode(golden("control-create-table"), "6")
    assert isinstance(control, ControlEvent) and control.operation == "create-table"


def _with(name: str, path: tuple[str, ...], value: object) -> bytes:
    """The golden record with one field set (or removed, for ...)."""
    doc = orjson.loads(golden(name))
    node = doc
    for p in path[:-1]:
        node = node[p]
    if value is ...:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return orjson.dumps(doc)


M, D = "metadata", "data"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{nope", "not JSON"),
        (b"[1, 2]", "no metadata"),
        (_with("insert", (M, "table-name"), "x"), "no contract for table public.x"),
        (_with("insert", (M, "operation"), "upsert"), "unknown operation"),
        (_with("insert", (D, "nickname"), "Bo"), "nickname of public.address are not in"),
        (_with("insert", (D, "address_id"), None), "primary key of public.address is NULL"),
        (_with("insert", (D, "address_id"), ...), "primary key column 'address_id' missing"),
        (_with("insert", (M, "stream-position"), 5), "stream-position is a number, not a string"),
        (_with("insert", (M, "transaction-record-id"), "2"), "transaction-record-id is a string"),
        (_with("control-create-table", ("control", "table-def", "columns", "extra"), {}),
         "extra of public.address exist at the source but not in the contract"),
    ],
)  # fmt: skip
def test_bad_records_are_dead_letters_with_the_reason(decoder, raw, reason):
    with pytest.raises(DeadLetter, match=reason.replace("(", r"\(").replace(")", r"\)")):
        decoder.decode(raw, "9")


def test_without_transaction_details_the_version_falls_back_to_the_timestamp(decoder):
    doc = orjson.loads(golden("insert"))
    for k in ("stream-position", "transaction-id", "transaction-record-id", "commit-timestamp"):
        doc["metadata"].pop(k)
    early = decoder.decode(orjson.dumps(doc), "1")
    doc["metadata"]["timestamp"] = "2024-07-29T00:58:45.000000Z"
    late = decoder.decode(orjson.dumps(doc), "2")
    assert 0 < early.version < late.version


@pytest.mark.parametrize(
    "position",
    ["00000002/7C007328.NOW", "7C007328", "garbage", "2/7C007328", "0/0.1.00000002/7C007328"],
)
def test_an_unfamiliar_stream_position_orders_by_its_lsn_or_the_commit_time(decoder, position):
    """DMS does not document stream-position; an unfamiliar form must not drop a valid change.
    With an LSN in it, that LSN orders; without one, the commit-timestamp does."""
    event = decoder.decode(_with("insert", (M, "stream-position"), position), "1")
    assert isinstance(event, ChangeEvent)
    if "/" in position:
        assert event.version == (parse_lsn("2/7C007328") << 32) | 2
    else:
        assert event.version >> 32 == 1722214724886717  # 2024-07-29T00:58:44.886717Z, in µs


def test_the_later_lsn_orders_whatever_the_middle_number(decoder):
    """00002A7B/88030ED0.2.00002A7B/88030F08 (published DMS output): the parts differ; the
    middle number is not the transaction-record-id."""
    a = _with("insert", (M, "stream-position"), "00002A7B/88030ED0.9.00002A7B/88030F08")
    b = _with("insert", (M, "stream-position"), "00002A7B/88030F08.1.00002A7B/88030ED0")
    assert decoder.decode(a, "1").version == decoder.decode(b, "2").version
    assert decoder.decode(a, "1").version == (parse_lsn("2A7B/88030F08") << 32) | 2


def test_dms_internal_data_records_are_ignored_not_dead_lettered(decoder):
    for schema, table in (("", "awsdms_status"), ("public", "awsdms_history")):
        raw = orjson.dumps(
            {"data": {"SERVER_NAME": "x", "TASK_STATUS": "FULL LOAD"},
             "metadata": {"timestamp": "2024-08-04T10:50:10.584772Z", "record-type": "data",
                          "operation": "insert", "partition-key-type": "schema-table",
                          "schema-name": schema, "table-name": table}}
        )  # fmt: skip
        event = decoder.decode(raw, "1")
        assert isinstance(event, ControlEvent) and event.detail == {"internal": True}


def test_dms_internal_control_records_are_understood(decoder):
    raw = orjson.dumps(
        {"control": {"table-def": {"columns": {"ERROR": {"type": "STRING"}}}},
         "metadata": {"timestamp": "2024-08-04T10:50:10.584772Z", "record-type": "control",
                      "operation": "create-table", "partition-key-type": "task-id",
                      "schema-name": "", "table-name": "awsdms_apply_exceptions"}}
    )  # fmt: skip
    event = decoder.decode(raw, "1")
    assert isinstance(event, ControlEvent) and event.detail == {"internal": True}


def test_null_in_a_not_null_toastable_column_of_an_update_means_unchanged(decoder):
    """DMS may send NULL for a TOASTed value an update left untouched (third-party reports):
    in a NOT NULL column that NULL cannot be the value, so the warehouse keeps its value."""
    event = decoder.decode(_with("update", (D, "address_line_1"), None), "1")
    assert event.unchanged == ("address_line_1",) and "address_line_1" not in event.values
    nullable = decoder.decode(_with("update", (D, "address_line_2"), None), "2")
    assert nullable.unchanged == () and nullable.values["address_line_2"] is None
    insert = decoder.decode(_with("insert", (D, "address_line_1"), None), "3")
    assert insert.values["address_line_1"] is None  # an insert's NULL is refused later
