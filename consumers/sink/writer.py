"""A flushed batch on S3: one zstd Parquet file per table, dead letters, then the manifest.

Keys are a function of the batch's records only, so a retried flush rewrites the same objects:

    s3://<batches>/data/<schema.table>/date=<YYYY-MM-DD>/<shard>/<first seq>-<last seq>.parquet
    s3://<batches>/manifests/<shard>/<first seq>-<last seq>.json          (written last)
    s3://<dead letters>/dead-letters/<shard>/<seq>.json

`date` is the UTC arrival date of the batch's first record. The manifest is the unit the loader
consumes: it lists the files with their row counts and version ranges, the control records, and
the dead letters of the batch's sequence range.
"""

from __future__ import annotations

import base64
import io
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consumers.batching.buffer import DeadLetterNote, ShardBatch
from consumers.contracts.model import TableContract
from consumers.contracts.types import Kind
from consumers.events.columns import to_table
from consumers.events.model import ChangeEvent
from consumers.sink.s3 import put_durably

MANIFEST_PREFIX = "manifests"
DATA_PREFIX = "data"
DEAD_LETTER_PREFIX = "dead-letters"


@dataclass(frozen=True)
class BatchFile:
    table: str
    key: str
    rows: int
    bytes: int
    min_version: str
    max_version: str
    operations: dict[str, int]


@dataclass
class BatchManifest:
    batch_id: str
    shard_id: str
    first_sequence: str
    last_sequence: str
    records: int
    flush_reason: str
    first_arrival: str
    files: list[BatchFile] = field(default_factory=list)
    control: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, str]] = field(default_factory=list)
    format: str = "totes-cdc/batch-manifest/v1"

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> BatchManifest:
        doc = orjson.loads(raw)
        doc["files"] = [BatchFile(**f) for f in doc["files"]]
        return cls(**doc)


def manifest_key(shard: str, first: str, last: str, prefix: str = "") -> str:
    return f"{prefix}{MANIFEST_PREFIX}/{shard}/{first}-{last}.json"


def dead_letter_document(
    shard: str, sequence: str, partition_key: str, arrival_ms: int | None, raw: bytes, reason: str
) -> bytes:
    return orjson.dumps(
        {
            "shard_id": shard,
            "sequence_number": sequence,
            "partition_key": partition_key,
            "approximate_arrival": (
                datetime.fromtimestamp(arrival_ms / 1000, UTC).isoformat() if arrival_ms else None
            ),
            "reason": reason,
            "data_base64": base64.b64encode(raw).decode(),
        },
        option=orjson.OPT_INDENT_2,
    )


class BatchWriter:
    def __init__(
        self,
        s3: Any,
        batch_bucket: str,
        dead_letter_bucket: str,
        contracts: dict[str, TableContract],
        *,
        attempts: int = 8,
        prefix: str = "",
        binary_encoding: str = "hex",
    ) -> None:
        self.prefix = prefix  # e.g. "replays/<run>/": a replay's objects stay apart
        self.s3 = s3
        self.batch_bucket = batch_bucket
        self.dead_letter_bucket = dead_letter_bucket
        self.contracts = contracts
        self.attempts = attempts
        self.binary_encoding = binary_encoding  # Settings.binary_encoding

    def dead_letter(
        self,
        shard: str,
        sequence: str,
        partition_key: str,
        arrival_ms: int | None,
        raw: bytes,
        reason: str,
    ) -> str:
        key = f"{self.prefix}{DEAD_LETTER_PREFIX}/{shard}/{sequence}.json"
        body = dead_letter_document(shard, sequence, partition_key, arrival_ms, raw, reason)
        put_durably(
            self.s3, self.dead_letter_bucket, key, body,
            attempts=self.attempts, content_type="application/json",
        )  # fmt: skip
        return key

    def write(self, shard: str, batch: ShardBatch, reason: str) -> BatchManifest:
        assert batch.first_sequence and batch.last_sequence and batch.first_arrival_ms is not None  # nosec B101  # narrows a type for mypy; it checks no input
        first, last = batch.first_sequence, batch.last_sequence
        day = datetime.fromtimestamp(batch.first_arrival_ms / 1000, UTC).date().isoformat()
        manifest = BatchManifest(
            batch_id=batch.batch_id(shard),
            shard_id=shard,
            first_sequence=first,
            last_sequence=last,
            records=batch.records,
            flush_reason=reason,
            first_arrival=datetime.fromtimestamp(batch.first_arrival_ms / 1000, UTC).isoformat(),
        )
        for table in sorted(batch.tables.keys() | batch.typed.keys()):
            if table in batch.typed:  # typed whole by the fast path (events/fast.py)
                arrow = batch.typed[table]
            else:
                events = list(batch.tables[table].rows.values())
                contract = self.contracts[table]
                arrow, bad = to_table(
                    contract, events, shard, manifest.batch_id, self.binary_encoding
                )
                dead = [(events[i], why) for i, why in sorted(bad.items())]
                if dead and contract.keyless:
                    # A keyless update is two rows of one record (old row out, new row in): a
                    # bad value in either dead-letters the record once, and neither half loads.
                    poisoned = {e.sequence for e, _ in dead}
                    dead = list({e.sequence: (e, why) for e, why in reversed(dead)}.values())
                    kept = [e for e in events if e.sequence not in poisoned]
                    # (none kept: an empty table; to_table needs at least one event)
                    arrow = (
                        to_table(contract, kept, shard, manifest.batch_id, self.binary_encoding)[0]
                        if kept
                        else arrow.schema.empty_table()
                    )
                for event, why in dead:
                    self._dead_event(shard, event, why, batch)
            if arrow.num_rows == 0:
                continue
            key = f"{self.prefix}{DATA_PREFIX}/{table}/date={day}/{shard}/{first}-{last}.parquet"
            body = _parquet(arrow, self.contracts[table])
            put_durably(self.s3, self.batch_bucket, key, body, attempts=self.attempts)
            versions = arrow.column("_cdc_version")
            ops = pc.value_counts(arrow.column("_cdc_op")).to_pylist()
            manifest.files.append(
                BatchFile(
                    table=table,
                    key=key,
                    rows=arrow.num_rows,
                    bytes=len(body),
                    min_version=str(pc.min(versions).as_py()),
                    max_version=str(pc.max(versions).as_py()),
                    operations={o["values"]: o["counts"] for o in ops},
                )
            )
        manifest.control = [
            {"table": c.table, "operation": c.operation, "sequence_number": c.sequence, **c.detail}
            for c in batch.control
        ]
        manifest.dead_letters = [asdict(d) for d in batch.dead_letters]
        put_durably(
            self.s3, self.batch_bucket, manifest_key(shard, first, last, self.prefix),
            manifest.to_json(),
            attempts=self.attempts, content_type="application/json",
        )  # fmt: skip
        return manifest

    def _dead_event(self, shard: str, e: ChangeEvent, reason: str, batch: ShardBatch) -> None:
        key = self.dead_letter(shard, e.sequence, ".".join(map(str, e.key)), None, e.raw, reason)
        batch.dead_letters.append(DeadLetterNote(e.sequence, key, reason))


# Dictionary encoding only where values repeat by nature: it made every batch of the bench's
# totesys mix bigger (zstd already folds repeats) and its Parquet encoding ~1.7x slower.
DICTIONARY_METADATA = ("_cdc_op", "_cdc_shard", "_cdc_batch")


def _parquet(table: pa.Table, contract: TableContract) -> bytes:
    enums = [c.warehouse_name for c in contract.columns if c.kind is Kind.ENUM]
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=[*enums, *DICTIONARY_METADATA])
    return buf.getvalue()
