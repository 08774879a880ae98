"""The KCL record processor (amazon-kclpy v3 interface), run by the MultiLangDaemon on AWS and by
`cdc consume` locally. stdout is the MultiLang protocol channel: every log line goes to stderr.

The shard is checkpointed only after everything the checkpoint covers is durable in S3 (the
batch's Parquet files, its dead letters, then its manifest). Unlike the KCL sample:
- no timer checkpoints: a checkpoint follows a flush, never a clock;
- no swallowed batch failure: amazon-kclpy's KCLProcess logs and ignores exceptions raised by
  a processor, so a flush that cannot be made durable exits the process instead (SystemExit
  passes through). The daemon restarts it, and the shard is re-read from its last checkpoint.

Records are staged as they arrive and decoded together at the flush (batching/resolve.py, the
C fast path first): `stats.received` counts a record on arrival, `batched` or `dead_lettered`
once it is decoded, so received = batched + dead-lettered after every flush.

Checkpoint errors are handled by name (KCL MultiLang `error` field): ThrottlingException and
KinesisClientLibDependencyException are retried with backoff; ShutdownException means the lease
is gone (stop checkpointing; the next owner re-reads); InvalidStateException is fatal.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor

from consumers import aws, logs
from consumers.batching.buffer import DeadLetterNote, FlushPolicy, ShardBatch
from consumers.batching.resolve import resolve
from consumers.contracts.model import load_contracts
from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder
from consumers.settings import Settings
from consumers.sink.writer import BatchWriter

log = logging.getLogger("consumers.kcl.processor")

RETRYABLE_CHECKPOINT_ERRORS = {"ThrottlingException", "KinesisClientLibDependencyException"}


@dataclass
class ProcessorStats:
    received: int = 0
    batched: int = 0
    dead_lettered: int = 0
    batches: int = 0
    rows_written: Counter[str] | None = None

    def __post_init__(self) -> None:
        self.rows_written = Counter()


F = TypeVar("F", bound=Callable[..., None])


def _fatal_on_error(callback: F) -> F:
    """KCLProcess logs and ignores a processor's exceptions and then reports the action done,
    which would let a later checkpoint cover records never made durable. Any failure in a
    callback therefore ends the process; the shard resumes from its last checkpoint."""

    @functools.wraps(callback)
    def guarded(self: RecordProcessor, *args: Any) -> None:
        try:
            callback(self, *args)
        except SystemExit:
            raise
        except Exception as e:
            log.critical("%s failed shard=%s: %s", callback.__name__, self.shard, e, exc_info=True)
            sys.exit(3)

    return guarded  # type: ignore[return-value]


class RecordProcessor(processor.RecordProcessorBase):  # type: ignore[misc]
    def __init__(
        self,
        decoder: Decoder,
        writer: BatchWriter,
        policy: FlushPolicy,
        *,
        checkpoint_attempts: int = 6,
        backoff_seconds: float = 0.2,
        fast: FastDecoder | None = None,
    ) -> None:
        self.decoder = decoder
        self.fast = fast or FastDecoder(list(writer.contracts.values()))
        self.writer = writer
        self.policy = policy
        self.checkpoint_attempts = checkpoint_attempts
        self.backoff = backoff_seconds
        self.shard = ""
        self.stats = ProcessorStats()
        self._flushes = 0
        self.lease_held = True
        self.batch = self._new_batch()

    def _new_batch(self) -> ShardBatch:
        return ShardBatch(self.policy, lambda t: self.writer.contracts[t].primary_key)

    # ------------------------------------------------------------------ KCL callbacks

    @_fatal_on_error
    def initialize(self, initialize_input: Any) -> None:
        self.shard = initialize_input.shard_id
        log.info("initialize shard=%s from=%s", self.shard, initialize_input.sequence_number)

    @_fatal_on_error
    def process_records(self, process_records_input: Any) -> None:
        checkpointer = process_records_input.checkpointer
        records = process_records_input.records
        self.stats.received += len(records)
        raws = [r.binary_data for r in records]
        sequences = [r.sequence_number for r in records]
        keys = [r.partition_key for r in records]
        arrivals = [r.timestamp_millis for r in records]
        staged = 0
        while staged < len(records):
            staged = self.batch.stage(raws, sequences, keys, arrivals, staged)
            if staged < len(records) or self.batch.due():
                self._flush(self.batch.due() or "rows", checkpointer)
        if reason := self.batch.due():  # age, on an empty poll
            self._flush(reason, checkpointer)

    @_fatal_on_error
    def lease_lost(self, lease_lost_input: Any) -> None:
        # Checkpointing is no longer possible; the next owner re-reads what was buffered.
        log.warning(
            "lease lost shard=%s: dropping %d buffered records", self.shard, self.batch.records
        )
        self.lease_held = False
        self.batch = self._new_batch()

    @_fatal_on_error
    def shard_ended(self, shard_ended_input: Any) -> None:
        self._flush("shard-end", None)
        self._checkpoint(shard_ended_input.checkpointer, None)  # SHARD_END: children may start

    @_fatal_on_error
    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        self._flush("shutdown", shutdown_requested_input.checkpointer)

    # ------------------------------------------------------------------ work

    def _resolve(self) -> None:
        """Decode the staged records (batching/resolve.py); dead letters go to S3 now, before
        the manifest that lists them."""
        batch = self.batch

        def dead_letter(i: int, reason: str) -> None:
            seq = batch.staged_sequences[i]
            key = self.writer.dead_letter(
                self.shard, seq, batch.staged_partition_keys[i], batch.staged_arrivals[i],
                batch.staged[i], reason,
            )  # fmt: skip
            batch.dead_letters.append(DeadLetterNote(seq, key, reason))
            log.warning("dead letter shard=%s seq=%s: %s", self.shard, seq, reason)

        batched, dead = resolve(batch, self.decoder, self.fast, self.shard, dead_letter)
        self.stats.batched += batched
        self.stats.dead_lettered += dead

    def _flush(self, reason: str, checkpointer: Any | None) -> None:
        batch = self.batch
        if batch.empty:
            return
        last = batch.last_sequence
        self._resolve()
        dead_before = len(batch.dead_letters)
        manifest = self.writer.write(self.shard, batch, reason)  # raises: see _fatal_on_error
        _fault_point_after_write()
        late = len(batch.dead_letters) - dead_before  # rows refused at typing time
        self.stats.batched -= late
        self.stats.dead_lettered += late
        self.stats.batches += 1
        assert self.stats.rows_written is not None  # nosec B101  # narrows a type for mypy; it checks no input
        for f in manifest.files:
            self.stats.rows_written[f.table] += f.rows
        log.info(
            "flushed %s",
            _json(
                shard=self.shard,
                reason=reason,
                records=batch.records,
                rows={f.table: f.rows for f in manifest.files},
                control=len(manifest.control),
                dead_letters=len(manifest.dead_letters),
                first=manifest.first_sequence,
                last=manifest.last_sequence,
                received=self.stats.received,
                batched=self.stats.batched,
                dead_lettered=self.stats.dead_lettered,
            ),
        )
        self.batch = self._new_batch()
        self._flushes += 1
        gc.collect(2 if self._flushes % FULL_COLLECT_EVERY == 0 else 1)  # see tune_gc
        if checkpointer is not None:
            self._checkpoint(checkpointer, last)

    def _checkpoint(self, checkpointer: Any, sequence: str | None) -> None:
        if not self.lease_held:
            return
        for attempt in range(1, self.checkpoint_attempts + 1):
            try:
                checkpointer.checkpoint(sequence)
                return
            except kcl.CheckpointError as e:
                name = str(e.value)
                if name == "ShutdownException":
                    log.warning("checkpoint: lease gone shard=%s; not checkpointing", self.shard)
                    self.lease_held = False
                    return
                if name == "InvalidStateException":
                    log.critical("checkpoint: InvalidStateException shard=%s; exiting", self.shard)
                    sys.exit(4)
                if name not in RETRYABLE_CHECKPOINT_ERRORS or attempt == self.checkpoint_attempts:
                    log.critical("checkpoint failed shard=%s: %s; exiting", self.shard, name)
                    sys.exit(4)
                log.warning("checkpoint %s shard=%s; retry %d", name, self.shard, attempt)
                time.sleep(self.backoff * 2 ** (attempt - 1))


def _fault_point_after_write() -> None:
    """Test hook: CDC_FAULT_EXIT_AFTER_WRITE=<marker file> makes the first process that gets
    here die like kill -9 (no cleanup, no checkpoint) right after a batch is in S3."""
    marker = os.environ.get("CDC_FAULT_EXIT_AFTER_WRITE")
    if marker and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(137)


FULL_COLLECT_EVERY = 50


def _json(**fields: Any) -> str:
    import orjson

    return orjson.dumps(fields).decode()


def build(settings: Settings | None = None) -> RecordProcessor:
    """The processor as configured by the environment (CDC_* variables)."""
    s = settings or Settings()
    contracts = load_contracts(s.contracts_dir)
    endpoint = os.environ.get("CDC_AWS_ENDPOINT_URL") or None
    s3 = aws.client("s3", endpoint_url=endpoint, region=s.region)
    writer = BatchWriter(
        s3, s.batch_bucket, s.dead_letter_bucket, {c.qualified: c for c in contracts},
        prefix=os.environ.get("CDC_BATCH_PREFIX", ""), binary_encoding=s.binary_encoding,
    )  # fmt: skip
    return RecordProcessor(
        Decoder(contracts, str(Path(s.contracts_dir)), nulls_present=s.nulls_present),
        writer, FlushPolicy.from_env(),
        fast=FastDecoder(contracts, enabled=s.fast_path),
    )  # fmt: skip


def tune_gc() -> None:
    """A batch held as parsed records (the reference path) has many container objects and no
    reference cycles; the cyclic collector would rescan them over and over as the batch grows
    (a third of the decode time, measured). It is switched off; each flush collects the young
    generations (what was allocated since the last flush: cheap) and every FULL_COLLECT_EVERY-th
    flush all of them, so cycles (a caught exception's traceback, say) never pile up."""
    gc.disable()
    gc.freeze()


def main() -> None:
    logs.configure(logging.INFO)
    tune_gc()
    kcl.KCLProcess(build()).run()


if __name__ == "__main__":
    main()
