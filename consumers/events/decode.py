"""Decode DMS Kinesis JSON into `ChangeEvent` / `ControlEvent`, checking it against the
contracts. Anything that cannot be trusted raises `DeadLetter` with the reason.

Rules (and why):
- Ordering version = (LSN << 32) | transaction-record-id. LSN is the highest of the LSNs
  (`XXXXXXXX/XXXXXXXX`) in `stream-position`. Real DMS writes
  `00000002/7C007178.3.00000002/7C007178`; what each part means is undocumented: the middle
  number is not the transaction-record-id (3 on a record whose transaction-record-id is 1), and
  the two LSNs can differ (`00002A7B/88030ED0.2.00002A7B/88030F08`). The rule holds whatever
  they are, as long as the later of the two is the change's own LSN or its transaction's commit
  LSN (the earlier may also be its transaction's first LSN): two changes of one row are ordered
  by both (a row lock holds until commit), and within a transaction the
  transaction-record-id ("the record offset within a transaction", KinesisSettings
  IncludeTransactionDetails) breaks the tie. Never the Kinesis sequence number, which PutRecords
  retries can reorder. A full-load row (`load`) has version 0: it ranks below every change, so
  it never overwrites a newer change.
- A stream-position without any LSN in it (an unfamiliar form) is not a reason to drop a valid
  change: the version then comes from `commit-timestamp`, else `timestamp` (microseconds),
  shifted the same way: ordered by time, weaker, and documented as such. So does a record
  without IncludeTransactionDetails.
- A column absent from an update's `data` is unchanged (an untouched TOAST value) when its type
  can be TOASTed; any other absent column is NULL (DMS without IncludeNullAndEmpty omits NULLs).
  DMS may also send NULL for an untouched TOASTed value (reported by third parties, not by AWS):
  in a NOT NULL column that NULL cannot be the value, so it means unchanged too; in a nullable
  column it cannot be told from a real NULL (README, "Unchanged TOAST under real DMS").
- A column the contract lacks (the source added it), an unknown table, a missing or NULL key,
  or an unknown operation dead-letters the record: never silently dropped.
- A contract column absent from an insert or full-load row (or, not TOASTable, from an update)
  when DMS writes every column (KinesisSettings IncludeNullAndEmpty, shipped true: "Include NULL
  and empty columns for records migrated to the endpoint"; CDC_NULLS_PRESENT) was dropped or
  renamed at the source: a dead letter, not a NULL. With CaptureDdls false and no
  IncludeTableAlterOperations control record the data is the only signal (README, "Schema
  changes"). Without IncludeNullAndEmpty an absent column is a NULL, as before.
- DMS's own tables (`awsdms_apply_exceptions`, `awsdms_status`, ...: schema-name "" or a name
  starting `awsdms_`) arrive as control and data records; both are ignored and counted, never
  dead-lettered.
- `before-image` whose key differs from `data`'s key marks a primary-key change.
- A table without a primary key: an append-only contract takes inserts (and full-load rows)
  only; an update or delete of it is a dead letter (DMS ignores them for keyless tables, so one
  arriving means the source or the contract changed). Under `"replica_identity": "full"` an
  update must carry the whole old row as its before-image (BeforeImageSettings ColumnFilter
  `all`) and a delete the whole old row as its data; a column missing there is a dead letter,
  since the row could not be found by it.
- JSON numbers are parsed as binary floats by orjson; a record with a float in an exact column
  (numeric(p,s) as a JSON number, which DMS may send) is parsed again with every number kept
  exactly (Decimal), so no digit is lost.
- Total: any bytes become an event, a control record or a `DeadLetter` naming what is wrong,
  never another exception. A wrong-typed envelope field (a `schema-name` that is a list, a
  number for `stream-position`, ...) is a dead letter; an exception here would stop the
  processor, which restarts from the checkpoint and reads the same record again, for ever.
"""

from __future__ import annotations

