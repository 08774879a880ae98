"""The reference decoder's outcome for every rule in its docstring, exactly: the event it makes,
or the dead letter's reason word for word (the reason is what a user reads in the dead-letter
document to find and fix the cause, so a reason that loses its table, column or fix is a bug)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.capture.pgoutput import parse_lsn
from consumers.contracts.model import parse_contract
from consumers.events.decode import Decoder, internal, version_of
from consumers.events.model import ChangeEvent, ControlEvent, DeadLetter
from tests.unit.batching.test_keyless import APPEND, FULL
from tests.unit.batching.test_keyless import record as keyless_record
from tests.unit.events.records import insert_record
from tests.unit.events.test_decode import golden
from tests.unit.events.test_fast import _zoo_record

A = "schemas/public.address.avsc"


def rec(name: str, **changes: Any) -> bytes:
    """A golden record with fields set ("metadata.schema-name") or removed (...)."""
    doc = orjson.loads(golden(name))
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        if value is ...:
            node.pop(last, None)
        else:
            node[last] = value
    return orjson.dumps(doc)


def control(op: str, control_doc: Any = None, **meta: Any) -> bytes:
    doc: dict[str, Any] = {
        "metadata": {
            "timestamp": "2024-07-29T00:58:44.895275Z", "record-type": "control",
            "operation": op, "partition-key-type": "task-id", "schema-name": "public",
            "table-name": "address", **meta,
        }
    }  # fmt: skip
    if control_doc is not None:
        doc["control"] = control_doc
    return orjson.dumps(doc)


def cols(*names: str) -> dict[str, Any]:
    return {"table-def": {"columns": {n: {"type": "NCLOB"} for n in names}}}


DEAD_LETTERS = {
    "top level is a list": (b"[1, 2]", "not a DMS record: no metadata object"),
    "metadata is a list": (b'{"metadata": []}', "not a DMS record: no metadata object"),
    "no record-type": (rec("insert", **{"metadata.record-type": ...}),
                       "DMS metadata lacks 'record-type'"),
    "no table-name": (rec("insert", **{"metadata.table-name": ...}),
                      "DMS metadata lacks 'table-name'"),
    "record-type null": (rec("insert", **{"metadata.record-type": None}),
                         "metadata record-type is null, not a string"),
    "operation a list": (rec("insert", **{"metadata.operation": []}),
                         "metadata operation is a list, not a string"),
    "schema-name true": (rec("insert", **{"metadata.schema-name": True}),
                         "metadata schema-name is a boolean, not a string"),
    "table-name a number": (rec("insert", **{"metadata.table-name": 5}),
                            "metadata table-name is a number, not a string"),
    "table-name an object": (rec("insert", **{"metadata.table-name": {}}),
                             "metadata table-name is an object, not a string"),
    "unknown record-type": (rec("insert", **{"metadata.record-type": "DATA"}),
                            "unknown record-type 'DATA'"),
    "no contract": (rec("insert", **{"metadata.table-name": "nope"}),
                    "no contract for table public.nope: add schemas/public.nope.avsc "
                    "(cdc contracts import) or exclude the table in the DMS table mappings"),
    "unknown operation": (rec("insert", **{"metadata.operation": "upsert"}),
                          "unknown operation 'upsert' for a data record"),
    "control op on data": (rec("insert", **{"metadata.operation": "create-table"}),
                           "unknown operation 'create-table' for a data record"),
    "no data": (rec("insert", data=...), "data record without a data object"),
    "data a list": (rec("insert", data=[1]), "data record without a data object"),
    "extra columns": (rec("insert", **{"data.zz": 1, "data.nickname": "Bo"}),
                      f"column(s) nickname, zz of public.address are not in the contract "
                      f"(added at the source?): add them to {A}"),
    "key missing": (rec("insert", **{"data.address_id": ...}),
                    "primary key column 'address_id' missing from data"),
    "key null": (rec("insert", **{"data.address_id": None}),
                 "primary key of public.address is NULL"),
    "key a list": (rec("insert", **{"data.address_id": [7]}),
                   "primary key of public.address in data is a list, not a value"),
    "key an object": (rec("delete", **{"data.address_id": {"v": 7}}),
                      "primary key of public.address in data is an object, not a value"),
    "before-image a list": (rec("update", **{"before-image": [1]}),
                            "before-image is a list, not an object"),
    "before-image key a list": (rec("update", **{"before-image": {"address_id": [6]}}),
                                "primary key of public.address in before-image is a list, "
                                "not a value"),
    "stream-position a number": (rec("insert", **{"metadata.stream-position": 5}),
                                 "metadata stream-position is a number, not a string"),
    "record id a string": (rec("insert", **{"metadata.transaction-record-id": "2"}),
                           "metadata transaction-record-id is a string, not a whole number"),
    "record id a boolean": (rec("insert", **{"metadata.transaction-record-id": True}),
                            "metadata transaction-record-id is a boolean, not a whole number"),
    "record id a float": (rec("insert", **{"metadata.transaction-record-id": 2.0}),
                          "metadata transaction-record-id is a number, not a whole number"),
    "record id negative": (rec("insert", **{"metadata.transaction-record-id": -1}),
                           "metadata transaction-record-id -1 is out of range"),
    "record id 2**32": (rec("insert", **{"metadata.transaction-record-id": 1 << 32}),
                        f"metadata transaction-record-id {1 << 32} is out of range"),
    "no position, no time": (
        rec("insert", **{"metadata.stream-position": "x", "metadata.commit-timestamp": ...,
                         "metadata.timestamp": ...}),
        "record has no LSN in its stream-position and no valid timestamp"),
    "naive times": (
        rec("insert", **{"metadata.stream-position": ..., "metadata.commit-timestamp":
                         "2024-07-29T00:58:44", "metadata.timestamp": "2024-07-29T00:58:44"}),
        "record has no LSN in its stream-position and no valid timestamp"),
    "times before 1970": (
        rec("insert", **{"metadata.stream-position": ..., "metadata.commit-timestamp":
                         "1969-12-31T23:59:59Z", "metadata.timestamp": "1969-01-01T00:00:00Z"}),
        "record has no LSN in its stream-position and no valid timestamp"),
    "commit-timestamp a number": (rec("insert", **{"metadata.commit-timestamp": 5}),
                                  "metadata commit-timestamp is a number, not a string"),
    "control for no contract": (control("create-table", **{"table-name": "nope"}),
                                "control record (create-table) for table public.nope, which "
                                "has no contract: add schemas/public.nope.avsc or exclude the "
                                "table in the DMS mappings"),
    "unknown control op": (control("insert"), "unknown control operation 'insert'"),
    "control a list": (control("create-table", [1]),
                       "control record's control is a list, not an object"),
    "table-def a string": (control("create-table", {"table-def": "x"}),
                           "control record's table-def is a string, not an object"),
    "columns a number": (control("create-table", {"table-def": {"columns": 3}}),
                         "control record table-def columns is a number, not column names"),
    "columns a list of numbers": (control("add-column", {"table-def": {"columns": [1]}}),
                                  "control record table-def columns is a list, not column "
                                  "names"),
    "create-table extra": (control("create-table", cols("address_id", "nickname", "aka")),
                           "create-table: column(s) aka, nickname of public.address exist at "
                           f"the source but not in the contract: add them to {A}"),
    "add-column extra": (control("add-column", {"table-def": {"columns": ["city", "aka"]}}),
                         "add-column: column(s) aka of public.address exist at the source "
                         f"but not in the contract: add them to {A}"),
    "change-columns extra": (control("change-columns", cols("aka")),
                             "change-columns: column(s) aka of public.address exist at the "
                             f"source but not in the contract: add them to {A}"),
    "drop-column of the contract": (control("drop-column", {"columns": ["phone", "city", "x"]}),
                                    "drop-column: contract column(s) city, phone of "
                                    f"public.address were dropped at the source: update {A}"),
    "drop-column names an object": (control("drop-column", {"columns": {"phone": 1}}),
                                    "drop-column: contract column(s) phone of public.address "
                                    f"were dropped at the source: update {A}"),
    "drop-column columns a number": (control("drop-column", {"columns": 5}),
                                     "control record columns is a number, not column names"),
    "rename-column": (control("rename-column"),
                      f"rename-column at the source for public.address: update {A}"),
    "rename-table": (control("rename-table"),
                     f"rename-table at the source for public.address: update {A}"),
    "column-type-change": (control("column-type-change"),
                           f"column-type-change at the source for public.address: update {A}"),
}  # fmt: skip


@pytest.fixture(scope="module")
def decoder(contracts) -> Decoder:
    return Decoder(contracts)


@pytest.mark.parametrize("case", DEAD_LETTERS)
def test_each_dead_letter_names_its_cause_and_fix(decoder, case):
    raw, reason = DEAD_LETTERS[case]
    with pytest.raises(DeadLetter) as dead:
        decoder.decode(raw, "9")
    assert str(dead.value) == reason


def test_not_json_says_so_with_the_parser_message(decoder):
    with pytest.raises(DeadLetter) as dead:
        decoder.decode(b"{nope", "9")
    assert str(dead.value).startswith("not JSON (unexpected character")


@pytest.mark.parametrize(
    ("op", "data", "before", "reason"),
    [
        ("update", {"who": "a", "n": 2}, None,
         "update of public.log (no primary key, REPLICA IDENTITY FULL) lacks column(s) n, who "
         "of the old row in its before-image: the row cannot be found without them: set "
         "BeforeImageSettings ColumnFilter all and IncludeNullAndEmpty"),
        ("update", {"who": "a", "n": 2}, {"who": "a"},
         "update of public.log (no primary key, REPLICA IDENTITY FULL) lacks column(s) n of the "
         "old row in its before-image: the row cannot be found without them: set "
         "BeforeImageSettings ColumnFilter all and IncludeNullAndEmpty"),
        ("delete", {"who": "a"}, None,
         "delete of public.log (no primary key, REPLICA IDENTITY FULL) lacks column(s) n of the "
         "old row in its data: the row cannot be found without them: set BeforeImageSettings "
         "ColumnFilter all and IncludeNullAndEmpty"),
    ],
)  # fmt: skip
def test_a_keyless_change_without_its_old_row_is_a_dead_letter(op, data, before, reason):
    with pytest.raises(DeadLetter) as dead:
        Decoder([FULL]).decode(keyless_record(op, data, before), "9")
    assert str(dead.value) == reason


@pytest.mark.parametrize("op", ["update", "delete"])
def test_an_append_only_update_or_delete_names_the_setting_to_change(op):
    with pytest.raises(DeadLetter) as dead:
        Decoder([APPEND]).decode(keyless_record(op, {"who": "a", "n": 1}, {"who": "a"}), "9")
    assert str(dead.value) == (
        f"{op} of append-only table public.log (no primary key): it cannot be applied without "
        "the old row: set REPLICA IDENTITY FULL at the source and mark "
        'schemas/public.log.avsc "replica_identity": "full"'
    )


def test_a_keyless_update_takes_untouched_values_from_its_old_row():
    e = Decoder([FULL]).decode(keyless_record("update", {"n": 2}, {"who": "a", "n": 1}), "7")
    assert e.values == {"who": "a", "n": 2} and e.before == {"who": "a", "n": 1}
    assert (e.key, e.unchanged, e.old_key) == ((), (), None)
    delete = Decoder([FULL]).decode(keyless_record("delete", {"who": "a", "n": 1}), "8")
    assert delete.before is None and delete.values == {"who": "a", "n": 1}
    insert = Decoder([APPEND]).decode(keyless_record("insert", {"who": "a", "n": 1}), "9")
    assert insert.before is None and insert.op == "insert"


def test_every_field_of_a_change_event(decoder):
    e = decoder.decode(golden("insert"), "49")
    assert isinstance(e, ChangeEvent)
    assert (e.table, e.op, e.key, e.sequence, e.commit_ts) == (
        "public.address", "insert", (7,), "49", "2024-07-29T00:58:44.886717Z",
    )  # fmt: skip
    assert e.values == orjson.loads(golden("insert"))["data"] and e.raw == golden("insert")
    assert e.version == parse_lsn("2/7C007328") << 32 | 2
    assert (e.unchanged, e.old_key, e.before) == ((), None, None)
    update = decoder.decode(golden("update"), "51")
    assert update.before is None  # only a keyless update carries its old row
    load = decoder.decode(rec("load", **{"metadata.commit-timestamp": 5}), "50")
    assert (load.version, load.commit_ts) == (0, None)  # a full-load row ranks below changes


def test_an_update_lacking_toastable_columns_marks_only_those_unchanged(decoder):
    e = decoder.decode(rec("update", **{"data.address_line_1": ..., "data.phone": ...}), "1")
    assert e.unchanged == ("address_line_1", "phone")
    assert "address_line_1" not in e.values and "phone" not in e.values
    both = decoder.decode(rec("update", **{"data.phone": ..., "data.address_line_2": None}), "2")
    assert both.unchanged == ("phone",) and both.values["address_line_2"] is None
    deleted = decoder.decode(rec("delete", **{"data.phone": ...}), "3")
    assert deleted.unchanged == ()  # only an update leaves values untouched
    whole = decoder.decode(rec("update"), "4")
    assert whole.unchanged == ()


def test_a_not_null_toast_null_means_unchanged_only_in_updates(decoder):
    e = decoder.decode(rec("update", **{"data.address_line_1": None, "data.city": None}), "1")
    assert e.unchanged == ("address_line_1", "city")
    assert "address_line_1" not in e.values and "city" not in e.values
    assert e.values["address_line_2"] is None and e.values["district"] == "Avon"
    only = decoder.decode(_currency_update(currency_code=None), "3")  # its one such column
    assert only.unchanged == ("currency_code",) and "currency_code" not in only.values
    insert = decoder.decode(rec("insert", **{"data.city": None}), "2")
    assert insert.values["city"] is None and insert.unchanged == ()


def _currency_update(**values: Any) -> bytes:
    doc = orjson.loads(insert_record(5))
    doc["metadata"]["operation"] = "update"
    doc["data"].update(values)
    return orjson.dumps(doc)


def test_a_key_change_is_read_from_the_before_image(decoder):
    moved = decoder.decode(rec("update", **{"before-image": {"address_id": 6, "city": "X"}}), "1")
    assert (moved.key, moved.old_key) == ((7,), (6,))
    same = decoder.decode(rec("update", **{"before-image": {"address_id": 7}}), "2")
    assert same.old_key is None
    partial = decoder.decode(rec("update", **{"before-image": {"city": "X"}}), "3")
    assert partial.old_key is None  # no key in the before-image: not a key change
    empty = decoder.decode(rec("update", **{"before-image": {}}), "4")
    assert empty.old_key is None


def test_a_composite_key_is_read_in_contract_order():
    doc = {
        "type": "record", "name": "pair", "namespace": "public", "primary_key": ["b", "a"],
        "fields": [{"name": n, "type": "int", "sql_type": "integer"} for n in ("a", "b", "c")],
    }  # fmt: skip
    decoder = Decoder([parse_contract(doc, Path("schemas/public.pair.avsc"))])
    raw = rec("insert", **{"metadata.table-name": "pair", "data": {"a": 1, "b": 2, "c": 3}})
    assert decoder.decode(raw, "1").key == (2, 1)
    with pytest.raises(DeadLetter) as dead:
        decoder.decode(rec("insert", **{"metadata.table-name": "pair", "data": {"b": 2}}), "2")
    assert str(dead.value) == "primary key column 'a' missing from data"
    moved = rec("update", **{"metadata.table-name": "pair", "data": {"a": 1, "b": 2},
                             "before-image": {"a": 1, "b": 9}})  # fmt: skip
    assert decoder.decode(moved, "3").old_key == (9, 1)


def test_a_float_in_an_exact_column_is_read_again_exactly(contracts):
    raw = _zoo_record(
        contracts, data__c_numeric_ps=12345678901234.56, data__c_numeric=0.1, data__c_double=0.1
    )
    e = Decoder(contracts).decode(raw, "1")
    assert e.values["c_numeric_ps"] == Decimal("12345678901234.56")
    assert e.values["c_numeric"] == Decimal("0.1")
    assert type(e.values["c_double"]) is Decimal  # the record is read again as a whole
    raw = _zoo_record(contracts, data__c_double=0.1, data__c_numeric_ps="1.50", data__c_numeric=2)
    inexact = Decoder(contracts).decode(raw, "2")
    assert type(inexact.values["c_double"]) is float  # no exact column: read once


def test_a_record_too_deep_to_read_exactly_is_a_dead_letter(contracts):
    """orjson reads 1,024 levels; the stdlib parser that keeps numbers exact recurses and stops
    sooner (RecursionError): such a record is a dead letter, not a crash."""
    raw = _zoo_record(contracts, data__c_numeric=1.5, data__c_text="DEEP")
    raw = raw.replace(b'"DEEP"', b"[" * 1010 + b"]" * 1010)
    with pytest.raises(DeadLetter) as dead:
        Decoder(contracts).decode(raw, "1")
    assert str(dead.value) == "not JSON when read exactly (RecursionError)"


def test_control_records_the_contract_agrees_with(decoder):
    for op, doc in [
        ("create-table", cols("address_id", "city")),
        ("add-column", None),
        ("drop-column", {"columns": ["gone"]}),
        ("drop-table", None),
        ("truncate-table", None),
        ("change-columns", {"table-def": None}),
    ]:
        event = decoder.decode(control(op, doc), "5")
        assert event == ControlEvent("public.address", op, "5", {}), op


def test_dms_internal_tables(decoder):
    data = rec("insert", **{"metadata.schema-name": "", "metadata.table-name": "x"})
    assert decoder.decode(data, "1") == ControlEvent(".x", "data", "1", {"internal": True})
    for schema, table in (("", "x"), ("public", "awsdms_status")):
        ctl = control("create-table", **{"schema-name": schema, "table-name": table})
        assert decoder.decode(ctl, "2") == ControlEvent(
            f"{schema}.{table}", "create-table", "2", {"internal": True}
        )
    ctl = control("create-table", **{"schema-name": "public", "table-name": "awsdms_status"})
    assert decoder.decode(ctl, "2") == ControlEvent(
        "public.awsdms_status", "create-table", "2", {"internal": True}
    )
    assert internal("", "t") and internal("x", "awsdms_y") and not internal("x", "y_awsdms_")
    assert not internal("public", 5) and not internal(None, "address")


@pytest.mark.parametrize(
    ("meta", "version"),
    [
        ({"stream-position": "00000002/7C007328.2.00000002/7C007300",
          "transaction-record-id": 3}, 0x2_7C007328 << 32 | 3),
        ({"stream-position": "1/0", "transaction-record-id": (1 << 32) - 1},
         (1 << 32) << 32 | (1 << 32) - 1),
        ({"stream-position": "00000001/00000002"}, (1 << 32 | 2) << 32),
        ({"stream-position": "AB/CD.FFFFFFFFF/1"}, 0xAB_000000CD << 32),
        ({"commit-timestamp": "1970-01-01T00:00:01Z", "timestamp": "1970-01-01T00:00:09Z",
          "transaction-record-id": 4}, 1_000_000 << 32 | 4),
        ({"commit-timestamp": "1970-01-01T00:00:00Z"}, 0),
        ({"commit-timestamp": "soon", "timestamp": "1970-01-01T00:00:02+00:00"}, 2_000_000 << 32),
        ({"commit-timestamp": 7, "timestamp": "1970-01-01T01:00:00+01:00"}, 0),
        ({"stream-position": None, "timestamp": "1970-01-01T00:00:00.000001Z"}, 1 << 32),
    ],
)  # fmt: skip
def test_the_ordering_version(meta, version):
    assert version_of(meta) == version
