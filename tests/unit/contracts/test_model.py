from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.contracts.ddl import source_ddl
from consumers.contracts.model import load_contracts, parse_contract
from consumers.contracts.types import Kind
from consumers.errors import ContractError
from tests.conftest import SCHEMAS

# ../shared/TOTESYS.md: the PII columns of each table.
TOTESYS_PII = {
    "address": {"address_line_1", "address_line_2", "postal_code", "phone"},
    "counterparty": {"commercial_contact", "delivery_contact"},
    "currency": set(),
    "department": {"manager"},
    "design": set(),
    "staff": {"first_name", "last_name", "email_address"},
    "sales_order": set(),
    "purchase_order": set(),
    "payment_type": set(),
    "transaction": set(),
    "payment": {"company_ac_number", "counterparty_ac_number"},
}


def test_shipped_contracts_cover_totesys_with_its_pii_and_the_type_zoo():
    contracts = {c.name: c for c in load_contracts(SCHEMAS)}
    zoos = {"type_zoo", "type_zoo_more", "type_zoo_arrays", "type_zoo_ranges"}
    assert set(contracts) == set(TOTESYS_PII) | zoos | {"truncations"}  # + the truncate log
    for name, pii in TOTESYS_PII.items():
        assert set(contracts[name].pii_columns) == pii, name
        assert contracts[name].primary_key == (f"{name}_id",)
    assert contracts["purchase_order"].column("item_unit_price").kind is Kind.NUMERIC
    assert contracts["sales_order"].column("unit_price").sql_type == "numeric(10,2)"
    assert contracts["transaction"].column("sales_order_id").nullable
    zoo_kinds = {c.kind for z in zoos for c in contracts[z].columns}
    assert zoo_kinds == set(Kind)  # every supported type family is exercised


def test_source_ddl_is_generated_from_the_contracts():
    ddl = "\n".join(source_ddl(load_contracts(SCHEMAS)))
    assert "CREATE TYPE \"public\".\"mood\" AS ENUM ('happy', 'ok', 'sad')" in ddl
    assert '"unit_price" numeric(10,2) NOT NULL' in ddl
    assert '"c_int_array" int[]' in ddl and '"c_mood" "public"."mood"' in ddl
    assert 'PRIMARY KEY ("address_id")' in ddl


def _doc() -> dict[str, Any]:
    return orjson.loads((SCHEMAS / "public.currency.avsc").read_bytes())


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["fields"][1].update(name="Currency Code"), 'real name in "sql_name"'),
        (lambda d: d.update(name="drop table"), 'real name in "sql_name"'),
        (lambda d: d.update(namespace="my schema"), 'real name in "sql_schema"'),
        (
            lambda d: d["fields"][1].update(sql_name="CURRENCY_ID"),
            "columns 'currency_id' and 'CURRENCY_ID' have the same warehouse name 'currency_id'",
        ),
        (lambda d: d["fields"][1].update(sql_name="é" * 32), "64 bytes long"),
        (lambda d: d.update(sql_name="t" * 64), "64 bytes long"),
        (lambda d: d["fields"][1].update(sql_name="_CDC_version"), "metadata columns"),
        (lambda d: d["fields"][1].update(sql_name="xmin"), "system column"),
        (lambda d: d["fields"][1].update(sql_name="a,b"), "comma"),
        (lambda d: d["fields"][1].update(sql_name="a\\b"), "backslash"),
        (lambda d: d["fields"][1].update(sql_name="tab\there"), "not printable"),
        (lambda d: d["fields"][0].update(type="long"), 'use "int"'),
        (lambda d: d["fields"][1].pop("sql_type"), "no sql_type"),
        (lambda d: d["fields"][1].update(sql_type="point"), "unsupported PostgreSQL type"),
        (lambda d: d.pop("primary_key"), "REPLICA IDENTITY FULL"),
        (lambda d: d.update(primary_key=["nope"]), "not a field"),
        (lambda d: d["fields"][0].update(type=["null", "int"], default=None), "nullable"),
        (lambda d: d.update(delete_mode="sometimes"), "hard"),
        (lambda d: d["fields"].append(copy.deepcopy(d["fields"][1])), "duplicate column"),
        (lambda d: d.update(fields="nope"), "not a valid Avro schema"),
    ],
)
def test_invalid_contracts_are_rejected_with_the_fix(mutate, needle):
    doc = _doc()
    mutate(doc)
    with pytest.raises(ContractError, match=r"public\.currency\.avsc") as e:
        parse_contract(doc, Path("schemas/public.currency.avsc"))
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_or_empty_contract_directories_name_the_fix(tmp_path):
    with pytest.raises(ContractError, match="--contracts"):
        load_contracts(tmp_path / "missing")
    with pytest.raises(ContractError, match="cdc contracts import"):
        load_contracts(tmp_path)


def test_table_filter_names_the_choices():
    assert [c.name for c in load_contracts(SCHEMAS, ["staff", "public.design"])] == [
        "staff",
        "design",
    ]
    with pytest.raises(ContractError, match="choose from"):
        load_contracts(SCHEMAS, ["stafff"])
