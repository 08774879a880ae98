"""PutRecords to the stream, retrying failed entries until every record is accepted.

PutRecords accepts up to 500 records and 5 MiB per call, 1 MiB per record (data + key), and may
fail some entries (ProvisionedThroughputExceededException, InternalFailure) while accepting the
rest. Failed entries are resent with backoff; whole-call errors (throttling, connection resets)
are retried by botocore's standard retry mode. Resent entries can land after entries that were
put later: consumers order by the DMS stream position, never by sequence number (ARCHITECTURE).

Puts run on a sender thread of the sink's own, one call at a time and in the order the batches
were filled, with at most IN_FLIGHT full batches waiting behind it: the capture decodes and
renders the next batch while the last is on the wire. With the capture putting in its own
thread, the capture thread was the first stage to saturate as the offered rate rose
(bench/throughput.py --quick --profile: at 6,000 and 8,000 changes/s alike it used 0.28 of a core
and spent the rest of its time waiting for PutRecords, while the machine still had a sixth of
its cores idle). `flush()` returns once everything added so far has been accepted: the capture
acknowledges a WAL position to PostgreSQL only after a flush, so a put that fails for good
(raised again by the next `add()` or `flush()`) loses nothing: the batches behind it are not
sent, and a restarted capture sends them again from the last acknowledged position.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from typing import Any, Protocol

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from consumers.capture.messages import Record
from consumers.errors import TerminalError, TransientError

log = logging.getLogger(__name__)

MAX_RECORDS = 500
MAX_REQUEST_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
IN_FLIGHT = 2  # full batches waiting for the sender: ~2 x 500 records of memory, bounded


class _SomeFailed(Exception):
    pass


class Sink(Protocol):
    last_put_seconds: float

    def add(self, record: Record) -> None: ...
    def flush(self) -> None: ...


class KinesisSink:
    def __init__(self, client: Any, stream: str, *, attempts: int = 12) -> None:
        self.client = client
        self.stream = stream
        self.attempts = attempts
        self.buffer: list[Record] = []
        self.buffer_bytes = 0
        self.put = Counter[str]()
        self.last_put_seconds = 0.0  # duration of the latest PutRecords call
        # shard → highest sequence number Kinesis accepted from this sink: what a drain waits
        # for the consumers to checkpoint through (Pipeline.drain).
        self.last_sequence: dict[str, int] = {}
        self._batches: queue.Queue[list[Record]] = queue.Queue(maxsize=IN_FLIGHT)
        self._sender: threading.Thread | None = None
        self._failure: BaseException | None = None

    def check_stream(self) -> None:
        """Fail fast, before any slot is created, if the stream is missing or not writable."""
        try:
            summary = self.client.describe_stream_summary(StreamName=self.stream)
        except self.client.exceptions.ResourceNotFoundException:
            raise TerminalError(
                f"Kinesis stream {self.stream} does not exist: create it (`cdc local up` "
                "creates the local one) or pass --stream"
            ) from None
        status = summary["StreamDescriptionSummary"]["StreamStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise TransientError(f"Kinesis stream {self.stream} is {status}: retry once ACTIVE")

    def add(self, record: Record) -> None:
        size = len(record.data) + len(record.partition_key.encode())
        if size > MAX_RECORD_BYTES:
            raise TerminalError(
                f"a {record.table} change is {size} bytes, over Kinesis's 1 MiB record limit "
                f"(key {record.partition_key}): keep such rows out of the contract's columns or "
                "lower LobMaxSize in infra/dms/task-settings.json"
            )
        if len(self.buffer) >= MAX_RECORDS or self.buffer_bytes + size > MAX_REQUEST_BYTES:
            self._hand_off()
        self.buffer.append(record)
        self.buffer_bytes += size

    def flush(self) -> None:
        """Return once every record added so far has been accepted by Kinesis."""
        if self.buffer:
            self._hand_off()
        self._batches.join()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _hand_off(self) -> None:
        self._raise_failure()
        batch, self.buffer, self.buffer_bytes = self.buffer, [], 0
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_loop, name="kinesis-put", daemon=True)
            self._sender.start()
        self._batches.put(batch)  # waits while IN_FLIGHT batches are queued: backpressure

    def sender_threads(self) -> list[threading.Thread]:
        """The thread that puts (for per-stage CPU accounting in bench/throughput.py)."""
        return [self._sender] if self._sender is not None else []

    def _send_loop(self) -> None:
        while True:
            batch = self._batches.get()
            try:
                if self._failure is None:  # after a failure nothing more is sent (see above)
                    self._send(batch)
            except BaseException as e:  # handed to the capture thread by add() or flush()
                self._failure = e
            finally:
                self._batches.task_done()

    def _send(self, batch: list[Record]) -> None:
        pending = batch
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(_SomeFailed),
                wait=wait_exponential(multiplier=0.05, max=2),
                stop=stop_after_attempt(self.attempts),
            ):
                with attempt:
                    pending = self._put(pending)
                    if pending:
                        raise _SomeFailed
        except RetryError:
            raise TransientError(
                f"Kinesis stream {self.stream} kept rejecting {len(pending)} records after "
                f"{self.attempts} attempts: check the stream's shard capacity and retry"
            ) from None

    def _put(self, records: list[Record]) -> list[Record]:
        """Put `records`; returns the entries Kinesis did not accept."""
        began = time.monotonic()
        resp = self.client.put_records(
            StreamName=self.stream,
            Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in records],
        )
        self.last_put_seconds = time.monotonic() - began
        failed = [r for r, e in zip(records, resp["Records"], strict=True) if "ErrorCode" in e]
        for entry in resp["Records"]:
            if "ErrorCode" not in entry:
                shard, seq = entry["ShardId"], int(entry["SequenceNumber"])
                if seq > self.last_sequence.get(shard, -1):
                    self.last_sequence[shard] = seq
        self.put.update(r.table for r in records)
        self.put.subtract(r.table for r in failed)
        if failed:
            log.warning("put_records: %d of %d entries failed; retrying", len(failed), len(records))
        return failed
