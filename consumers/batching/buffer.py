"""Per-shard micro-batches: per-table buffers keyed by primary key, last write wins by version.

Why collapse by key: the warehouse keeps only a row's latest state, so a batch needs only each
key's newest change (artie-labs/transfer does the same). Merging rules:
- the change with the higher ordering version wins; equal versions (full-load rows of a redone
  full load) keep the later one;
- the winner's unchanged-TOAST columns are filled from the change it replaces, when that one
  carries them (an insert then an update that did not touch the big column);
- a primary-key change also buffers a delete of the old key at the same version, so the old row
  goes even when a later change of the new key replaces the update in the buffer.
A table without a primary key has no key to collapse by: every change is kept, once per change
identity (a change's ordering version is unique, since it holds the commit LSN and the position
in the transaction; a full-load row has version 0 and is identified by its Kinesis record), so
a record delivered twice is buffered once. An update of a REPLICA IDENTITY FULL table becomes
the removal of its old row (op `delete`, the before-image) and the addition of its new row
(op `update`), both at the update's version; warehouse/plan.py applies them as a multiset.

The processor stages records as they arrive (`stage`: raw bytes, sequence number, partition
key, arrival time) and decodes them together at the flush (batching/resolve.py): the fast path
types whole tables into `typed`; the rest go through the reference decoder into `tables`.
A batch is flushed when it holds `max_rows` records, `max_bytes` of raw records, or its oldest
record is `max_age_seconds` old; the reason is logged. Memory stays within those bounds.
Values of a change superseded within the batch are not type-checked (only surviving rows are
written); its record is still counted in the batch it belonged to.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import accumulate

import pyarrow as pa

from consumers.errors import CdcError
from consumers.events.model import DELETE, LOAD, ChangeEvent, ControlEvent


@dataclass(frozen=True)
class FlushPolicy:
    max_rows: int = 20_000
    max_bytes: int = 16 * 1024 * 1024
    max_age_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> FlushPolicy:
        try:
            policy = cls(
                max_rows=int(os.environ.get("CDC_FLUSH_MAX_ROWS", cls.max_rows)),
                max_bytes=int(os.environ.get("CDC_FLUSH_MAX_BYTES", cls.max_bytes)),
                max_age_seconds=float(os.environ.get("CDC_FLUSH_MAX_AGE", cls.max_age_seconds)),
            )
        except ValueError as e:
            raise CdcError(f"bad CDC_FLUSH_* setting ({e}): use whole numbers / seconds") from None
        if policy.max_rows < 1 or policy.max_bytes < 1024 or policy.max_age_seconds <= 0:
            raise CdcError("CDC_FLUSH_MAX_ROWS >= 1, CDC_FLUSH_MAX_BYTES >= 1024, MAX_AGE > 0")
        return policy


class TableBuffer:
    def __init__(self, key_names: tuple[str, ...]) -> None:
        self.key_names = key_names
        self.rows: dict[tuple[object, ...], ChangeEvent] = {}

    def add(self, e: ChangeEvent) -> None:
        if not self.key_names:
            self._add_keyless(e)
            return
        old_key = e.old_key
        if old_key is not None:
            old = self.rows.get(old_key)
            if old is not None and e.unchanged:
                e = _fill(e, old)
            self._put(
                ChangeEvent(
                    table=e.table,
                    op=DELETE,
                    key=old_key,
                    values=dict(zip(self.key_names, old_key, strict=True)),
                    version=e.version,
                    sequence=e.sequence,
                    commit_ts=e.commit_ts,
                )
            )
        self._put(e)

    def _add_keyless(self, e: ChangeEvent) -> None:
        if e.op == LOAD:
            self.rows.setdefault(("load", e.sequence), e)
            return
        if e.before is not None:  # an update: remove the old row, add the new one
            removal = replace(e, op=DELETE, values=e.before, before=None)
            self.rows.setdefault(("-", e.version), removal)
            self.rows.setdefault(("+", e.version), replace(e, before=None))
            return
        self.rows.setdefault(("-" if e.op == DELETE else "+", e.version), e)

    def _put(self, e: ChangeEvent) -> None:
        current = self.rows.get(e.key)
        if current is None:
            self.rows[e.key] = e
            return
        newer, older = (e, current) if e.version >= current.version else (current, e)
        if newer.unchanged and older.op != DELETE:
            newer = _fill(newer, older)
        self.rows[e.key] = newer


def _fill(newer: ChangeEvent, older: ChangeEvent) -> ChangeEvent:
    """`newer` with its unchanged columns taken from `older` where older has them."""
    carried = {c: older.values[c] for c in newer.unchanged if c in older.values}
    if not carried:
        return newer
    return replace(
        newer,
        values={**newer.values, **carried},
        unchanged=tuple(c for c in newer.unchanged if c not in carried),
    )


Raw = bytes  # a Kinesis record's data (ShardBatch has a field named `bytes`)


@dataclass
class DeadLetterNote:
    sequence: str
    key: str
    reason: str


@dataclass
class ShardBatch:
    policy: FlushPolicy
    keys: Callable[[str], tuple[str, ...]]  # table → primary key column names
    clock: Callable[[], float] = time.monotonic
    tables: dict[str, TableBuffer] = field(default_factory=dict)
    control: list[ControlEvent] = field(default_factory=list)
    dead_letters: list[DeadLetterNote] = field(default_factory=list)
    records: int = 0
    bytes: int = 0
    first_sequence: str | None = None
    last_sequence: str | None = None
    first_arrival_ms: int | None = None
    opened_at: float | None = None
    # Records taken as they arrived, decoded together at the flush (batching/resolve.py).
    staged: list[Raw] = field(default_factory=list)
    staged_sequences: list[str] = field(default_factory=list)
    staged_partition_keys: list[str] = field(default_factory=list)
    staged_arrivals: list[int] = field(default_factory=list)
    # Tables the fast path typed whole (events/fast.py), by schema.table.
    typed: dict[str, pa.Table] = field(default_factory=dict)

    def _count(self, first: str, arrival_ms: int, last: str, records: int, size: int) -> None:
        """Account for `records` more Kinesis records, `first` to `last`, whatever becomes of
        them."""
        if self.first_sequence is None:
            self.first_sequence = first
            self.first_arrival_ms = arrival_ms
            self.opened_at = self.clock()
        self.last_sequence = last
        self.records += records
        self.bytes += size

    def note(self, sequence: str, arrival_ms: int, size: int) -> None:
        """Account for one record whose event is added directly (`add`), not staged."""
        self._count(sequence, arrival_ms, sequence, 1, size)

    def stage(
        self,
        raws: list[Raw],
        sequences: list[str],
        partition_keys: list[str],
        arrivals: list[int],
        start: int = 0,
    ) -> int:
        """Keep records[start:] for the flush's decode, in order, until the batch is full (by
        rows or bytes; the record that fills it is kept). Returns where it stopped: the
        processor flushes when that is short of the end, then stages the rest."""
        room = self.policy.max_rows - self.records
        end = min(len(raws), start + max(room, 1))
        sizes = list(accumulate(map(len, raws[start:end]), initial=self.bytes))
        full = bisect_left(sizes, self.policy.max_bytes, lo=1)
        end = min(end, start + full)
        if end <= start:
            return start
        self._count(
            sequences[start], arrivals[start], sequences[end - 1], end - start,
            sizes[end - start] - self.bytes,
        )  # fmt: skip
        self.staged += raws[start:end]
        self.staged_sequences += sequences[start:end]
        self.staged_partition_keys += partition_keys[start:end]
        self.staged_arrivals += arrivals[start:end]
        return end

    def batch_id(self, shard: str) -> str:
        return f"{shard}/{self.first_sequence}-{self.last_sequence}"

    def add(self, e: ChangeEvent) -> None:
        buf = self.tables.get(e.table)
        if buf is None:
            buf = self.tables[e.table] = TableBuffer(self.keys(e.table))
        buf.add(e)

    def due(self) -> str | None:
        """Why the batch must be flushed now, or None."""
        if self.records >= self.policy.max_rows:
            return "rows"
        if self.bytes >= self.policy.max_bytes:
            return "bytes"
        if (
            self.opened_at is not None
            and self.clock() - self.opened_at >= self.policy.max_age_seconds
        ):
            return "age"
        return None

    @property
    def empty(self) -> bool:
        return self.records == 0
