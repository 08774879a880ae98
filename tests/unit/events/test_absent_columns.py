"""A column absent from a record that carries every column (IncludeNullAndEmpty) was dropped
at the source: a dead letter naming it, on both decoder paths; without the setting a NULL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder, available
from consumers.events.model import ChangeEvent, DeadLetter

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "records"


def record(name: str, drop: str) -> bytes:
    doc = orjson.loads((GOLDEN / f"{name}.json").read_bytes())
    del doc["data"][drop]
    return orjson.dumps(doc)


@pytest.mark.parametrize("name", ["insert", "load", "update"])
def test_a_dropped_column_is_a_dead_letter_when_nulls_are_present(contracts, name):
    raw = record(name, "last_updated")  # a timestamp: absent from an update too is no TOAST
    with pytest.raises(DeadLetter, match=r"last_updated of public\.address absent from"):
        Decoder(contracts, nulls_present=True).decode(raw, "1")
    event = Decoder(contracts).decode(raw, "1")
    assert isinstance(event, ChangeEvent) and "last_updated" not in event.values


def test_an_unchanged_toast_column_is_no_drop(contracts):
    raw = record("update", "address_line_1")  # text: absent from an update = unchanged
    event = Decoder(contracts, nulls_present=True).decode(raw, "1")
    assert isinstance(event, ChangeEvent) and event.unchanged == ("address_line_1",)


@pytest.mark.skipif(not available(), reason="the C fast path is not built")
def test_the_fast_path_leaves_an_absent_column_to_the_reference(contracts):
    fast = FastDecoder(contracts)
    whole = (GOLDEN / "insert.json").read_bytes()
    _, slow = fast.split([whole, record("insert", "last_updated")])
    assert list(slow) == [1]
