"""Protocol transcripts: scripted MultiLangDaemon lines in, the processor's exact actions out,
through amazon-kclpy's real KCLProcess and the real decoder, batcher and Parquet writer."""

from __future__ import annotations

import base64
import io
from typing import Any

import orjson
import pytest
from amazon_kclpy import kcl

from consumers.batching.buffer import FlushPolicy
from consumers.events.decode import Decoder
from consumers.kcl.processor import RecordProcessor
from consumers.sink.writer import BatchWriter
from tests.fakes import FakeS3
from tests.unit.events.records import insert_record

SHARD = "shardId-000000000001"


def record(seq: int, data: bytes) -> dict[str, Any]:
    return {
        "action": "record",
        "data": base64.b64encode(data).decode(),
        "partitionKey": "pk",
        "sequenceNumber": str(seq),
        "subSequenceNumber": 0,
        "approximateArrivalTimestamp": 1_764_000_000_000 + seq,
    }


def run(
    lines: list[dict[str, Any]],
    contracts,
    *,
    s3: FakeS3 | None = None,
    policy: FlushPolicy | None = None,
    out: io.StringIO | None = None,
    checkpoint_attempts: int = 6,
    backoff_seconds: float = 0,
    fast: Any = None,
) -> tuple[list[dict[str, Any]], FakeS3, RecordProcessor]:
    """`out` receives the processor's stdout; pass one to read it after the run raised."""
    s3 = s3 or FakeS3()
    writer = BatchWriter(s3, "b", "dl", {c.qualified: c for c in contracts}, attempts=2)
    proc = RecordProcessor(
        Decoder(contracts), writer, policy or FlushPolicy(max_rows=3, max_age_seconds=3600),
        checkpoint_attempts=checkpoint_attempts, backoff_seconds=backoff_seconds, fast=fast,
    )  # fmt: skip
    out = out if out is not None else io.StringIO()
    text = "\n".join(orjson.dumps(m).decode() for m in lines) + "\n"
    kcl.KCLProcess(
        proc, input_file=io.StringIO(text), output_file=out, error_file=io.StringIO()
    ).run()
    actions = [orjson.loads(x) for x in out.getvalue().splitlines() if x.strip()]
    return actions, s3, proc


INIT = {
    "action": "initialize",
    "shardId": SHARD,
    "sequenceNumber": "TRIM_HORIZON",
    "subSequenceNumber": 0,
}


def status(what: str) -> dict[str, Any]:
    return {"action": "status", "responseFor": what}


def checkpoint(seq: str | None) -> dict[str, Any]:
    return {"action": "checkpoint", "sequenceNumber": seq, "subSequenceNumber": None}


def reply(seq: str | None, error: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"action": "checkpoint", "sequenceNumber": seq, "subSequenceNumber": None}
    if error:
        m["error"] = error
    return m


