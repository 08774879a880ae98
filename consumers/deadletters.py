"""`cdc deadletters list | show | redrive`: the dead-letter prefix, and re-applying it.

A dead letter (sink/writer.py) is one Kinesis record that could not be applied, kept whole:
`s3://<dead letters>/dead-letters/<shard>/<sequence>.json` with the raw bytes and the reason.
Redrive re-applies them after their cause is fixed (the contract updated: README, "Schema
changes") through the consumers' own path: the raw records are staged per shard in their
original sequence order, decoded (batching/resolve.py: fast path, then the reference decoder),
collapsed by key, written as Parquet + manifest (sink/writer.py) under their own prefix, and
loaded by the normal load plans (warehouse/local.py), or on AWS by the load state machine
started with {"prefix": ...} (like `cdc replay --stage-only`).

Why it cannot overwrite a newer change: the ordering version comes from each record's own DMS
metadata (events/decode.py `version_of`), not from when it is redriven, and the load's version
guard never applies a change older than the row's (or a deleted row's tombstone).

Why a second redrive changes nothing: a redriven dead letter is moved out of `dead-letters/`
into `redriven/<shard>/<sequence>.json` (with the redrive's run and batch) once its batch is
loaded or staged; a redrive batch's id is `redrive-<digest>-<shard>/<first>-<last>`, from the shard
and a digest of the records' sequence numbers, whatever the run, so the ledger skips a batch a
crashed earlier redrive already applied, and two different selections never share an id.

Accounting: every selected record is either redriven (decoded into a batch, or a control
record) or still dead (written again under the redrive's prefix with its new reason, the
original left in place); selected = redriven + still dead. `cdc status` counts the
dead letters pending and redriven.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.batching.buffer import DeadLetterNote, FlushPolicy, ShardBatch
from consumers.batching.resolve import resolve
from consumers.contracts.model import TableContract
from consumers.errors import CdcError
from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder
from consumers.settings import Settings
from consumers.sink.writer import DEAD_LETTER_PREFIX, BatchWriter, manifest_key

log = logging.getLogger("cdc.deadletters")

REDRIVEN_PREFIX = "redriven"
REDRIVE_SHARD = "redrive-"  # batch ids redrive-<shard>/<first>-<last>, apart from live ones


@dataclass
class DeadLetter:
    key: str  # its S3 key
    shard: str
    sequence: str
    partition_key: str
    arrival: str | None
    reason: str
    raw: bytes
    table: str = ""  # schema.table from the record's metadata, when it has one
    operation: str = ""
    timestamp: str = ""  # metadata timestamp (arrival when the document has none)

    @classmethod
    def parse(cls, key: str, body: bytes) -> DeadLetter:
        doc = orjson.loads(body)
        raw = base64.b64decode(doc["data_base64"])
        letter = cls(
            key, doc["shard_id"], doc["sequence_number"], doc.get("partition_key", ""),
            doc.get("approximate_arrival"), doc["reason"], raw,
        )  # fmt: skip
        try:
            meta = orjson.loads(raw).get("metadata") or {}
        except (orjson.JSONDecodeError, AttributeError):
            meta = {}
        if isinstance(meta, dict):
            schema, name = meta.get("schema-name"), meta.get("table-name")
            if isinstance(schema, str) and isinstance(name, str):
                letter.table = f"{schema}.{name}"
            letter.operation = str(meta.get("operation") or "")
            letter.timestamp = str(meta.get("timestamp") or "")
        return letter

    @property
    def when(self) -> datetime | None:
        for text in (self.arrival, self.timestamp):
            if text:
                try:
                    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
                except ValueError:
                    continue
                return t if t.tzinfo else t.replace(tzinfo=UTC)
        return None

    def summary(self) -> dict[str, Any]:
        when = self.when
        return {
            "key": self.key,
            "shard": self.shard,
            "sequence": self.sequence,
            "table": self.table,
            "operation": self.operation,
            "time": when.isoformat() if when else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Filters:
    table: str | None = None  # schema.table or the table's name
    reason: str | None = None  # a substring of the reason, case-insensitive
    shard: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def match(self, d: DeadLetter) -> bool:
        if self.table and self.table not in (d.table, d.table.rsplit(".", 1)[-1]):
            return False
        if self.reason and self.reason.lower() not in d.reason.lower():
            return False
        if self.shard and self.shard != d.shard:
            return False
        when = d.when
        if (self.since or self.until) and when is None:
            return False
        if self.since and when is not None and when < self.since:
            return False
        return not (self.until and when is not None and when >= self.until)


def _keys(s3: Any, bucket: str, prefix: str) -> Iterable[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def find(s3: Any, bucket: str, filters: Filters) -> list[DeadLetter]:
    """The pending dead letters that match, in shard and sequence order."""
    prefix = f"{DEAD_LETTER_PREFIX}/" + (f"{filters.shard}/" if filters.shard else "")
    out = []
    for key in _keys(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        letter = DeadLetter.parse(key, body)
        if filters.match(letter):
            out.append(letter)
    return sorted(out, key=lambda d: (d.shard, int(d.sequence)))


def get(s3: Any, bucket: str, ref: str) -> DeadLetter:
    """One dead letter by its key, or by `<shard>/<sequence>`."""
    key = ref if ref.startswith(f"{DEAD_LETTER_PREFIX}/") else f"{DEAD_LETTER_PREFIX}/{ref}.json"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise CdcError(
            f"no dead letter {ref} in s3://{bucket}/: use a key or <shard>/<sequence> from "
            "`cdc deadletters list`"
        ) from None
    return DeadLetter.parse(key, body)


def counts(s3: Any, bucket: str) -> dict[str, int]:
    """Dead letters pending and redriven (for `cdc status`)."""
    return {
        "pending": sum(1 for _ in _keys(s3, bucket, f"{DEAD_LETTER_PREFIX}/")),
        "redriven": sum(1 for _ in _keys(s3, bucket, f"{REDRIVEN_PREFIX}/")),
    }


@dataclass
class RedriveResult:
    run_id: str
    prefix: str
    selected: int = 0
    redriven: int = 0
    still_dead: list[tuple[DeadLetter, str]] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)  # manifest keys
    rows: dict[str, int] = field(default_factory=dict)  # table → rows written
    loads: int = 0
    rows_staged: int = 0


def stage(
    settings: Settings,
    s3: Any,
    contracts: list[TableContract],
    letters: list[DeadLetter],
    run_id: str | None = None,
) -> tuple[RedriveResult, dict[str, str]]:
    """Decode and write `letters` as batches under `redrives/<run>/`: one batch per shard, in
    sequence order. Returns the result and, per redriven dead letter's key, its batch id."""
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    prefix = f"redrives/{run_id}/"
    result = RedriveResult(run_id, prefix, selected=len(letters))
    writer = BatchWriter(
        s3, settings.batch_bucket, settings.dead_letter_bucket,
        {c.qualified: c for c in contracts}, prefix=prefix,
        binary_encoding=settings.binary_encoding,
    )  # fmt: skip
    decoder = Decoder(contracts, str(settings.contracts_dir), nulls_present=settings.nulls_present)
    fast = FastDecoder(contracts, enabled=settings.fast_path)
    batch_of: dict[str, str] = {}
    by_shard: dict[str, list[DeadLetter]] = {}
    for d in letters:
        by_shard.setdefault(d.shard, []).append(d)
    policy = FlushPolicy(max_rows=len(letters) + 1, max_bytes=1 << 40, max_age_seconds=1e9)
    for shard, group in sorted(by_shard.items()):
        group.sort(key=lambda d: int(d.sequence))
        # Deterministic per set of records: a re-run of the same redrive (after a crash before
        # the move) is skipped by the ledger; another set never shares a batch id.
        digest = hashlib.sha256(" ".join(d.sequence for d in group).encode()).hexdigest()[:12]
        name = f"{REDRIVE_SHARD}{digest}-{shard}"
        batch = ShardBatch(policy, lambda t: writer.contracts[t].primary_key)
        arrivals = [int(w.timestamp() * 1000) if (w := d.when) else 0 for d in group]
        batch.stage(
            [d.raw for d in group], [d.sequence for d in group],
            [d.partition_key for d in group], arrivals,
        )  # fmt: skip
        by_sequence = {d.sequence: d for d in group}

        def dead(i: int, reason: str, batch: ShardBatch = batch, name: str = name) -> None:
            seq = batch.staged_sequences[i]
            key = writer.dead_letter(
                name, seq, batch.staged_partition_keys[i], batch.staged_arrivals[i],
                batch.staged[i], reason,
            )  # fmt: skip
            batch.dead_letters.append(DeadLetterNote(seq, key, reason))

        resolve(batch, decoder, fast, name, dead)
        manifest = writer.write(name, batch, "redrive")
        result.batches.append(
            manifest_key(name, manifest.first_sequence, manifest.last_sequence, prefix)
        )
        for f in manifest.files:
            result.rows[f.table] = result.rows.get(f.table, 0) + f.rows
        refused = {n.sequence: n.reason for n in batch.dead_letters}
        for seq, letter in by_sequence.items():
            if seq in refused:
                result.still_dead.append((letter, refused[seq]))
            else:
                batch_of[letter.key] = manifest.batch_id
    result.redriven = len(batch_of)
    return result, batch_of


