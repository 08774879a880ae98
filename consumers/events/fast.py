"""The decoder's fast path: a batch of DMS records → one typed Arrow table per table, in C.

Why: decoding record by record in Python (orjson → dict → ChangeEvent → columns) costs ~9 µs a
record; bench/consumer.py measures the consumer against the raw orjson parse of the same bytes
and needs >= 0.6 x of it. consumers/events/_dmsjson.c reads the records straight into Arrow
buffers instead, one pass, no Python object per value.

The contract between the two paths (tests/unit/events/test_fast.py holds it):
- decode.py + columns.py + batching/buffer.py are the reference. The C code accepts a record
  only when it can type it exactly as they would (its header lists the conditions); every other
  record (a control record, a dead letter, an unchanged-TOAST update, a primary-key change, a
  value kind the C code does not type) comes back "slow" and goes through the reference.
- A table is all fast or all slow within a batch: when any of its records is slow, or when its
  fast rows do not type in bulk (a value breaks the contract), all its records of the batch go
  through the reference, in arrival order. So last-write-wins, TOAST fill and key-change
  tombstones (buffer.py) only ever see whole tables, and a bad value is attributed to its row
  exactly as before.
- Fast rows are collapsed by key as buffer.py does: the highest ordering version wins, equal
  versions keep the later record. They come out in the arrival order of the winning records
  (buffer.py's come in the order each key was first seen); a batch is a set of rows to the
  loader, which orders by version alone.
- Values a warehouse cannot store (NUL in text, year 0, ...: columns.check_storable) fail the
  bulk typing of both paths alike, so the reference names them as dead letters.
- make fuzz (fuzz/dmsjson.py) and tests/unit/events/test_properties.py hold both paths to this
  over arbitrary input; the C code must never crash, leak or read outside its input.
Without the compiled module (no C compiler at install) every record takes the reference path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consumers.contracts.model import Column, TableContract
from consumers.contracts.types import TOASTABLE, Kind
from consumers.events.columns import UTC_US, arrow_schema, arrow_type, check_strings
from consumers.events.model import DELETE, LOAD

try:
    from consumers.events import _dmsjson  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised only without a C compiler
    _dmsjson = None

log = logging.getLogger(__name__)

# How the C code reads each kind: as an integer of that width, a JSON boolean, a string that
# Arrow then casts or checks (columns.check_strings), or not at all (the reference types it).
# _DECIMAL: numeric(p,s), a string or a JSON number (DMS may send either), kept as its text.
_INT16, _INT32, _INT64, _BOOL, _STRING, _DECIMAL, _REFERENCE = 1, 2, 3, 4, 5, 6, 0
_STRING_KINDS = (
    Kind.TEXT, Kind.NUMERIC, Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ,
    Kind.UUID, Kind.JSON, Kind.JSONB, Kind.ENUM,
)  # fmt: skip
# Not here: INTERVAL, rewritten to one canonical spelling by the reference (events/interval.py).
_C_KIND = {
    Kind.INT2: _INT16,
    Kind.INT4: _INT32,
    Kind.INT8: _INT64,
    Kind.BOOL: _BOOL,
    **dict.fromkeys(_STRING_KINDS, _STRING),
    Kind.DECIMAL: _DECIMAL,
}
_OPERATIONS = pa.array([LOAD, "insert", "update", DELETE], pa.string())  # the C op codes
_DECIMAL_VERSION = pa.decimal128(38, 0)


def available() -> bool:
    return _dmsjson is not None


def _c_kind(col: Column) -> int:
    return _C_KIND.get(col.kind, _REFERENCE)


@dataclass
class FastRows:
    """One table's fast records of a batch: the buffers the C code filled."""

    contract: TableContract
    rows: int
    index: pa.Array  # int32: the position of each row's record in the batch
    ops: bytes  # uint8 codes into _OPERATIONS
    versions: bytes  # decimal128(38, 0)
    commit: tuple[bytes, bytes, bytes]  # string validity, offsets, data
    columns: list[tuple[bytes, bytes, bytes | None]]  # per contract column (see _column)


