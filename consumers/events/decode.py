"""Decode DMS Kinesis JSON into `ChangeEvent` / `ControlEvent`, checking it against the
contracts. Anything that cannot be trusted raises `DeadLetter` with the reason.

Rules (and why):
- Ordering version = (commit LSN << 32) | transaction-record-id, from `stream-position`
  (`<commit LSN>.<record id>.<change LSN>`); never the Kinesis sequence number, which
  PutRecords retries can reorder. A full-load row (`load`) has version 0: it ranks below every
  change, so it never overwrites a newer change. Without IncludeTransactionDetails DMS sends no
  stream-position; the version then falls back to the record's `timestamp` (microseconds)
  shifted the same way: ordered by capture time, weaker, and documented as such.
- A column absent from an update's `data` is unchanged (an untouched TOAST value) when its type
  can be TOASTed; any other absent column is NULL (DMS without IncludeNullAndEmpty omits NULLs).
- A column the contract lacks (the source added it), an unknown table, a missing or NULL key,
  or an unknown operation dead-letters the record: never silently dropped.
- `before-image` whose key differs from `data`'s key marks a primary-key change.
- Total: any bytes become an event, a control record or a `DeadLetter` naming what is wrong,
  never another exception. A wrong-typed envelope field (a `schema-name` that is a list, a
  number for `stream-position`, ...) is a dead letter; an exception here would stop the
  processor, which restarts from the checkpoint and reads the same record again, for ever.
"""

from __future__ import annotations

import operator
import re
from datetime import datetime
from typing import Any

import orjson

from consumers.contracts.model import TableContract
from consumers.contracts.types import TOASTABLE
from consumers.events.model import (
    DATA_OPERATIONS,
    DELETE,
    LOAD,
    UPDATE,
    ChangeEvent,
    ControlEvent,
    DeadLetter,
)

# Control operations the loader acts on, or that need no action when they match the contract.
CONTROL_OPERATIONS = frozenset(
    {
        "create-table",
        "drop-table",
        "truncate-table",
        "add-column",
        "drop-column",
        "rename-column",
        "rename-table",
        "column-type-change",
    }
)


class _Table:
    __slots__ = ("columns", "contract", "key", "key_of", "name", "toast", "where")

    def __init__(self, contract: TableContract, where: str) -> None:
        self.contract = contract
        self.name = contract.qualified
        self.columns = frozenset(c.name for c in contract.columns)
        self.key = contract.primary_key
        # data → key tuple, in C: itemgetter returns a bare value for a one-column key.
        getter = operator.itemgetter(*self.key) if self.key else None
        if getter is None:
            self.key_of: Any = lambda data: ()
        elif len(self.key) == 1:
            self.key_of = lambda data, g=getter: (g(data),)
        else:
            self.key_of = getter
        self.toast = frozenset(c.name for c in contract.columns if c.kind in TOASTABLE)
        self.where = where


# <commit LSN hi>/<lo>.<record id>[.<change LSN>]: each LSN half is at most 8 hex digits (a
# PostgreSQL LSN is 64 bits) and the record id at most 18 digits, so the version stays inside
# the decimal128(38, 0) of _cdc_version (the C fast path keeps the same bound).
_POSITION = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})\.([0-9]{1,18})(?:\.|\Z)")
_MAX_RECORD_ID = 1 << 32  # the version's low 32 bits; a larger one would reorder changes


