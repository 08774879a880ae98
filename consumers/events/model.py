"""Typed change events: what every stage after the decoder works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Operations of data records (DMS `metadata.operation` for record-type data).
LOAD, INSERT, UPDATE, DELETE = "load", "insert", "update", "delete"
DATA_OPERATIONS = frozenset((LOAD, INSERT, UPDATE, DELETE))


@dataclass(slots=True)
class ChangeEvent:
    """One row change. `values` hold the record's column values as DMS rendered them (the
    rendering table in consumers/capture/render.py); `events.columns` types them into Arrow
    against the contract, column by column."""

    table: str  # schema.table
    op: str
    key: tuple[Any, ...]
    values: dict[str, Any]
    version: int  # ordering version: (commit LSN << 32) | transaction-record-id; 0 for load
    sequence: str  # Kinesis sequence number of the record
    commit_ts: str | None = None
    unchanged: tuple[str, ...] = ()  # columns the update left untouched (unchanged TOAST)
    old_key: tuple[Any, ...] | None = None  # the previous key, when an update changed it
    raw: bytes = b""  # the Kinesis record, kept for the dead-letter path until the flush
    before: dict[str, Any] | None = None  # keyless REPLICA IDENTITY FULL update: the old row


@dataclass(slots=True)
class ControlEvent:
    """A DMS control record that the loader must know about (create-table, truncate-table,
    drop-table, ...), carried in the batch manifest."""

    table: str
    operation: str
    sequence: str
    detail: dict[str, Any] = field(default_factory=dict)


class DeadLetter(Exception):
    """A record that cannot be decoded or breaks its contract; the message is the reason."""
