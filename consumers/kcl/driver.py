"""`cdc consume`: a local stand-in for the KCL MultiLangDaemon (whose jars cannot be fetched
here). It does the daemon's job with the same processor and the same protocol:

- discovers the stream's shards, and child shards after a split or merge; a child starts only
  when all its parents have been checkpointed at SHARD_END (parents before children);
- reads each shard with GetRecords from TRIM_HORIZON, LATEST, AT_TIMESTAMP or its checkpoint;
- runs one processor subprocess per shard and speaks the MultiLang protocol to it: initialize,
  processRecords (base64 data, millisBehindLatest; also with an empty list, as with
  callProcessRecordsEvenForEmptyRecordList=true, so the processor can flush by age),
  checkpoint and its reply, shardEnded, shutdownRequested, leaseLost;
- keeps checkpoints in a DynamoDB lease table named after the application, keyed like KCL's.

A processor that exits is restarted from the shard's last checkpoint (what the daemon does),
so a kill -9 of a processor loses nothing.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import queue
import subprocess  # nosec B404  # runs fixed argument lists, never a shell
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import orjson

from consumers.kcl.leases import SHARD_END, LeaseLost, LeaseTable
from consumers.settings import Settings
from consumers.sink.writer import manifest_key

log = logging.getLogger("consumers.kcl.driver")

INITIAL_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")


def processor_env(
    settings: Settings, endpoint_url: str | None, region: str, prefix: str = ""
) -> dict[str, str]:
    """What a processor subprocess needs to know, as CDC_* variables."""
    env = {
        "CDC_BATCH_PREFIX": prefix,
        "CDC_CONTRACTS": str(settings.contracts_dir),
        "CDC_BATCH_BUCKET": settings.batch_bucket,
        "CDC_DEAD_LETTER_BUCKET": settings.dead_letter_bucket,
        "CDC_REGION": region,
        "CDC_BINARY_ENCODING": settings.binary_encoding,
        "CDC_NULLS_PRESENT": "1" if settings.nulls_present else "0",
    }
    if endpoint_url:
        env["CDC_AWS_ENDPOINT_URL"] = endpoint_url
    return env


class ProcessorDied(Exception):
    pass


@dataclass
class DriverConfig:
    stream: str
    application: str
    initial_position: str = "TRIM_HORIZON"
    at_timestamp: datetime | None = None
    poll_seconds: float = 0.2
    max_records: int = 10_000
    shard_sync_seconds: float = 1.0
    processor_command: list[str] = field(
        default_factory=lambda: [sys.executable, "-m", "consumers.kcl.processor"]
    )
    processor_env: dict[str, str] = field(default_factory=dict)


@dataclass
class ShardView:
    """What the live view shows per shard."""

    millis_behind: int | None = None
    records: int = 0
    batches: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    batched: int = 0  # with dead_letters: the processor's own received = batched + dead-lettered
    checkpoint: str | None = None
    last_delivered: str | None = None
    idle: bool = False
    # Everything that arrived in the shard before `read_through_time` (epoch seconds) has been
    # delivered, up to sequence number `read_through_seq`: from a record's arrival time (a
    # shard is in arrival order), or from the start of a poll that found nothing behind.
    read_through_time: float = 0.0
    read_through_seq: str | None = None
    restarts: int = 0
    finished: bool = False


class ShardWorker(threading.Thread):
    def __init__(self, driver: Driver, shard: str, parents: list[str]) -> None:
        super().__init__(name=f"shard-{shard}", daemon=True)
        self.driver = driver
        self.shard = shard
        self.parents = parents
        self.view = driver.views.setdefault(shard, ShardView())
        self.proc: subprocess.Popen[bytes] | None = None
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ protocol

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None  # nosec B101  # narrows a type for mypy; it checks no input
        try:
            self.proc.stdin.write(orjson.dumps(message) + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ProcessorDied(self.shard) from None

    def _exchange(self, message: dict[str, Any], *, at_end: bool = False) -> None:
        """Send one action, serve its checkpoint requests, return at its status reply."""
        self._send(message)
        assert self.proc is not None and self.proc.stdout is not None  # nosec B101  # narrows a type for mypy; it checks no input
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise ProcessorDied(self.shard)
            line = line.strip()
            if not line:
                continue
            try:
                reply = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("shard %s: non-protocol output on stdout: %r", self.shard, line[:200])
                continue
            action = reply.get("action")
            if action == "checkpoint":
                self._checkpoint(reply, at_end=at_end)
            elif action == "status" and reply.get("responseFor") == message["action"]:
                return
            else:
                log.warning("shard %s: unexpected message %r", self.shard, reply)

    def _checkpoint(self, request: dict[str, Any], *, at_end: bool) -> None:
        seq = request.get("sequenceNumber")
        value = seq if seq is not None else (SHARD_END if at_end else self.view.last_delivered)
        error = None
        try:
            if value is not None:
                self.driver.leases.checkpoint(self.shard, self.driver.worker_id, value)
                self.view.checkpoint = value
        except LeaseLost:
            error = "ShutdownException"
        reply: dict[str, Any] = {
            "action": "checkpoint",
            "sequenceNumber": seq,
            "subSequenceNumber": request.get("subSequenceNumber"),
        }
        if error:
            reply["error"] = error
        self._send(reply)

    # ------------------------------------------------------------------ shard loop

    def _start_processor(self) -> None:
        env = {**os.environ, **self.driver.config.processor_env}
        self.proc = subprocess.Popen(  # nosec B603  # fixed argv of known programs, no shell, no user text
            self.driver.config.processor_command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True).start()

    def _read_stderr(self, stream: IO[bytes] | None) -> None:
        assert stream is not None  # nosec B101  # narrows a type for mypy; it checks no input
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            try:
                entry = orjson.loads(line)
                msg = str(entry.get("msg", ""))
            except orjson.JSONDecodeError:
                entry, msg = None, line
            if msg.startswith("flushed "):
                flushed = orjson.loads(msg[len("flushed ") :])
                self.view.batches += 1
                self.view.rows.update(flushed["rows"])
                self.view.dead_letters = flushed["dead_lettered"]
                self.view.batched = flushed["batched"]
                self.driver.manifests.put(
                    manifest_key(self.shard, flushed["first"], flushed["last"])
                )
            elif entry is None or entry.get("level") in ("warning", "error", "critical"):
                print(f"[{self.shard}] {msg}", file=sys.stderr, flush=True)

    def _iterator(self, checkpoint: str) -> str | None:
        kinesis = self.driver.kinesis
        args: dict[str, Any] = {"StreamName": self.driver.config.stream, "ShardId": self.shard}
        if checkpoint == SHARD_END:
            return None
        if checkpoint in INITIAL_POSITIONS:
            args["ShardIteratorType"] = checkpoint
            if checkpoint == "AT_TIMESTAMP":
                args["Timestamp"] = self.driver.config.at_timestamp
        else:
            args["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            args["StartingSequenceNumber"] = checkpoint
        return str(kinesis.get_shard_iterator(**args)["ShardIterator"])

    def run(self) -> None:
        try:
            while not self.driver.stopping.is_set():
                try:
                    self._run_once()
                    return
                except ProcessorDied:
                    code = self.proc.wait() if self.proc else None
                    self.view.restarts += 1
                    log.warning(
                        "processor for %s exited (code %s); restarting from the last checkpoint",
                        self.shard,
                        code,
                    )
                    time.sleep(min(5.0, 0.2 * self.view.restarts))
        except BaseException as e:  # surfaced by Driver.check()
            self.error = e
        finally:
            self._stop_processor()

    def _run_once(self) -> None:
        cfg = self.driver.config
        checkpoint = self.driver.leases.take(
            self.shard, self.driver.worker_id, cfg.initial_position, self.parents
        )
        self.view.checkpoint = checkpoint
        iterator = self._iterator(checkpoint)
        if iterator is None:
            self.view.finished = True
            return
        self._start_processor()
        self._exchange(
            {
                "action": "initialize",
                "shardId": self.shard,
                "sequenceNumber": checkpoint,
                "subSequenceNumber": 0,
            }
        )
        kinesis = self.driver.kinesis
        while True:
            if self.driver.stopping.is_set():
                self._exchange({"action": "shutdownRequested"})
                return
            if self.driver.lost(self.shard):
                self._exchange({"action": "leaseLost"})
                return
            polled_at = time.time()
            resp = kinesis.get_records(ShardIterator=iterator, Limit=cfg.max_records)
            records = resp["Records"]
            self.view.millis_behind = resp.get("MillisBehindLatest")
            batch = [
                {
                    "action": "record",
                    "data": base64.b64encode(r["Data"]).decode(),
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "subSequenceNumber": 0,
                    "approximateArrivalTimestamp": int(
                        r["ApproximateArrivalTimestamp"].timestamp() * 1000
                    ),
                }
                for r in records
            ]
            if records:
                self.view.last_delivered = records[-1]["SequenceNumber"]
                self.view.records += len(records)
            self.view.idle = not records and not resp.get("MillisBehindLatest")
            if records:
                newest = records[-1]
                self.view.read_through_time = newest["ApproximateArrivalTimestamp"].timestamp()
                self.view.read_through_seq = newest["SequenceNumber"]
            elif self.view.idle:
                self.view.read_through_time = polled_at
                self.view.read_through_seq = self.view.last_delivered
            self._exchange(
                {
                    "action": "processRecords",
                    "records": batch,
                    "millisBehindLatest": resp.get("MillisBehindLatest", 0),
                }
            )
            iterator = resp.get("NextShardIterator")
            if iterator is None or (not records and self._read_to_end()):
                self._exchange({"action": "shardEnded"}, at_end=True)
                self.view.finished = self.driver.leases.checkpoint_of(self.shard) == SHARD_END
                return
            if not records:
                self.driver.stopping.wait(cfg.poll_seconds)

    def _read_to_end(self) -> bool:
        """A closed shard (ListShards shows its EndingSequenceNumber) read through its end.
        AWS also signals this with a null NextShardIterator; moto keeps returning one."""
        end = self.driver.closed.get(self.shard)
        if end is None:
            return False
        seen = self.view.last_delivered or self.view.checkpoint
        return seen is None or not seen.isdigit() or int(seen) >= int(end)

    def _stop_processor(self) -> None:
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(Exception):
            if proc.stdin:
                proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Driver:
    def __init__(self, config: DriverConfig, kinesis: Any, dynamodb: Any) -> None:
        if config.initial_position not in INITIAL_POSITIONS:
            raise ValueError(f"initial position must be one of {', '.join(INITIAL_POSITIONS)}")
        self.config = config
        self.kinesis = kinesis
        self.leases = LeaseTable(dynamodb, config.application)
        self.worker_id = f"local-{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()
        self.workers: dict[str, ShardWorker] = {}
        self.views: dict[str, ShardView] = {}
        self.lost_shards: set[str] = set()
        self.closed: dict[str, str] = {}  # shard → EndingSequenceNumber, once it is closed
        # Keys of the manifests the processors reported writing, for an in-process loader.
        self.manifests: queue.Queue[str] = queue.Queue()
        self.started_order: list[str] = []
        self.waiting: set[str] = set()  # shards whose parents have not reached SHARD_END

    def lost(self, shard: str) -> bool:
        return shard in self.lost_shards

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        args: dict[str, Any] = {"StreamName": self.config.stream}
        while True:
            resp = self.kinesis.list_shards(**args)
            shards += resp["Shards"]
            token = resp.get("NextToken")
            if not token:
                return shards
            args = {"NextToken": token}

    def sync_shards(self) -> None:
        shards = self._shards()
        known = {s["ShardId"] for s in shards}
        for s in shards:
            shard = s["ShardId"]
            if end := s.get("SequenceNumberRange", {}).get("EndingSequenceNumber"):
                self.closed[shard] = end
            if shard in self.workers:
                continue
            parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p]
            waiting = [
                p for p in parents if p in known and self.leases.checkpoint_of(p) != SHARD_END
            ]
            if waiting:
                self.waiting.add(shard)
                continue  # parents before children
            self.waiting.discard(shard)
            worker = ShardWorker(self, shard, parents)
            self.workers[shard] = worker
            self.started_order.append(shard)
            worker.start()

    def start(self) -> None:
        self.leases.ensure()
        self.sync_shards()
        threading.Thread(target=self._sync_loop, name="shard-sync", daemon=True).start()

    def _sync_loop(self) -> None:
        while not self.stopping.wait(self.config.shard_sync_seconds):
            try:
                self.sync_shards()
            except Exception as e:  # a failed ListShards is retried on the next tick
                log.warning("shard sync failed: %s", e)

    def check(self) -> None:
        for w in self.workers.values():
            if w.error is not None:
                raise w.error

    def checkpointed_through(self, targets: dict[str, int]) -> bool:
        """Every shard in `targets` (shard → sequence number) is checkpointed at or past its
        sequence number, or at SHARD_END. Exact, unlike caught_up(): a checkpoint is written
        only after the batch holding that record is durable in S3."""
        self.check()
        for shard, target in targets.items():
            checkpoint = self.leases.checkpoint_of(shard)
            if checkpoint == SHARD_END:
                continue
            if checkpoint is None or not checkpoint.isdigit() or int(checkpoint) < target:
                return False
        return True

    def read_through(self, since: float) -> bool:
        """Every shard has delivered everything that arrived before `since` (epoch seconds, the
        local stack's clock, which moto stamps arrivals with) and checkpointed it: exact for
        records put before `since`, e.g. by an earlier run whose consumers had not caught up
        when it died, and it does not wait for later traffic to stop."""
        self.check()
        if not self.workers or self.waiting:
            return False
        for shard, w in self.workers.items():
            v = self.views[shard]
            if v.finished:
                continue
            if not w.is_alive() or v.read_through_time < since:
                return False
            seq, checkpoint = v.read_through_seq, v.checkpoint or ""
            if seq is None or checkpoint == SHARD_END:
                continue
            if not checkpoint.isdigit() or int(checkpoint) < int(seq):
                return False
        return True

    def caught_up(self) -> bool:
        """Every started shard has read to the end and checkpointed all it was given, as of
        each shard's last poll: a put after that poll is not seen. Good for a stream nobody
        writes to any more (replay); a drain behind a live capture uses checkpointed_through."""
        self.check()
        if not self.workers:
            return False
        for shard, w in self.workers.items():
            v = self.views[shard]
            if v.finished:
                continue
            if not w.is_alive() or not v.idle or v.checkpoint != (v.last_delivered or v.checkpoint):
                return False
        return True

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for w in self.workers.values():
            w.join(max(0.1, deadline - time.monotonic()))