class FastDecoder:
    def __init__(self, contracts: Sequence[TableContract], enabled: bool = True) -> None:
        self.contracts = list(contracts)
        self.enabled = enabled and _dmsjson is not None
        if enabled and _dmsjson is None:
            log.warning(
                "consumers.events._dmsjson is not built (no C compiler at install?): every "
                "record takes the Python decoder; reinstall with gcc to get the fast path"
            )
        self._plan = [
            (
                c.schema,
                c.name,
                [
                    (
                        col.name,
                        _c_kind(col),
                        int(col.kind in TOASTABLE),
                        c.primary_key.index(col.name) if col.name in c.primary_key else -1,
                    )
                    for col in c.columns
                ],
            )
            for c in self.contracts
        ]

    def split(self, raws: Sequence[bytes]) -> tuple[dict[str, FastRows], list[int]]:
        """The fast records per table (schema.table), and the positions of the slow ones."""
        if not self.enabled or not raws:
            return {}, list(range(len(raws)))
        try:
            status_bytes, outputs = _dmsjson.decode(self._plan, raws)
        except (MemoryError, OverflowError) as e:
            log.warning("fast decode of %d records failed (%s): using the reference", len(raws), e)
            return {}, list(range(len(raws)))
        status = np.frombuffer(status_bytes, np.int32)
        slow = np.flatnonzero(status < 0).tolist()
        tables = {}
        for contract, (rows, index, ops, versions, commit, columns) in zip(
            self.contracts, outputs, strict=True
        ):
            if rows:
                tables[contract.qualified] = FastRows(
                    contract, rows, _array(pa.int32(), rows, None, index), ops, versions, commit,
                    columns,
                )  # fmt: skip
        return tables, slow


def _array(typ: pa.DataType, rows: int, *buffers: bytes | None) -> pa.Array:
    """An Arrow array over buffers the C code filled (validity, [offsets,] values)."""
    return pa.Array.from_buffers(typ, rows, [b if b is None else pa.py_buffer(b) for b in buffers])


def _column(kind: int, typ: pa.DataType, rows: int, parts: tuple[bytes, bytes, Any]) -> pa.Array:
    validity, values, offsets = parts
    if kind in (_STRING, _DECIMAL):
        return _array(pa.string(), rows, validity, offsets, values)
    if kind == _BOOL:
        return _array(pa.uint8(), rows, validity, values).cast(pa.bool_())
    if kind == _REFERENCE:
        return pa.nulls(rows, typ)
    return _array(typ, rows, validity, values)


def _last_writes(keys: list[pa.Array], versions: pa.Array, rows: int) -> pa.Array | None:
    """A mask of each key's last write (the highest version; of equal versions, the later
    record), or None when every row is one."""
    if rows < 2:
        return None
    names = [f"k{i}" for i in range(len(keys))]
    t = pa.table([*keys, pa.array(np.arange(rows, dtype=np.int32))], names=[*names, "i"])
    t = t.append_column("v", versions)
    order = pc.sort_indices(t, sort_keys=[(n, "ascending") for n in [*names, "v", "i"]])
    run_ends = np.ones(rows, dtype=bool)  # sorted row j is the last of its key's run
    run_ends[:-1] = False
    for key in keys:
        s = key.take(order)
        run_ends[:-1] |= pc.not_equal(s.slice(1), s.slice(0, rows - 1)).to_numpy(
            zero_copy_only=False
        )
    if run_ends.all():
        return None
    positions = order.to_numpy()[run_ends]
    mask = np.zeros(rows, dtype=bool)
    mask[positions] = True
    return pa.array(mask)


def typed_table(fast: FastRows, sequences: pa.Array, shard: str, batch_id: str) -> pa.Table | None:
    """The table's batch rows typed against the contract, or None when a value breaks it (the
    reference then types the table record by record and names the bad rows)."""
    contract, rows = fast.contract, fast.rows
    versions = _array(_DECIMAL_VERSION, rows, None, fast.versions)
    columns = [
        _column(_c_kind(c), arrow_type(c), rows, parts)
        for c, parts in zip(contract.columns, fast.columns, strict=True)
    ]
    key = contract.primary_key
    keys = [a for c, a in zip(contract.columns, columns, strict=True) if c.name in key]
    mask = _last_writes(keys, versions, rows)

    def last(a: pa.Array) -> pa.Array:
        return a if mask is None else a.filter(mask)

    ops = last(_OPERATIONS.take(_array(pa.uint8(), rows, None, fast.ops)))
    typed = []
    try:
        for col, arr in zip(contract.columns, columns, strict=True):
            arr = last(arr)
            if arr.type == pa.string():
                arr = check_strings(col, arr)
            if (
                not col.nullable
                and arr.null_count
                and pc.any(pc.and_(pc.is_null(arr), pc.not_equal(ops, DELETE))).as_py()
            ):
                return None
            typed.append(arr)
        commit = last(_array(pa.string(), rows, *fast.commit)).cast(UTC_US)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
        return None
    n = len(ops)
    typed += [
        last(versions),
        ops,
        commit,
        pa.repeat(pa.scalar(shard, pa.string()), n),
        last(sequences.take(fast.index)),
        pa.repeat(pa.scalar(batch_id, pa.string()), n),
        pa.nulls(n, pa.string()),
        pa.nulls(n, pa.string()),
    ]
    return pa.Table.from_arrays(typed, schema=arrow_schema(contract))
