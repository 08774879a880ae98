"""DMS Kinesis messages: `{"data": ..., "before-image": ..., "metadata": ...}` and control records.

Shapes follow AWS DMS's documented Kinesis target format and messages observed from DMS with a
PostgreSQL source. Decisions where DMS is undocumented, recorded here and in the README:

- `stream-position` is `<LSN>.<n>.<LSN>` as in published DMS output
  (`00000002/7C007178.3.00000002/7C007178`), LSNs zero-padded; what DMS means by each part is
  undocumented. Ours: the transaction's first change LSN, the change's place among the
  transaction's decoded messages, and the change's own LSN (runner.py). Consumers order changes
  of a row by (the later LSN, transaction-record-id); never by Kinesis sequence number.
- `prev-transaction-id` / `prev-transaction-record-id` name the record emitted just before this
  one by this capture process (absent for its first record).
- An UPDATE that leaves a TOASTed value untouched does not carry it in the WAL (pgoutput sends
  'u'). That column is left out of `data`; with IncludeNullAndEmpty every other column is
  present, so an absent column means "unchanged", never NULL.
- `before-image` (ColumnFilter pk-only) holds the old primary key when the update changed it,
  and `{}` when it did not, as DMS does with REPLICA IDENTITY DEFAULT.
- A table without a primary key has partition-key-type `schema-table` (what DMS emits for
  change records without a key) and partition key `<schema>.<table>`, so all its changes share
  one shard and keep their order; IncludePartitionValue adds no `partition-key-value` to them
  (DMS KinesisSettings: "unless the partition type is schema-table-type"). Under REPLICA
  IDENTITY FULL with ColumnFilter `all` (`non-lob`: LOB columns left out) its update's
  `before-image` is the whole old row, which pgoutput sends ('O'); with `pk-only` it is `{}`
  (no key columns), as DMS's.
- TRUNCATE is not captured, as DMS does not capture it from PostgreSQL; CDC_CAPTURE_TRUNCATE=1
  makes this capture (and only it) emit a `truncate-table` control record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.capture.dms_config import DmsConfig
from consumers.capture.pgoutput import UNCHANGED, TupleValue, format_lsn
from consumers.capture.render import Converter, converter
from consumers.contracts.model import Column, TableContract
from consumers.contracts.types import Kind, char_length, decimal_precision_scale, type_info

MAX_PARTITION_KEY = 256  # Kinesis partition keys are at most 256 Unicode characters
_LOB = frozenset({"NCLOB", "CLOB", "BLOB"})  # DMS's LOB data types (ColumnFilter non-lob)


def iso_utc(unix_us: int) -> str:
    return datetime.fromtimestamp(unix_us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Record:
    """One Kinesis record to put."""

    table: str  # schema.table, or "" for task-level control records
    partition_key: str
    data: bytes


def _converter(contract: TableContract, name: str, cfg: DmsConfig) -> Converter:
    col = contract.by_name.get(name)
    if col is None:
        return converter(None, cfg)
    precision = decimal_precision_scale(col.sql_type)[0] if col.kind is Kind.DECIMAL else None
    return converter(col.kind, cfg, precision)


class TableRenderer:
    """Renders rows of one source table, whose column layout comes from a pgoutput Relation
    message (CDC) or the catalog (full load)."""

    def __init__(
        self,
        cfg: DmsConfig,
        contract: TableContract,
        columns: Sequence[str],
    ) -> None:
        self.cfg = cfg
        self.contract = contract
        self.qualified = contract.qualified  # a property of the contract: read once a change
        self.columns = tuple(columns)
        self.converters: list[Converter] = [_converter(contract, c, cfg) for c in self.columns]
        self.key_index = [self.columns.index(k) for k in contract.primary_key]
        self.key_names = contract.primary_key
        self.key_prefix = self.qualified if cfg.partition_include_schema_table else ""
        # partition-key-value: in a keyed table's metadata, with IncludePartitionValue
        self.key_in_metadata = cfg.include_partition_value and bool(contract.primary_key)
        self.partition_key_type = "primary-key" if contract.primary_key else "schema-table"

    def data(self, values: Sequence[TupleValue]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keep_null = self.cfg.include_null_and_empty
        for name, conv, raw in zip(self.columns, self.converters, values, strict=True):
            if raw is None:
                if keep_null:
                    out[name] = None
            elif raw is UNCHANGED:
                continue
            else:
                value = conv(raw)  # type: ignore[arg-type]
                if keep_null or value != "":
                    out[name] = value
        return out

    def partition_key(self, data: dict[str, Any]) -> str:
        parts = [str(data.get(k)) for k in self.key_names]
        if self.key_prefix:
            parts.insert(0, self.key_prefix)
        key = ".".join(parts) if parts else self.qualified
        return key[:MAX_PARTITION_KEY]

    def key_image(self, values: Sequence[TupleValue]) -> dict[str, Any]:
        return {
            name: (self.converters[i](values[i]) if isinstance(values[i], bytes) else None)  # type: ignore[arg-type]
            for name, i in zip(self.key_names, self.key_index, strict=True)
        }

    def before_image(self, old: Sequence[TupleValue] | None, column_filter: str) -> dict[str, Any]:
        if old is None:
            return {}
        if self.contract.full_row_identity and column_filter in ("all", "non-lob"):
            image = self.data(old)
            if column_filter == "non-lob":
                lob = {c.name for c in self.contract.columns if _is_lob(c)}
                image = {k: v for k, v in image.items() if k not in lob}
            return image
        return self.key_image(old)

    def table_def(self) -> dict[str, Any]:
        cols: dict[str, Any] = {}
        for name in self.columns:
            col = self.contract.by_name.get(name)
            if col is None:
                cols[name] = {"type": "STRING", "nullable": True}
                continue
            d: dict[str, Any] = {"type": type_info(col.kind).dms_type, "nullable": col.nullable}
            if col.kind is Kind.DECIMAL:
                d["precision"], d["scale"] = decimal_precision_scale(col.sql_type)
            elif (n := char_length(col.sql_type)) is not None:
                d["length"] = n
            elif col.kind is Kind.TEXT:
                d["type"] = "NCLOB"  # unbounded text is a LOB to DMS
            cols[name] = d
        return {"columns": cols, "primary-key": list(self.key_names)}


class MessageBuilder:
    """Builds DMS messages; carries the transaction context between records."""

    def __init__(self, cfg: DmsConfig, task_id: str) -> None:
        self.cfg = cfg
        self.task_id = task_id
        self.option = orjson.OPT_INDENT_2 if cfg.message_format == "json" else 0
        self.prev: tuple[int, int] | None = None
        self.timestamp = now_iso()
        self._first: tuple[int, str] = (-1, "")  # a transaction's first LSN, and as text

    def _metadata(
        self, r: TableRenderer, record_type: str, op: str, pk_type: str, pk_value: str | None
    ) -> dict[str, Any]:
        """DMS's metadata fields in DMS's order: partition-key-value (when given) follows
        partition-key-type."""
        meta: dict[str, Any] = {
            "timestamp": self.timestamp,
            "record-type": record_type,
            "operation": op,
            "partition-key-type": pk_type,
        }
        if pk_value is not None:
            meta["partition-key-value"] = pk_value
        meta["schema-name"] = r.contract.schema
        meta["table-name"] = r.contract.name
        return meta

    def load(self, r: TableRenderer, values: Sequence[TupleValue]) -> Record:
        data = r.data(values)
        key = r.partition_key(data)
        meta = self._metadata(
            r, "data", "load", r.partition_key_type, key if r.key_in_metadata else None
        )
        msg = {"data": data, "metadata": meta}
        return Record(r.qualified, key, orjson.dumps(msg, option=self.option))

    def change(
        self,
        r: TableRenderer,
        op: str,
        values: Sequence[TupleValue],
        old: Sequence[TupleValue] | None,
        *,
        xid: int,
        record_id: int,
        position: tuple[int, int, int],
        commit_ts: str,
    ) -> Record:
        data = r.data(values)
        key = r.partition_key(data)
        meta = self._metadata(
            r, "data", op, r.partition_key_type, key if r.key_in_metadata else None
        )
        if self.cfg.include_transaction_details:
            meta["transaction-id"] = xid
            meta["transaction-record-id"] = record_id
            if self.prev is not None:
                meta["prev-transaction-id"], meta["prev-transaction-record-id"] = self.prev
            meta["commit-timestamp"] = commit_ts
            first, index, lsn = position
            if first != self._first[0]:  # the same for every change of a transaction
                self._first = (first, format_lsn(first))
            meta["stream-position"] = f"{self._first[1]}.{index}.{format_lsn(lsn)}"
        self.prev = (xid, record_id)
        msg: dict[str, Any] = {"data": data}
        if op == "update" and self.cfg.before_image:
            msg[self.cfg.before_image_field] = r.before_image(old, self.cfg.before_image_filter)
        msg["metadata"] = meta
        return Record(r.qualified, key, orjson.dumps(msg, option=self.option))

    def control(self, r: TableRenderer, op: str, extra: dict[str, Any] | None = None) -> Record:
        meta = self._metadata(r, "control", op, "task-id", self.task_id)
        control: dict[str, Any] = {"table-def": r.table_def()}
        if extra:
            control.update(extra)
        msg = {"control": control, "metadata": meta}
        return Record(r.qualified, self.task_id, orjson.dumps(msg, option=self.option))


def _is_lob(col: Column) -> bool:
    # Unbounded text is a LOB to DMS too (see TableRenderer.table_def).
    return type_info(col.kind).dms_type in _LOB or (
        col.kind is Kind.TEXT and col.sql_type == "text"
    )