import json
import operator
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from consumers.contracts.model import TableContract
from consumers.contracts.types import TOASTABLE, Kind
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
        # The current Kafka/Kinesis target docs list change-columns among the control
        # operations; its shape is unpublished: checked like add-column when it has a table-def.
        "change-columns",
    }
)


class _Table:
    __slots__ = (
        "added", "columns", "contract", "dropped", "exact", "key", "key_of", "name", "renamed",
        "toast", "toast_not_null", "where",
    )  # fmt: skip

    def __init__(self, contract: TableContract, where: str) -> None:
        self.contract = contract
        self.name = contract.qualified
        self.columns = frozenset(c.name for c in contract.columns)
        # A column renamed at the source (contract `renamed_from`): records from before the
        # rename carry the old name (a redriven dead letter, a replay): read as the new one.
        self.renamed = {c.renamed_from: c.name for c in contract.columns if c.renamed_from}
        # Columns added after older records were written (absent from them: NULL) and dropped
        # since (present in them: ignored): contract added_columns / dropped_columns.
        self.added = frozenset(contract.added_columns)
        self.dropped = frozenset(contract.dropped_columns)
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
        self.toast_not_null = frozenset(
            c.name for c in contract.columns if c.kind in TOASTABLE and not c.nullable
        )
        self.exact = tuple(
            c.name for c in contract.columns if c.kind in (Kind.DECIMAL, Kind.NUMERIC, Kind.MONEY)
        )
        self.where = where


_LSN = re.compile(r"(?<![0-9A-Fa-f])([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})(?![0-9A-Fa-f])")
_RECORD_ID_LIMIT = 1 << 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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


def _record_id(meta: dict[str, Any]) -> int:
    record = meta.get("transaction-record-id", 0)
    if type(record) is not int:
        raise DeadLetter(
            f"metadata transaction-record-id is {_json_type(record)}, not a whole number"
        )
    if not 0 <= record < _RECORD_ID_LIMIT:  # the version's low 32 bits
        raise DeadLetter(f"metadata transaction-record-id {record} is out of range")
    return record


def _micros(stamp: Any) -> int | None:
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return (when - _EPOCH) // _MICROSECOND


def version_of(meta: dict[str, Any]) -> int:
    position = meta.get("stream-position")
    if isinstance(position, str):
        lsns = [int(hi, 16) << 32 | int(lo, 16) for hi, lo in _LSN.findall(position)]
        if lsns:
            return max(lsns) << 32 | _record_id(meta)
    elif position is not None:
        raise DeadLetter(f"metadata stream-position is {_json_type(position)}, not a string")
    for field in ("commit-timestamp", "timestamp"):
        micros = _micros(meta.get(field))
        if micros is not None and micros >= 0:
            return micros << 32 | _record_id(meta)
    raise DeadLetter("record has no LSN in its stream-position and no valid timestamp")


def _exact(raw: bytes) -> Any:
    """The record again with every JSON number exact: integers as int, the rest as Decimal.
    (orjson accepted it, so it is strict JSON; the stdlib parser recurses, hence the guard.)"""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError) as e:
        raise DeadLetter(f"not JSON when read exactly ({type(e).__name__})") from None


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


def internal(schema: Any, name: Any) -> bool:
    """DMS's own control tables: schema-name "" (observed in published DMS output) or a name
    starting awsdms_ (AWS DMS User Guide, "Control table task settings")."""
    return schema == "" or (isinstance(name, str) and name.startswith("awsdms_"))


