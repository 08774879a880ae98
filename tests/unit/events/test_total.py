"""The decoders are total: any bytes become an event, a control record or a dead letter with its
reason, never an exception (an exception stops the processor, which re-reads the same record
from its checkpoint for ever: a stuck shard). Each case here was a crash or a disagreement
between the C fast path and the reference; both paths are resolved and compared."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from consumers.events import _dmsjson  # type: ignore[attr-defined]
from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder
from consumers.events.model import DeadLetter
from tests.unit.events.parity import Paths, outcome
from tests.unit.events.test_decode import golden
from tests.unit.events.test_fast import _zoo_record


@pytest.fixture(scope="module")
def paths(contracts) -> Paths:
    return Paths(contracts)


def _golden(name: str, **changes: Any) -> bytes:
    """A golden record with fields set ("metadata__schema-name") or removed (...)."""
    doc = orjson.loads(golden(name))
    for path, value in changes.items():
        part, _, field = path.partition("__")
        if not field:
            doc[part] = value
        elif value is ...:
            doc[part].pop(field, None)
        else:
            doc[part][field] = value
    return orjson.dumps(doc)


WRONG_TYPES = [
    ("update", {"metadata__schema-name": []}, "schema-name is a list, not a string"),
    ("update", {"metadata__table-name": 5}, "table-name is a number, not a string"),
    ("update", {"metadata__operation": []}, "operation is a list, not a string"),
    ("update", {"metadata__record-type": {}}, "record-type is an object, not a string"),
    ("update", {"metadata__stream-position": 5}, "stream-position is a number, not a string"),
    ("update", {"metadata__commit-timestamp": 5}, "commit-timestamp is a number, not a string"),
    ("update", {"metadata__commit-timestamp": ["x"]}, "commit-timestamp is a list"),
    (
        "update",
        {"metadata__stream-position": ..., "metadata__transaction-record-id": "x"},
        "transaction-record-id is a string, not a whole number",
    ),
    (
        "update",
        {
            "metadata__stream-position": ...,
            "metadata__commit-timestamp": ...,
            "metadata__timestamp": 5,
        },
        "no LSN in its stream-position and no valid timestamp",
    ),
    ("update", {"before-image": "address_id"}, "before-image is a string, not an object"),
    ("update", {"before-image": [6]}, "before-image is a list, not an object"),
    ("update", {"data__address_id": [7]}, "primary key of public.address in data is a list"),
    ("update", {"data__address_id": {"a": 1}}, "in data is an object, not a value"),
    ("update-key-change", {"before-image__address_id": [6]}, "in before-image is a list"),
    ("update", {"metadata": []}, "no metadata object"),
    ("update", {"data": "x"}, "without a data object"),
    ("control-create-table", {"control": 5}, "control is a number, not an object"),
    ("control-create-table", {"control": {"table-def": ["x"]}}, "table-def is a list"),
    (
        "control-create-table",
        {"control": {"table-def": {"columns": 5}}},
        "table-def columns is a number, not column names",
    ),
]


@pytest.mark.parametrize(("name", "changes", "reason"), WRONG_TYPES)
def test_wrong_typed_envelope_fields_are_dead_letters(contracts, paths, name, changes, reason):
    raw = _golden(name, **changes)
    with pytest.raises(DeadLetter, match=reason.replace("(", r"\(").replace(".", r"\.")):
        Decoder(contracts).decode(raw, "1")
    result = paths.same([raw])
    assert result["dead"] and reason in result["dead"][0][1]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"data__c_text": "a\u0000b"}, "NUL"),
        ({"data__c_varchar": "\u0000"}, "NUL"),
        ({"data__c_json": '{"a": "\u0000"}'}, "NUL"),
        ({"data__c_text_array": ["a", "b\u0000"]}, "NUL"),
        ({"data__c_text_array": ["a", 5]}, "element 5 is not a string"),
        ({"data__c_real": 1e39}, "out of range for type real"),
        ({"data__c_int": 1.5}, "not a whole number"),
        ({"data__c_double": True}, "boolean for a float"),
        ({"data__c_bigint": 2**63}, "out of range for a 64-bit integer"),
        ({"data__c_date": "0000-01-01"}, "column c_date"),
        ({"data__c_timestamp": "0000-01-01 00:00:00"}, "column c_timestamp"),
        ({"data__c_numeric": "1e1001"}, "out of range for the warehouse's numeric"),
        ({"data__c_numeric": "1" * 300}, "out of range for the warehouse's numeric"),
        # hypothesis: pgarray.parse indexed a JSON object (KeyError: a failed flush)
        ({"data__c_text_array": {"": None, "0": None}}, "a JSON object is not a text[] value"),
        ({"data__c_int_array": {"0": 1}}, "a JSON object is not a int[] value"),
        # hypothesis: decimal's quantize raised InvalidOperation past 28 digits (a failed flush)
        ({"data__c_numeric_ps": "99999999999999999999999999.995"}, "more than 18 digits"),
    ],
)
def test_values_a_warehouse_cannot_store_are_dead_letters(contracts, paths, changes, reason):
    """Never altered silently (1e39 → inf, 1.5 → 1, true → 1.0), never a failed load later (NUL,
    year 0): dead letters at the consumer, the same alone and among clean records."""
    raw = _zoo_record(contracts, **changes)
    clean = _zoo_record(contracts, **{"data__id": 5000})
    alone, mixed = paths.same([raw]), paths.same([clean, raw, clean])
    assert outcome(alone, 0) == outcome(mixed, 1)
    kind, why = outcome(alone, 0)[:2]
    assert kind == "dead" and reason in why, why


# ---------------------------------------------------------------- C findings (make fuzz, review)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" * 310, b"1.7976931348623159e308"])
@pytest.mark.parametrize("where", ["metadata", "data", "before-image", "top"])
def test_numbers_that_overflow_a_double_go_to_the_reference(contracts, paths, number, where):
    """orjson refuses them ("number is infinity when parsed as double"): not JSON, a dead letter.
    The C code used to skip them as valid JSON and load the row."""
    raw = _golden("update")
    if where == "top":
        raw = raw[:-1] + b',"x":' + number + b"}"
    elif where == "data":
        raw = raw.replace(b'"district":"Avon"', b'"district":' + number)
    else:
        raw = raw.replace(f'"{where}":{{'.encode(), f'"{where}":{{"x":'.encode() + number + b",")
    assert number in raw
    tables, slow = FastDecoder(contracts).split([raw])
    assert slow == [0] and not tables
    (dead,) = paths.same([raw])["dead"]
    assert "not JSON" in dead[1] and "infinity" in dead[1]


@pytest.mark.parametrize("number", [b"1.7976931348623157e308", b"1" * 308, b"1e-400", b"-0"])
def test_numbers_a_double_holds_stay_fast(contracts, number):
    raw = _golden("update").replace(b'"metadata":{', b'"metadata":{"x":' + number + b",")
    assert number in raw
    assert FastDecoder(contracts).split([raw])[1] == []


@pytest.mark.parametrize("cut", [b'{"data":', b'{"metadata":', b'{"data": ', b'{"before-image":'])
def test_truncated_after_a_member_key(contracts, cut):
    """Read 1 byte past the input's end (AddressSanitizer: heap-buffer-overflow): the record is
    cut from a larger buffer so the byte after it is not a NUL that hides the read."""
    big = cut + b"{" * 64
    raw = big[: len(cut)]
    assert FastDecoder(contracts).split([raw]) == ({}, [0])


def test_plan_names_outlive_iterables_that_are_not_lists(contracts):
    """PySequence_Fast copies any other iterable into a new list; the plan borrowed the names
    from it after releasing it. The plan now holds it until the call ends."""
    fast = FastDecoder(contracts)
    plan = (
        ((schema + "_")[:-1], (name + "_")[:-1], (((c[0] + "_")[:-1], *c[1:]) for c in columns))
        for schema, name, columns in fast._plan
    )  # generators and fresh strings: every name lives only in PySequence_Fast's copies (make
    # fuzz replays this under AddressSanitizer, where the old code is a heap-use-after-free)
    raw = _zoo_record(contracts)
    status, outputs = _dmsjson.decode(plan, iter([raw]))
    assert len(status) == 4
    assert any(rows for rows, *_ in outputs)
    with pytest.raises(ValueError, match="unknown column kind"):
        _dmsjson.decode([("public", "t", [("c", 9, 0, 0)])], [raw])
