"""Schema drift: which type changes are lossless widenings, and what each difference reports."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from consumers.contracts.drift import apply_auto, diff_table, pending, widening
from consumers.contracts.model import load_contract, parse_contract
from consumers.errors import ContractError

LOCAL_MICROS = "local-timestamp-micros"
DOC = {
    "type": "record", "name": "items", "namespace": "shop", "primary_key": ["item_id"],
    "fields": [
        {"name": "item_id", "type": "long", "sql_type": "bigint"},
        {"name": "name", "type": "string", "sql_type": "varchar(20)"},
        {"name": "qty", "type": ["null", "int"], "default": None, "sql_type": "integer"},
        {"name": "seen", "type": ["null", {"type": "long", "logicalType": LOCAL_MICROS}],
         "default": None, "sql_type": "timestamp"},
    ],
}  # fmt: skip


def contract(doc=DOC):
    return parse_contract(doc, Path("schemas/shop.items.avsc"))


@pytest.mark.parametrize(
    ("old", "new", "wider"),
    [
        ("varchar(20)", "varchar(100)", True),
        ("character varying(20)", "text", True),
        ("varchar(100)", "varchar(20)", False),
        ("smallint", "integer", True),
        ("integer", "bigint", True),
        ("int8", "integer", False),
        ("numeric(9,2)", "numeric(12,2)", True),
        ("numeric(9,2)", "numeric(12,4)", True),
        ("numeric(9,2)", "numeric(10,4)", False),  # 7 integer digits become 6
        ("numeric(9,2)", "numeric", True),
        ("timestamp without time zone", "timestamptz", True),
        ("timestamptz", "timestamp", False),
        ("integer", "text", False),
        ("text", "text", False),
    ],
)
def test_widening(old, new, wider):
    assert widening(old, new) is wider


def test_diff_names_each_change_and_its_outcome():
    mine = contract()
    src_doc = orjson.loads(orjson.dumps(DOC))
    fields = src_doc["fields"]
    fields[1]["sql_type"] = "varchar(100)"  # widened
    fields[2]["type"], fields[2]["sql_type"] = ["null", "long"], "bigint"  # widened
    fields[3]["name"] = "seen_at"  # renamed: a drop and an add
    fields.append({"name": "note", "type": ["null", "string"], "default": None,
                   "sql_type": "text"})  # fmt: skip
    drifts = diff_table(mine, contract(src_doc), "schemas/shop.items.avsc")
    got = {(d.column, d.change) for d in drifts}
    assert got == {("name", "widened"), ("qty", "widened"), ("seen_at", "added"),
                   ("note", "added"), ("seen", "dropped")}  # fmt: skip
    lines = "\n".join(d.line() for d in drifts)
    assert "shop.items.seen: dropped (was timestamp)" in lines
    assert "renamed to seen_at?" in lines
    assert "shop.items.name: widened varchar(20) -> varchar(100)" in lines
    assert "add it to schemas/shop.items.avsc" in lines  # new_columns dead-letter (default)
    narrowed = diff_table(contract(src_doc), mine, "x")
    assert ("name", "narrowed") in {(d.column, d.change) for d in narrowed}


def test_apply_auto_adds_new_nullable_columns_withheld_until_classified(tmp_path):
    doc = {**DOC, "new_columns": "auto"}
    path = tmp_path / "shop.items.avsc"
    path.write_bytes(orjson.dumps(doc))
    mine = load_contract(path)
    src_doc = orjson.loads(orjson.dumps(DOC))
    src_doc["fields"].append({"name": "note", "type": ["null", "string"], "default": None,
                              "sql_type": "text"})  # fmt: skip
    src = contract(src_doc)
    drifts = diff_table(mine, src, str(path))
    assert "cdc contracts diff --apply" in drifts[0].outcome
    written = apply_auto([mine], drifts, {"shop.items": src}, tmp_path)
    assert written == [(path, "note")]
    evolved = load_contract(path)
    note = evolved.column("note")
    assert note.pending and note.pii and note.nullable  # withheld: default deny
    assert evolved.new_columns == "auto"
    assert pending([evolved]) == [
        'shop.items.note: withheld from analysts until classified: set "pii": true or false '
        'in its contract and remove "classification"'
    ]
    # a dead-letter table is left alone
    plain = dataclasses.replace(mine, new_columns="dead-letter")
    assert apply_auto([plain], drifts, {"shop.items": src}, tmp_path) == []


def test_contract_options_are_checked():
    with pytest.raises(ContractError, match="new_columns 'sometimes'"):
        contract({**DOC, "new_columns": "sometimes"})
    bad = orjson.loads(orjson.dumps(DOC))
    bad["fields"][1]["classification"] = "secret"
    with pytest.raises(ContractError, match="classification 'secret'"):
        contract(bad)
    renamed = orjson.loads(orjson.dumps(DOC))
    renamed["fields"][3]["renamed_from"] = "seen_before"
    c = contract(renamed)
    assert c.column("seen").renamed_from == "seen_before"
    assert c.to_avsc()["fields"][3]["renamed_from"] == "seen_before"
