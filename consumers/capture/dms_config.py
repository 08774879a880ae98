"""The DMS configuration files in infra/dms/, read by the local capture as DMS reads them.

- `table-mappings.json`: selection rules (which tables) and object-mapping rules (partition key
  type), generated from the contracts by `cdc dms mappings` and checked against them in tests.
  With contracts from another directory (`--contracts DIR`), the local capture derives the
  rules from those contracts instead (`load(..., contracts)`).
- `task-settings.json`: the replication task settings (BeforeImageSettings, LOB handling, ...).
- `kinesis-settings.json`: the Kinesis target endpoint's KinesisSettings (message shape).
- `postgres-settings.json`: the PostgreSQL source endpoint's PostgreSQLSettings (type mapping).

infra/dms/README.md records what each setting does and why it has its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from consumers.contracts.model import TableContract
from consumers.errors import TerminalError

FILES = (
    "table-mappings.json",
    "task-settings.json",
    "kinesis-settings.json",
    "postgres-settings.json",
)


@dataclass(frozen=True)
class SelectionRule:
    schema: str
    table: str
    action: str  # include | exclude

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], re.Pattern[str]]:
        return locator_pattern(self.schema), locator_pattern(self.table)

    def matches(self, schema: str, table: str) -> bool:
        s, t = self._patterns
        return bool(s.fullmatch(schema) and t.fullmatch(table))


def locator_pattern(locator: str) -> re.Pattern[str]:
    """A DMS object-locator name as a regular expression. AWS DMS User Guide, "Wildcards in
    table mapping": `%` is any run of characters, `_` any single character, `[ab]` / `[a-d]` a
    set or range (`[_]` a literal underscore); every other character is itself, and names are
    case-sensitive ("playerStats" is not "playerstats")."""
    out, i = [], 0
    while i < len(locator):
        ch = locator[i]
        end = locator.find("]", i + 2) if ch == "[" else -1
        if end != -1:
            body = "".join("\\" + x if x in "\\^[]" else x for x in locator[i + 1 : end])
            out.append(f"[{body}]")
            i = end + 1
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def locator(name: str) -> str:
    """`name` as an object-locator that matches it and nothing else: `_`, `%` and `[` are
    wildcards to DMS, so each is written as a one-character set ("Wildcards in table mapping":
    `[_]` matches a literal underscore). Without it `sales_order` also selects `salesXorder`."""
    return "".join(f"[{ch}]" if ch in "_%[" else ch for ch in name)


def _rule_name(prefix: str, c: TableContract, number: int) -> str:
    # Rule names are meant to be alphanumeric (DMS "Selection rules and actions"): a table
    # whose name has other characters is named by its rule number instead.
    name = f"{prefix}-{c.schema}-{c.name}"
    return name if re.fullmatch(r"[A-Za-z0-9_.-]+", name) else f"{prefix}-{number}"


@dataclass(frozen=True)
class DmsConfig:
    include_transaction_details: bool
    include_control_details: bool
    include_table_alter_operations: bool
    include_null_and_empty: bool
    include_partition_value: bool
    partition_include_schema_table: bool
    message_format: str
    use_large_integer_value: bool
    no_hex_prefix: bool
    before_image: bool
    before_image_field: str
    before_image_filter: str
    map_unbounded_numeric_as_string: bool
    map_boolean_as_boolean: bool
    heartbeat: bool
    selection: tuple[SelectionRule, ...]

    def selected(self, schema: str, table: str) -> bool:
        """DMS semantics: included by some include rule and not by any exclude rule."""
        included = any(r.matches(schema, table) for r in self.selection if r.action == "include")
        excluded = any(r.matches(schema, table) for r in self.selection if r.action == "exclude")
        return included and not excluded


def _read(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    try:
        value = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise TerminalError(
            f"DMS configuration file {path} is missing: restore it from git or set CDC_DMS_DIR"
        ) from None
    except orjson.JSONDecodeError as e:
        raise TerminalError(
            f"DMS configuration file {path} is not valid JSON ({e}): fix it"
        ) from None
    if not isinstance(value, dict):
        raise TerminalError(f"DMS configuration file {path} is not a JSON object: fix it")
    return value


def load(directory: Path, contracts: list[TableContract] | None = None) -> DmsConfig:
    """The DMS configuration in `directory`. With `contracts`, the selection rules are derived
    from them (what `cdc dms mappings --contracts DIR --write --out FILE` writes for the task)
    instead of read from table-mappings.json: how `cdc run`/`cdc capture --contracts DIR` run a
    user's own tables without rewriting the repository's files."""
    mappings = (
        table_mappings(contracts)
        if contracts is not None
        else _read(directory, "table-mappings.json")
    )
    task = _read(directory, "task-settings.json")
    kinesis = _read(directory, "kinesis-settings.json")
    pg = _read(directory, "postgres-settings.json")
    rules = []
    for rule in mappings.get("rules", []):
        if rule.get("rule-type") == "selection":
            loc = rule["object-locator"]
            rules.append(SelectionRule(loc["schema-name"], loc["table-name"], rule["rule-action"]))
    if not rules:
        raise TerminalError(
            f"{directory / 'table-mappings.json'} has no selection rules: regenerate it with "
            "`cdc dms mappings --write`"
        )
    fmt = str(kinesis.get("MessageFormat", "json")).lower()
    if fmt not in ("json", "json-unformatted"):
        raise TerminalError(
            f"KinesisSettings.MessageFormat {fmt!r} is not supported: use json or json-unformatted"
        )
    before = task.get("BeforeImageSettings") or {}
    return DmsConfig(
        include_transaction_details=bool(kinesis.get("IncludeTransactionDetails", False)),
        include_control_details=bool(kinesis.get("IncludeControlDetails", False)),
        include_table_alter_operations=bool(kinesis.get("IncludeTableAlterOperations", False)),
        include_null_and_empty=bool(kinesis.get("IncludeNullAndEmpty", False)),
        include_partition_value=bool(kinesis.get("IncludePartitionValue", False)),
        partition_include_schema_table=bool(kinesis.get("PartitionIncludeSchemaTable", False)),
        message_format=fmt,
        use_large_integer_value=bool(kinesis.get("UseLargeIntegerValue", False)),
        no_hex_prefix=bool(kinesis.get("NoHexPrefix", False)),
        before_image=bool(before.get("EnableBeforeImage", False)),
        before_image_field=str(before.get("FieldName", "before-image")),
        before_image_filter=str(before.get("ColumnFilter", "pk-only")),
        map_unbounded_numeric_as_string=bool(pg.get("MapUnboundedNumericAsString", False)),
        map_boolean_as_boolean=bool(pg.get("MapBooleanAsBoolean", False)),
        heartbeat=bool(pg.get("HeartbeatEnable", False)),
        selection=tuple(rules),
    )


def table_mappings(contracts: list[TableContract]) -> dict[str, Any]:
    """The table-mapping document for these contracts: one selection rule and one
    object-mapping rule (partition key = the row's primary key) per table, with the source's
    names exactly (object-locators are case-sensitive, wildcards escaped), and a remove-column
    transformation rule per generated column the contract leaves out (contracts/importer.py):
    DMS's full load would otherwise carry a column no contract has."""
    rules: list[dict[str, Any]] = []
    for i, c in enumerate(contracts, start=1):
        rules.append(
            {
                "rule-type": "selection",
                "rule-id": str(i),
                "rule-name": _rule_name("include", c, i),
                "object-locator": {"schema-name": locator(c.schema), "table-name": locator(c.name)},
                "rule-action": "include",
            }
        )
    for i, c in enumerate(contracts, start=1):
        rules.append(
            {
                "rule-type": "object-mapping",
                "rule-id": str(1000 + i),
                "rule-name": _rule_name("kinesis", c, 1000 + i),
                "rule-action": "map-record-to-record",
                "object-locator": {"schema-name": locator(c.schema), "table-name": locator(c.name)},
                # A table without a primary key can only be partitioned by its name.
                "mapping-parameters": {
                    "partition-key-type": "primary-key" if c.primary_key else "schema-table"
                },
            }
        )
    n = 2000
    for c in contracts:
        for column in c.generated_columns:
            n += 1
            rules.append(
                {
                    "rule-type": "transformation",
                    "rule-id": str(n),
                    "rule-name": f"generated-{n}",
                    "rule-target": "column",
                    "object-locator": {
                        "schema-name": locator(c.schema),
                        "table-name": locator(c.name),
                        "column-name": locator(column),
                    },
                    "rule-action": "remove-column",
                }
            )
    return {"rules": rules}


def dumps(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