def mark_redriven(
    s3: Any, bucket: str, letters: list[DeadLetter], batch_of: dict[str, str], result: RedriveResult
) -> None:
    """Move each redriven dead letter to redriven/ (written first, then deleted). A crash in
    between leaves it pending too; redriving it again changes nothing: in the same batch the
    ledger skips it, in another the version guard does (a stored version equal to the
    change's is stale: warehouse/plan.py)."""
    for d in letters:
        batch_id = batch_of.get(d.key)
        if batch_id is None:
            continue
        try:
            body = orjson.loads(s3.get_object(Bucket=bucket, Key=d.key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            continue  # moved by an earlier redrive of the same records
        body["redrive"] = {"run": result.run_id, "prefix": result.prefix, "batch_id": batch_id}
        target = REDRIVEN_PREFIX + d.key[len(DEAD_LETTER_PREFIX) :]
        s3.put_object(
            Bucket=bucket, Key=target, ContentType="application/json",
            Body=orjson.dumps(body, option=orjson.OPT_INDENT_2),
        )  # fmt: skip
        s3.delete_object(Bucket=bucket, Key=d.key)


def redrive(
    settings: Settings,
    s3: Any,
    contracts: list[TableContract],
    letters: list[DeadLetter],
    warehouse_dsn: str | None,
) -> RedriveResult:
    """Stage `letters` as batches and load them (or, without a warehouse DSN, leave them for the
    load state machine), then move the redriven ones out of the dead-letter prefix."""
    warehouse = None
    if warehouse_dsn is not None:
        from consumers.warehouse.local import LocalWarehouse

        # First: a warehouse that does not answer stops the redrive before anything is
        # written, and the tables follow the contracts (warehouse/evolve.py) before the load.
        warehouse = LocalWarehouse(warehouse_dsn, contracts, s3, settings.batch_bucket)
        warehouse.bootstrap()
    result, batch_of = stage(settings, s3, contracts, letters)
    if warehouse is not None and result.batches:
        warehouse.prefix = result.prefix
        loads = warehouse.run_once(retry_now=True)
        result.loads = len(loads)
        result.rows_staged = sum(load.staged_rows for load in loads)
        if warehouse.failures or warehouse.quarantined:
            problems = [f.describe() for f in warehouse.failures.values()]
            problems += [f"{x.table} batch {x.batch_id} quarantined" for x in warehouse.quarantined]
            raise CdcError(
                f"redrive {result.run_id}: the load failed ({'; '.join(problems)}): the dead "
                "letters stay where they are: fix the cause and redrive again"
            )
    mark_redriven(s3, settings.dead_letter_bucket, letters, batch_of, result)
    return result