def process(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A processRecords message carrying these records."""
    return {"action": "processRecords", "millisBehindLatest": 0, "records": records}


def three_records() -> dict[str, Any]:
    return process(
        [
            record(1, insert_record(1)),
            record(2, b"{not json"),
            record(3, insert_record(2)),
        ]
    )


def test_flush_then_checkpoint_then_shard_end(contracts):
    lines = [INIT, three_records(), reply("3"), {"action": "shardEnded"}, reply(None)]
    actions, s3, proc = run(lines, contracts)
    assert actions == [
        status("initialize"),
        checkpoint("3"),  # only after the batch is in S3
        status("processRecords"),
        checkpoint(None),  # SHARD_END
        status("shardEnded"),
    ]
    assert s3.keys("manifests/") == [f"manifests/{SHARD}/1-3.json"]
    assert s3.keys("data/") == [f"data/public.currency/date=2025-11-24/{SHARD}/1-3.parquet"]
    assert s3.keys("dead-letters/") == [f"dead-letters/{SHARD}/2.json"]
    assert (proc.stats.received, proc.stats.batched, proc.stats.dead_lettered) == (3, 2, 1)


def test_throttled_checkpoint_is_retried_by_name(contracts):
    lines = [INIT, three_records(), reply("3", "ThrottlingException"), reply("3")]
    actions, _, _ = run(lines, contracts)
    assert actions == [
        status("initialize"), checkpoint("3"), checkpoint("3"), status("processRecords"),
    ]  # fmt: skip


def test_shutdown_exception_stops_checkpointing_without_retry(contracts):
    more = process(
        [record(4, insert_record(3)), record(5, insert_record(4)), record(6, insert_record(5))]
    )
    lines = [INIT, three_records(), reply("3", "ShutdownException"), more]
    actions, s3, _ = run(lines, contracts)
    assert actions == [
        status("initialize"),
        checkpoint("3"),
        status("processRecords"),
        status("processRecords"),
    ]  # fmt: skip  (the lease is gone: the second batch is written but never checkpointed)
    assert len(s3.keys("manifests/")) == 2


def test_invalid_state_is_fatal(contracts):
    with pytest.raises(SystemExit):
        run([INIT, three_records(), reply("3", "InvalidStateException")], contracts)


def test_s3_failure_exits_without_checkpoint(contracts):
    s3, out = FakeS3(fail=10**6), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        run([INIT, three_records()], contracts, s3=s3, out=out)
    assert exited.value.code not in (0, None)  # the daemon restarts it from the checkpoint
    assert s3.objects == {}
    actions = [orjson.loads(x) for x in out.getvalue().splitlines() if x.strip()]
    assert actions == [status("initialize")]  # no checkpoint, no processRecords status


class CheckpointWitness(io.StringIO):
    """The processor's stdout: at the moment it writes a checkpoint request, note which
    manifests are durably in S3."""

    def __init__(self, s3: FakeS3) -> None:
        super().__init__()
        self.s3 = s3
        self.manifests_at_checkpoint: list[list[str]] = []

    def write(self, text: str) -> int:
        if '"checkpoint"' in text:
            self.manifests_at_checkpoint.append(self.s3.keys("manifests/"))
        return super().write(text)


def test_a_checkpoint_is_requested_only_after_its_manifest_is_in_s3(contracts):
    s3 = FakeS3()
    out = CheckpointWitness(s3)
    more = process([record(4, insert_record(3)), record(5, insert_record(4))])
    run([INIT, three_records(), reply("3"), more, {"action": "shutdownRequested"}, reply("5")],
        contracts, s3=s3, out=out)  # fmt: skip
    assert out.manifests_at_checkpoint == [
        [f"manifests/{SHARD}/1-3.json"],
        [f"manifests/{SHARD}/1-3.json", f"manifests/{SHARD}/4-5.json"],
    ]


def test_shutdown_requested_flushes_then_checkpoints(contracts):
    one = {
        "action": "processRecords",
        "millisBehindLatest": 5,
        "records": [record(7, insert_record(9))],
    }
    actions, s3, _ = run([INIT, one, {"action": "shutdownRequested"}, reply("7")], contracts)
    assert actions == [
        status("initialize"),
        status("processRecords"),
        checkpoint("7"),
        status("shutdownRequested"),
    ]
    assert s3.keys("manifests/") == [f"manifests/{SHARD}/7-7.json"]


def test_lease_lost_drops_the_buffer_and_never_checkpoints(contracts):
    one = process([record(7, insert_record(9))])
    actions, s3, _ = run([INIT, one, {"action": "leaseLost"}], contracts)
    assert actions == [status("initialize"), status("processRecords"), status("leaseLost")]
    assert s3.objects == {}


def test_age_flush_on_an_empty_poll(contracts):
    one = process([record(7, insert_record(9))])
    empty = process([])
    policy = FlushPolicy(max_rows=1000, max_age_seconds=1e-9)
    actions, _, _ = run([INIT, one, reply("7"), empty], contracts, policy=policy)
    assert actions == [
        status("initialize"), checkpoint("7"), status("processRecords"), status("processRecords"),
    ]  # fmt: skip


def test_one_call_spanning_several_batches_flushes_and_checkpoints_each(contracts):
    """Seven records with max_rows=3: batches 1-3 and 4-6 flush inside the call, each followed
    by its checkpoint; 7 waits for shard end."""
    call = process([record(i, insert_record(i, record_id=i)) for i in range(1, 8)])
    lines = [INIT, call, reply("3"), reply("6"), {"action": "shardEnded"}, reply(None)]
    actions, s3, proc = run(lines, contracts)
    assert actions == [
        status("initialize"),
        checkpoint("3"),
        checkpoint("6"),
        status("processRecords"),
        checkpoint(None),
        status("shardEnded"),
    ]
    assert s3.keys("manifests/") == [
        f"manifests/{SHARD}/1-3.json", f"manifests/{SHARD}/4-6.json", f"manifests/{SHARD}/7-7.json",
    ]  # fmt: skip
    assert (proc.stats.received, proc.stats.batched, proc.stats.dead_lettered) == (7, 7, 0)


def test_the_bytes_limit_cuts_a_call_after_the_record_that_fills_the_batch(contracts):
    size = len(insert_record(1))
    call = process([record(i, insert_record(i)) for i in range(1, 6)])
    policy = FlushPolicy(max_rows=100, max_bytes=2 * size + 1, max_age_seconds=3600)
    actions, s3, _ = run([INIT, call, reply("3")], contracts, policy=policy)
    assert checkpoint("3") in actions  # 3 records are the first to reach 2 * size + 1 bytes
    assert s3.keys("manifests/") == [f"manifests/{SHARD}/1-3.json"]
