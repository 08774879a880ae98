"""One batch resolved both ways, fast path on and off: what lands in S3 (Parquet rows, dead
letters with their reasons, control records, counts). test_fast.py, test_properties.py and the
fuzzer (fuzz/dmsjson.py) require the two to be identical."""

from __future__ import annotations

import io
import math
from typing import Any

import pyarrow.parquet as pq

from consumers.batching.buffer import FlushPolicy, ShardBatch
from consumers.batching.resolve import resolve
from consumers.contracts.model import TableContract
from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder
from consumers.sink.writer import BatchWriter
from tests.fakes import FakeS3

SHARD = "shardId-000000000007"
FIRST_SEQUENCE = 1000
PARTS = ("counts", "dead", "late_dead", "control", "files", "tables")


class Paths:
    """The decoders for a set of contracts, built once (the fuzzer calls `same` per input)."""

    def __init__(self, contracts: list[TableContract]) -> None:
        self.contracts = contracts
        self.reference = Decoder(contracts)
        self.fast = FastDecoder(contracts)
        self.off = FastDecoder(contracts, enabled=False)
        self.by_name = {c.qualified: c for c in contracts}
        self.key_of = {c.qualified: c.primary_key for c in contracts}.__getitem__

    def resolved(self, raws: list[bytes], fast: bool) -> dict[str, Any]:
        """The batch resolved and written with the fast path on or off: what landed in S3."""
        batch = ShardBatch(FlushPolicy(max_rows=10**6, max_bytes=1 << 40), self.key_of)
        sequences = [str(FIRST_SEQUENCE + i) for i in range(len(raws))]
        batch.stage(raws, sequences, ["pk"] * len(raws), [1_764_000_000_000] * len(raws))
        s3 = FakeS3()
        dead: list[tuple[str, str]] = []

        def dead_letter(i: int, reason: str) -> None:
            dead.append((sequences[i], reason))

        decoder = self.fast if fast else self.off
        counts = resolve(batch, self.reference, decoder, SHARD, dead_letter)
        typed = sorted(batch.typed)
        manifest = BatchWriter(s3, "b", "d", self.by_name).write(SHARD, batch, "rows")
        tables = {}
        for f in manifest.files:
            rows = [
                {k: _comparable(v) for k, v in row.items()}
                for row in pq.read_table(io.BytesIO(s3.objects[("b", f.key)])).to_pylist()
            ]
            key = self.by_name[f.table].primary_key
            tables[f.table] = sorted(rows, key=lambda r: (*(repr(r[k]) for k in key), r["_cdc_op"]))
        files = [
            (f.table, f.rows, f.min_version, f.max_version, f.operations) for f in manifest.files
        ]
        return {
            "counts": counts,
            "dead": dead,
            "late_dead": [(d["sequence"], d["reason"]) for d in manifest.dead_letters[len(dead) :]],
            "control": manifest.control,
            "files": files,
            "tables": tables,
            "typed": typed,
        }

    def same(self, raws: list[bytes]) -> dict[str, Any]:
        """The batch resolved both ways; AssertionError naming the part that differs."""
        fast, reference = self.resolved(raws, True), self.resolved(raws, False)
        assert reference["typed"] == []
        for part in PARTS:
            assert fast[part] == reference[part], (part, fast[part], reference[part])
        return fast


def _comparable(v: Any) -> Any:
    """NaN equals NaN here: a float column's NaN is a value like any other."""
    return "NaN" if isinstance(v, float) and math.isnan(v) else v


def outcome(result: dict[str, Any], position: int) -> Any:
    """What became of the batch's record at `position`: its dead-letter reason, or its rows
    (a key change writes two), without the columns that name the batch or the sequence."""
    sequence = str(FIRST_SEQUENCE + position)
    for seq, reason in result["dead"] + result["late_dead"]:
        if seq == sequence:
            return ("dead", reason)
    rows = [
        {k: v for k, v in row.items() if k not in ("_cdc_sequence", "_cdc_batch")}
        for rows in result["tables"].values()
        for row in rows
        if row["_cdc_sequence"] == sequence
    ]
    controls = [
        {k: v for k, v in c.items() if k != "sequence_number"}
        for c in result["control"]
        if c.get("sequence_number") == sequence
    ]
    return ("rows", sorted(rows, key=repr), controls)