class Decoder:
    def __init__(
        self,
        contracts: list[TableContract],
        contracts_dir: str = "schemas",
        *,
        nulls_present: bool = False,
    ) -> None:
        self.nulls_present = nulls_present  # DMS IncludeNullAndEmpty (see the module docstring)
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
        if internal(schema, name):
            return ControlEvent(f"{schema}.{name}", "data", sequence, {"internal": True})
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
        if any(type(data.get(c)) is float for c in table.exact):
            msg = _exact(raw)
            data = msg["data"]
        if (table.renamed or table.dropped) and not data.keys() <= table.columns:
            data = _renamed(data, table.renamed, table.dropped)
            before = msg.get("before-image")
            if isinstance(before, dict):
                before = _renamed(before, table.renamed, table.dropped)
                msg = {**msg, "data": data, "before-image": before}
        if not data.keys() <= table.columns:
            extra = sorted(set(data) - table.columns)
            raise DeadLetter(
                f"column(s) {', '.join(extra)} of {schema}.{name} are not in the contract "
                f"(added at the source?): add them to {table.where}"
            )
        if self.nulls_present and op != DELETE and len(data) < len(table.columns):
            gone = table.columns - data.keys() - table.added
            if op == UPDATE:
                gone -= table.toast  # absent = unchanged TOAST
            if gone:
                raise DeadLetter(
                    f"column(s) {', '.join(sorted(gone))} of {schema}.{name} absent from "
                    f"{'an' if op[0] in 'aeiou' else 'a'} {op} record, which carries every "
                    "column (IncludeNullAndEmpty): dropped or "
                    f'renamed at the source? update {table.where} (README, "Schema changes")'
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
        if (
            op == UPDATE
            and table.toast_not_null
            and any(data.get(c, 0) is None for c in table.toast_not_null)
        ):
            # NULL in a NOT NULL TOASTable column cannot be the value: it is DMS's NULL for a
            # value the update left untouched (README, "Unchanged TOAST").
            data = {k: v for k, v in data.items() if v is not None or k not in table.toast_not_null}
        before_row = None
        if not table.key and op in (UPDATE, DELETE):
            before_row = _keyless_old_row(table, op, msg, data)
            if op == UPDATE:
                data = {**{c: before_row[c] for c in table.toast - data.keys()}, **data}
        elif op == UPDATE:
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
            table.name, op, key, data, version, sequence, commit, unchanged, old_key, raw,
            before_row if op == UPDATE else None,
        )  # fmt: skip

    def _control(
        self, msg: dict[str, Any], meta: dict[str, Any], op: str, schema: str, name: str, seq: str
    ) -> ControlEvent:
        if internal(schema, name):
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
        if op == "add-column" and control.get("columns") is not None:
            # The added columns themselves when the record names them (the local capture
            # does): the table-def is the table at that moment, with columns a later change may
            # have dropped or renamed, which would keep a redriven add-column dead for ever.
            source_columns = _names(control.get("columns"), "columns")
        if (
            op in ("create-table", "add-column", "change-columns")
            and source_columns - table.columns
        ):
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


def _renamed(
    values: dict[str, Any], renamed: dict[str, str], dropped: frozenset[str]
) -> dict[str, Any]:
    """`values` with old column names read as the new ones (never over a new name present)
    and without the columns dropped since."""
    return {
        (renamed[k] if k in renamed and renamed[k] not in values else k): v
        for k, v in values.items()
        if k not in dropped
    }


def _keyless_old_row(
    table: _Table, op: str, msg: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """The old row of an update or delete of a table without a primary key."""
    if table.contract.append_only:
        raise DeadLetter(
            f"{op} of append-only table {table.name} (no primary key): it cannot be applied "
            "without the old row: set REPLICA IDENTITY FULL at the source and mark "
            f'{table.where} "replica_identity": "full"'
        )
    old = data if op == DELETE else msg.get("before-image")
    if not isinstance(old, dict):
        old = {}
    missing = sorted(table.columns - old.keys())
    if missing:
        where = "data" if op == DELETE else "before-image"
        raise DeadLetter(
            f"{op} of {table.name} (no primary key, REPLICA IDENTITY FULL) lacks column(s) "
            f"{', '.join(missing)} of the old row in its {where}: the row cannot be found "
            "without them: set BeforeImageSettings ColumnFilter all and IncludeNullAndEmpty"
        )
    return old


__all__ = ["DELETE", "Decoder", "version_of"]
