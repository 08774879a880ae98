"""Decode a batch's staged records at the flush: the fast path (events/fast.py) types whole
tables in C; every other record goes through the reference decoder (events/decode.py) into the
per-key buffers (buffer.py), in arrival order. events/fast.py states the contract between them.

Decoding at the flush rather than per record costs nothing in freshness (nothing leaves the
batch before the flush) and holds only the raw bytes until then, which the dead-letter path
needs anyway.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from consumers.batching.buffer import ShardBatch
from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder, typed_table
from consumers.events.model import ChangeEvent, DeadLetter


def resolve(
    batch: ShardBatch,
    decoder: Decoder,
    fast: FastDecoder,
    shard: str,
    dead_letter: Callable[[int, str], None],
) -> tuple[int, int]:
    """Decode every staged record of `batch`; (batched, dead-lettered) records. `dead_letter`
    gets the staged position and the reason of each record that cannot be decoded."""
    raws, sequences = batch.staged, batch.staged_sequences
    if not raws:
        return 0, 0
    tables, slow = fast.split(raws)
    events: dict[int, ChangeEvent] = {}
    demoted: set[str] = set()
    dead = 0

    def reference(i: int) -> None:
        nonlocal dead
        try:
            event = decoder.decode(raws[i], sequences[i])
        except DeadLetter as e:
            dead_letter(i, str(e))
            dead += 1
            return
        if isinstance(event, ChangeEvent):
            events[i] = event
            demoted.add(event.table)
        else:
            batch.control.append(event)

    for i in slow:
        reference(i)
    sequence_array: pa.Array | None = None
    for name, rows in tables.items():
        # A table without a primary key has no key to collapse by: the reference keeps each
        # change (buffer.py), the fast path would keep one row.
        if name not in demoted and rows.contract.primary_key:
            if sequence_array is None:
                sequence_array = pa.array(sequences, pa.string())
            table = typed_table(rows, sequence_array, shard, batch.batch_id(shard))
            if table is not None:
                batch.typed[name] = table
                continue
        for i in rows.index.to_pylist():
            reference(i)
    for i in sorted(events):
        batch.add(events[i])
    received = len(raws)
    batch.staged, batch.staged_sequences = [], []
    batch.staged_partition_keys, batch.staged_arrivals = [], []
    return received - dead, dead