def _json_type(value: object) -> str:
    """The JSON type of a decoded value, for reasons: "a list", "a number", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def version_of(meta: dict[str, Any]) -> int:
    position = meta.get("stream-position")
    if position is not None and not isinstance(position, str):
        raise DeadLetter(f"metadata stream-position is {_json_type(position)}, not a string")
    if position:
        match = _POSITION.match(position)
        if match is None:
            raise DeadLetter(f"stream-position {position!r} is not <LSN>.<record id>...")
        hi, lo, record = match.groups()
        return (int(hi, 16) << 64) | (int(lo, 16) << 32) | int(record)
    stamp = meta.get("timestamp")
    record_id = meta.get("transaction-record-id", 0)
    if isinstance(record_id, bool) or not isinstance(record_id, int):
        raise DeadLetter(
            f"metadata transaction-record-id is {_json_type(record_id)}, not a whole number"
        )
    if not 0 <= record_id < _MAX_RECORD_ID:
        raise DeadLetter(f"metadata transaction-record-id {record_id} is out of range")
    try:
        if not isinstance(stamp, str):
            raise ValueError
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        micros = int(when.timestamp() * 1_000_000)
    except (ValueError, OverflowError, OSError):
        raise DeadLetter("record has neither a stream-position nor a valid timestamp") from None
    if micros < 0:
        raise DeadLetter(f"metadata timestamp {stamp!r} is before 1970: not a DMS capture time")
    return micros << 32 | record_id


def _text(meta: dict[str, Any], name: str) -> str:
    value = meta[name]
    if not isinstance(value, str):
        raise DeadLetter(f"metadata {name} is {_json_type(value)}, not a string")
    return value


def _scalars(values: tuple[Any, ...], table: str, where: str) -> None:
    """Key values must be JSON scalars: the buffers key rows by them (a list is unhashable)."""
    for v in values:
        if isinstance(v, list | dict):
            raise DeadLetter(f"primary key of {table} in {where} is {_json_type(v)}, not a value")


def _names(value: Any, what: str) -> set[str]:
    """Column names from a control record: an object's keys or a list of names."""
    if value is None:
        return set()
    if isinstance(value, dict):
        return set(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return set(value)
    raise DeadLetter(f"control record {what} is {_json_type(value)}, not column names")


class Decoder:
    def __init__(self, contracts: list[TableContract], contracts_dir: str = "schemas") -> None:
        self.tables = {
            (c.schema, c.name): _Table(c, f"{contracts_dir}/{c.qualified}.avsc") for c in contracts
        }

    def decode(self, raw: bytes, sequence: str) -> ChangeEvent | ControlEvent:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise DeadLetter(f"not JSON ({e})") from None
        meta = msg.get("metadata") if isinstance(msg, dict) else None
        if not isinstance(meta, dict):
            raise DeadLetter("not a DMS record: no metadata object")
        try:
            record_type = _text(meta, "record-type")
            op = _text(meta, "operation")
            schema, name = _text(meta, "schema-name"), _text(meta, "table-name")
        except KeyError as e:
            raise DeadLetter(f"DMS metadata lacks {e.args[0]!r}") from None
        if record_type == "control":
            return self._control(msg, meta, op, schema, name, sequence)
        if record_type != "data":
            raise DeadLetter(f"unknown record-type {record_type!r}")
        table = self.tables.get((schema, name))
        if table is None:
            raise DeadLetter(
                f"no contract for table {schema}.{name}: add schemas/{schema}.{name}.avsc "
                "(cdc contracts import) or exclude the table in the DMS table mappings"
            )
        if op not in DATA_OPERATIONS:
            raise DeadLetter(f"unknown operation {op!r} for a data record")
        data = msg.get("data")
        if not isinstance(data, dict):
            raise DeadLetter("data record without a data object")
        if not data.keys() <= table.columns:
            extra = sorted(set(data) - table.columns)
            raise DeadLetter(
                f"column(s) {', '.join(extra)} of {schema}.{name} are not in the contract "
                f"(added at the source?): add them to {table.where}"
            )
        try:
            key = table.key_of(data)
        except KeyError as e:
            raise DeadLetter(f"primary key column {e.args[0]!r} missing from data") from None
        if None in key:
            raise DeadLetter(f"primary key of {schema}.{name} is NULL")
        _scalars(key, f"{schema}.{name}", "data")
        unchanged: tuple[str, ...] = ()
        old_key = None
        if op == UPDATE:
            if len(data) < len(table.columns):
                unchanged = tuple(sorted(table.toast - data.keys()))
            before = msg.get("before-image")
            if before is not None and not isinstance(before, dict):
                raise DeadLetter(f"before-image is {_json_type(before)}, not an object")
            if before and all(k in before for k in table.key):
                previous = tuple(before[k] for k in table.key)
                if previous != key:
                    _scalars(previous, f"{schema}.{name}", "before-image")
                    old_key = previous
        if op == LOAD:
            version, commit = 0, None
        else:
            version, commit = version_of(meta), meta.get("commit-timestamp")
            if commit is not None and not isinstance(commit, str):
                raise DeadLetter(f"metadata commit-timestamp is {_json_type(commit)}, not a string")
        return ChangeEvent(
            table.name, op, key, data, version, sequence, commit, unchanged, old_key, raw
        )

    def _control(
        self, msg: dict[str, Any], meta: dict[str, Any], op: str, schema: str, name: str, seq: str
    ) -> ControlEvent:
        if schema == "" or name.startswith("awsdms_"):
            # DMS's own tables (awsdms_apply_exceptions, ...): nothing for the warehouse.
            return ControlEvent(f"{schema}.{name}", op, seq, {"internal": True})
        table = self.tables.get((schema, name))
        if table is None:
            raise DeadLetter(
                f"control record ({op}) for table {schema}.{name}, which has no contract: "
                f"add schemas/{schema}.{name}.avsc or exclude the table in the DMS mappings"
            )
        if op not in CONTROL_OPERATIONS:
            raise DeadLetter(f"unknown control operation {op!r}")
        control = msg.get("control") or {}
        if not isinstance(control, dict):
            raise DeadLetter(f"control record's control is {_json_type(control)}, not an object")
        table_def = control.get("table-def") or {}
        if not isinstance(table_def, dict):
            raise DeadLetter(
                f"control record's table-def is {_json_type(table_def)}, not an object"
            )
        source_columns = _names(table_def.get("columns"), "table-def columns")
        if op in ("create-table", "add-column") and source_columns - table.columns:
            extra = ", ".join(sorted(source_columns - table.columns))
            raise DeadLetter(
                f"{op}: column(s) {extra} of {schema}.{name} exist at the source but not in "
                f"the contract: add them to {table.where}"
            )
        if op == "drop-column":
            gone = _names(control.get("columns"), "columns") & table.columns
            if gone:
                raise DeadLetter(
                    f"drop-column: contract column(s) {', '.join(sorted(gone))} of "
                    f"{schema}.{name} were dropped at the source: update {table.where}"
                )
        if op in ("rename-column", "rename-table", "column-type-change"):
            raise DeadLetter(f"{op} at the source for {schema}.{name}: update {table.where}")
        return ControlEvent(table.contract.qualified, op, seq, {})


__all__ = ["DELETE", "Decoder", "version_of"]
