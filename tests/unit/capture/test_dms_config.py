from __future__ import annotations

import orjson

from consumers.capture import dms_config
from consumers.contracts.model import load_contracts
from tests.conftest import DMS_DIR, SCHEMAS


def test_table_mappings_file_is_generated_from_the_contracts():
    expected = dms_config.dumps(dms_config.table_mappings(load_contracts(SCHEMAS)))
    assert (DMS_DIR / "table-mappings.json").read_bytes() == expected


def test_every_contract_table_is_selected_and_keyed_by_primary_key(dms, contracts):
    assert all(dms.selected(c.schema, c.name) for c in contracts)
    assert not dms.selected("public", "not_a_contract")
    rules = orjson.loads((DMS_DIR / "table-mappings.json").read_bytes())["rules"]
    mapped = [r for r in rules if r["rule-type"] == "object-mapping"]
    assert len(mapped) == len(contracts)
    assert {r["mapping-parameters"]["partition-key-type"] for r in mapped} == {"primary-key"}


def test_the_settings_the_pipeline_depends_on(dms):
    assert dms.message_format == "json"
    assert dms.include_transaction_details and dms.include_control_details
    assert dms.include_table_alter_operations and dms.include_null_and_empty
    assert dms.partition_include_schema_table and dms.use_large_integer_value
    assert dms.before_image and dms.before_image_filter == "all"
    assert dms.map_unbounded_numeric_as_string and dms.map_boolean_as_boolean
    assert dms.heartbeat
    task = orjson.loads((DMS_DIR / "task-settings.json").read_bytes())
    # Text over the LOB limit would be truncated silently; the task must stop instead.
    assert task["ErrorBehavior"]["DataTruncationErrorPolicy"] == "STOP_TASK"
    pg = orjson.loads((DMS_DIR / "postgres-settings.json").read_bytes())
    assert pg["FailTasksOnLobTruncation"] is True


def test_wildcard_and_exclude_rules(tmp_path, dms):
    rules = [
        dms_config.SelectionRule("public", "sales%", "include"),
        dms_config.SelectionRule("public", "sales_archive", "exclude"),
    ]
    import dataclasses

    cfg = dataclasses.replace(dms, selection=tuple(rules))
    assert cfg.selected("public", "sales_order")
    assert not cfg.selected("public", "sales_archive")
    assert not cfg.selected("other", "sales_order")


def test_locators_are_exact_names_with_dms_wildcards_escaped(dms):
    """DMS "Wildcards in table mapping": `_` is any one character, `[_]` a literal one."""
    import dataclasses

    from consumers.contracts.model import Column, TableContract
    from consumers.contracts.types import Kind

    cols = (Column("ID", "integer", Kind.INT4, False, False, "int"),)
    c = TableContract("Sport", "Player_Stats 100%", cols, ("ID",), generated_columns=("Ratio_x",))
    doc = dms_config.table_mappings([c])
    selection, mapping, removal = doc["rules"]
    assert selection["object-locator"] == {
        "schema-name": "Sport",
        "table-name": "Player[_]Stats 100[%]",
    }
    assert selection["rule-name"] == "include-1"  # rule names stay alphanumeric
    assert mapping["object-locator"] == selection["object-locator"]
    assert removal["rule-action"] == "remove-column" and removal["rule-target"] == "column"
    assert removal["object-locator"]["column-name"] == "Ratio[_]x"
    rules = tuple(
        dms_config.SelectionRule(r["object-locator"]["schema-name"],
                                 r["object-locator"]["table-name"], r["rule-action"])
        for r in doc["rules"] if r["rule-type"] == "selection"
    )  # fmt: skip
    cfg = dataclasses.replace(dms, selection=rules)
    assert cfg.selected("Sport", "Player_Stats 100%")
    assert not cfg.selected("Sport", "PlayerXStats 100%")  # `_` unescaped would match this
    assert not cfg.selected("sport", "Player_Stats 100%")  # case-sensitive
    assert not cfg.selected("Sport", "Player_Stats 1000")


def test_dms_wildcards_sets_and_ranges():
    p = dms_config.locator_pattern
    assert p("sales_order").fullmatch("salesXorder")  # DMS's `_` is a wildcard
    assert p("t[ab]%").fullmatch("tb_archive") and not p("t[ab]%").fullmatch("tc")
    assert p("t[a-d]").fullmatch("tc") and not p("t[a-d]").fullmatch("te")
    assert p("x.y*").fullmatch("x.y*") and not p("x.y*").fullmatch("xzyy")  # regex-safe
