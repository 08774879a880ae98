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


def test_the_absent_column_reason_names_every_column_and_the_operation(contracts):
    doc = orjson.loads((GOLDEN / "insert.json").read_bytes())
    del doc["data"]["last_updated"], doc["data"]["created_at"]
    with pytest.raises(DeadLetter) as insert:
        Decoder(contracts, nulls_present=True).decode(orjson.dumps(doc), "1")
    assert "column(s) created_at, last_updated of public.address absent from an insert record" in (
        str(insert.value)
    )
    with pytest.raises(DeadLetter) as update:
        Decoder(contracts, nulls_present=True).decode(record("update", "last_updated"), "1")
    assert "column(s) last_updated of public.address absent from an update record" in str(
        update.value
    )


def test_records_from_before_a_rename_or_a_drop_read_as_the_contract_says_now(contracts):
    """A redriven dead letter or a replay from before the change: the old name is read as the
    new one (data and before-image), a column dropped since is ignored; a record with both
    names is a dead letter (the old one is never read over the new)."""
    import dataclasses

    address = next(c for c in contracts if c.name == "address")
    columns = [
        dataclasses.replace(col, name="region", renamed_from="district")
        if col.name == "district"
        else col
        for col in address.columns
    ]
    now = dataclasses.replace(address, columns=columns, dropped_columns=("fax",))
    others = [c for c in contracts if c.name != "address"]
    doc = orjson.loads((GOLDEN / "update.json").read_bytes())
    doc["data"]["fax"] = "0113 000"
    doc["before-image"] = {**doc["data"], "district": "Old"}
    event = Decoder([*others, now]).decode(orjson.dumps(doc), "1")
    assert isinstance(event, ChangeEvent)
    assert event.values["region"] == "Avon"
    assert "district" not in event.values and "fax" not in event.values
    doc["data"]["region"] = "New"  # both names: never read over the new one; a dead letter
    with pytest.raises(DeadLetter, match=r"column\(s\) district of public\.address are not in"):
        Decoder([*others, now]).decode(orjson.dumps(doc), "1")


def test_the_whole_reason_for_a_load_record(contracts):
    with pytest.raises(DeadLetter) as load:
        Decoder(contracts, nulls_present=True).decode(record("load", "last_updated"), "1")
    assert str(load.value) == (
        "column(s) last_updated of public.address absent from a load record, which carries "
        "every column (IncludeNullAndEmpty): dropped or renamed at the source? update "
        'schemas/public.address.avsc (README, "Schema changes")'
    )
