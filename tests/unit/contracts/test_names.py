"""The naming rules (consumers/contracts/names.py): folding, collisions, limits, Avro names."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from consumers.contracts import names
from consumers.contracts.model import Column, TableContract, load_contracts, parse_contract
from consumers.contracts.types import Kind
from consumers.errors import ContractError


def test_fold_lowers_ascii_letters_only_as_redshift_does():
    assert names.fold("playerID") == "playerid"
    assert names.fold("Größe") == "größe"
    assert names.fold("GRÖSSE") == "grÖsse"  # Redshift folds ASCII letters, nothing else
    assert names.fold('Say "Hi"') == 'say "hi"'


def test_collisions_name_both_columns():
    assert names.collisions(["ID", "name", "id", "Name", "other"]) == [
        ("ID", "id"),
        ("name", "Name"),
    ]
    assert names.collisions(["größe", "GRÖSSE"]) == []  # different after ASCII folding


def test_length_limits_are_bytes_not_characters():
    assert names.problem("x" * 63) is None
    assert names.problem("x" * 64) == ("is 64 bytes long (PostgreSQL names are at most 63 bytes)")
    assert names.problem("ä" * 31 + "x") is None  # 63 bytes
    assert "64 bytes" in (names.problem("ä" * 32) or "")
    assert names.problem("") == "is empty"
    assert names.REDSHIFT_MAX_BYTES >= names.PG_MAX_BYTES  # every source name fits Redshift


def test_column_rules():
    assert names.column_problem("year") is None  # reserved words are fine: always quoted
    assert "metadata" in (names.column_problem("_CDC_Version") or "")
    assert "system column" in (names.column_problem("CTID") or "")
    assert "comma" in (names.column_problem("a,b") or "")


def test_avro_names_are_safe_and_unique():
    taken: set[str] = set()
    assert names.avro_name("playerID", taken) == "playerID"
    assert names.avro_name("year of birth", taken) == "year_of_birth"
    assert names.avro_name("year_of_birth", taken) == "year_of_birth_2"
    assert names.avro_name("größe", taken) == "gr__e"
    assert names.avro_name("1st", taken) == "_1st"
    assert all(names.AVRO_NAME.match(n) for n in taken)


def test_derived_names_fit_and_stay_distinct():
    assert names.derived_name("public__orders", "__deleted") == "public__orders__deleted"
    a = names.derived_name("s__" + "ü" * 30 + "a", "__deleted")
    b = names.derived_name("s__" + "ü" * 30 + "b", "__deleted")
    assert a != b
    for n in (a, b):
        assert len(n.encode()) <= 63 and n.endswith("__deleted")
        n.encode().decode()  # never half a character


def _contract() -> TableContract:
    cols = [
        Column("playerID", "varchar(9)", Kind.TEXT, False, False, "string"),
        Column("year", "smallint", Kind.INT2, False, False, "int"),
        Column("year of birth", "date", Kind.DATE, True, False,
               {"type": "int", "logicalType": "date"}),
        Column("größe", "integer", Kind.INT4, True, True, "int"),
        Column("x" * 63, "text", Kind.TEXT, True, False, "string"),
    ]  # fmt: skip
    return TableContract("Sport", "Player Stats", tuple(cols), ("playerID", "year"))


def test_contract_round_trip_keeps_the_real_names():
    c = _contract()
    doc = c.to_avsc()
    assert (doc["name"], doc["sql_name"], doc["namespace"]) == (
        "Player_Stats",
        "Player Stats",
        "Sport",
    )
    assert "sql_schema" not in doc  # "Sport" is an Avro name already
    fields = {f["name"]: f.get("sql_name") for f in doc["fields"]}
    assert fields == {
        "playerID": None, "year": None, "year_of_birth": "year of birth", "gr__e": "größe",
        "x" * 63: None,
    }  # fmt: skip
    back = parse_contract(doc, Path("x.avsc"))
    assert [col.name for col in back.columns] == [col.name for col in c.columns]
    assert (back.schema, back.name, back.primary_key) == ("Sport", "Player Stats", c.primary_key)
    assert back.column("größe").pii and back.file_name == "Sport.Player Stats.avsc"


def test_two_contracts_that_fold_alike_are_refused_with_both_names(tmp_path):
    c = _contract()
    other = TableContract("sport", "player stats", c.columns, c.primary_key)
    for t in (c, other):
        (tmp_path / t.file_name).write_bytes(orjson.dumps(t.to_avsc()))
    with pytest.raises(ContractError) as e:
        load_contracts(tmp_path)
    assert "'Sport.Player Stats'" in str(e.value) and "'sport.player stats'" in str(e.value)
    assert "same warehouse name sport.player stats" in str(e.value)


def test_contract_file_names_never_leave_the_directory():
    c = TableContract("public", "a/b%c", _contract().columns, ("playerID", "year"))
    assert c.file_name == "public.a%2Fb%25c.avsc"
