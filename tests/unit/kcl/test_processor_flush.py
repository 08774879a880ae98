"""What the processor promises around a flush, beyond the transcript's actions: how a failed
checkpoint is retried and when the process gives up (exit code, log line), the counts
(received = batched + dead-lettered, rows refused while typing included), the `flushed` log
line operators read, and where a flush's objects go."""

from __future__ import annotations

import gc
import io
import logging
import os
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from amazon_kclpy import kcl

from consumers.batching.buffer import FlushPolicy
from consumers.contracts.model import load_contracts
from consumers.events.decode import Decoder
from consumers.kcl import processor as processor_module
from consumers.kcl.processor import RecordProcessor
from consumers.settings import Settings
from consumers.sink.writer import BatchManifest, BatchWriter
from tests.conftest import SCHEMAS
from tests.fakes import FakeS3
from tests.unit.events.records import insert_record
from tests.unit.kcl.test_processor_transcript import (
    INIT,
    SHARD,
    checkpoint,
    process,
    record,
    reply,
    run,
    status,
    three_records,
)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff the processor waits between checkpoint attempts (not actually waited)."""
    waited: list[float] = []
    monkeypatch.setattr(processor_module.time, "sleep", waited.append)
    return waited


def test_throttled_checkpoints_back_off_doubling_then_succeed(contracts, sleeps, caplog):
    lines = [INIT, three_records(), *[reply("3", "ThrottlingException")] * 3, reply("3")]
    with caplog.at_level(logging.WARNING, logger="consumers.kcl.processor"):
        actions, _, proc = run(lines, contracts, checkpoint_attempts=4, backoff_seconds=0.5)
    assert actions == [status("initialize"), *[checkpoint("3")] * 4, status("processRecords")]
    assert sleeps == [0.5, 1.0, 2.0]
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert retries == [
        f"checkpoint ThrottlingException shard={SHARD}; retry {n}" for n in (1, 2, 3)
    ]
    assert proc.lease_held


@pytest.mark.parametrize("error", ["ThrottlingException", "KinesisClientLibDependencyException"])
def test_a_retryable_checkpoint_error_on_every_attempt_exits_4(contracts, sleeps, caplog, error):
    lines = [INIT, three_records(), *[reply("3", error)] * 3]
    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.CRITICAL):
        run(lines, contracts, checkpoint_attempts=3, backoff_seconds=1)
    assert exited.value.code == 4  # the daemon restarts it; the shard resumes at its checkpoint
    assert sleeps == [1, 2]  # three attempts, no wait after the last
    assert f"checkpoint failed shard={SHARD}: {error}; exiting" in caplog.messages


@pytest.mark.parametrize("error", ["InvalidStateException", "SomethingNewException"])
def test_a_checkpoint_error_not_known_retryable_exits_4_at_once(contracts, sleeps, caplog, error):
    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.CRITICAL):
        run([INIT, three_records(), reply("3", error)], contracts)
    assert exited.value.code == 4 and sleeps == []
    assert f"checkpoint failed shard={SHARD}: {error}; exiting" in caplog.messages


def test_a_lost_lease_is_logged_and_never_retried(contracts, sleeps, caplog):
    with caplog.at_level(logging.WARNING, logger="consumers.kcl.processor"):
        _, _, proc = run([INIT, three_records(), reply("3", "ShutdownException")], contracts)
    assert not proc.lease_held and sleeps == []
    assert f"checkpoint: lease gone shard={SHARD}; not checkpointing" in caplog.messages


def test_a_failing_callback_exits_3_with_the_reason_logged(contracts, caplog):
    class Broken:
        def split(self, raws: list[bytes]) -> Any:
            raise RuntimeError("decoder broke")

    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.CRITICAL):
        one = process([record(1, insert_record(1))])
        run([INIT, one, {"action": "shardEnded"}], contracts, fast=Broken())
    assert exited.value.code == 3
    assert f"shard_ended failed shard={SHARD}: decoder broke" in caplog.messages


def _flushed(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        orjson.loads(r.getMessage().removeprefix("flushed "))
        for r in caplog.records
        if r.getMessage().startswith("flushed ")
    ]


def test_the_flushed_line_reports_the_batch_and_the_running_counts(contracts, caplog):
    too_long = insert_record(5, code="X" * 300)  # decodes, but the warehouse cannot store it
    second = process([record(4, insert_record(4)), record(5, too_long)])
    lines = [INIT, three_records(), reply("3"), second, {"action": "shardEnded"}, reply(None)]
    with caplog.at_level(logging.INFO, logger="consumers.kcl.processor"):
        _, s3, proc = run(lines, contracts)
    assert _flushed(caplog) == [
        {
            "shard": SHARD, "reason": "rows", "records": 3, "rows": {"public.currency": 2},
            "control": 0, "dead_letters": 1, "first": "1", "last": "3",
            "received": 3, "batched": 2, "dead_lettered": 1,
        },
        {
            "shard": SHARD, "reason": "shard-end", "records": 2, "rows": {"public.currency": 1},
            "control": 0, "dead_letters": 1, "first": "4", "last": "5",
            "received": 5, "batched": 3, "dead_lettered": 2,
        },
    ]  # fmt: skip
    # the value refused while typing is a counted dead letter: received = batched + dead
    assert (proc.stats.received, proc.stats.batched, proc.stats.dead_lettered) == (5, 3, 2)
    assert (proc.stats.batches, dict(proc.stats.rows_written or {})) == (2, {"public.currency": 3})
    manifest = BatchManifest.from_json(s3.objects[("b", f"manifests/{SHARD}/4-5.json")])
    assert [d["sequence"] for d in manifest.dead_letters] == ["5"]
    assert "X" * 300 not in str(s3.objects.get(("b", manifest.files[0].key)))


def test_a_dead_letter_document_names_its_record(contracts, caplog):
    with caplog.at_level(logging.WARNING, logger="consumers.kcl.processor"):
        _, s3, _ = run([INIT, three_records(), reply("3")], contracts)
    doc = orjson.loads(s3.objects[("dl", f"dead-letters/{SHARD}/2.json")])
    assert (doc["shard_id"], doc["sequence_number"], doc["partition_key"]) == (SHARD, "2", "pk")
    assert doc["approximate_arrival"] == "2025-11-24T16:00:00.002000+00:00"
    assert doc["reason"].startswith("not JSON")
    (note,) = [m for m in caplog.messages if m.startswith("dead letter")]
    assert note.startswith(f"dead letter shard={SHARD} seq=2: not JSON")


def test_an_empty_batch_writes_nothing_and_checkpoints_nothing(contracts):
    actions, s3, proc = run([INIT, process([]), {"action": "shutdownRequested"}], contracts)
    assert actions == [status("initialize"), status("processRecords"), status("shutdownRequested")]
    assert s3.objects == {} and proc.stats.batches == 0


def test_the_default_checkpoint_retries_six_times_from_a_fifth_of_a_second(contracts, sleeps):
    writer = BatchWriter(FakeS3(), "b", "dl", {c.qualified: c for c in contracts}, attempts=2)
    proc = RecordProcessor(Decoder(contracts), writer, FlushPolicy(max_rows=3))
    lines = [INIT, three_records(), *[reply("3", "ThrottlingException")] * 6]
    text = "\n".join(orjson.dumps(m).decode() for m in lines) + "\n"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        kcl.KCLProcess(proc, input_file=io.StringIO(text), output_file=out,
                       error_file=io.StringIO()).run()  # fmt: skip
    assert exited.value.code == 4
    assert out.getvalue().count('"checkpoint"') == 6
    assert sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])


def test_changes_of_one_key_collapse_on_the_reference_path_too(contracts):
    call = process(
        [
            record(1, insert_record(1, record_id=1)),
            record(2, insert_record(1, code="EUR", record_id=2)),
            record(3, insert_record(2, code="X" * 300)),  # sends the table to the reference
        ]
    )
    _, s3, _ = run([INIT, call, reply("3")], contracts)
    (key,) = s3.keys("data/")
    rows = pq.read_table(io.BytesIO(s3.objects[("b", key)])).to_pylist()
    assert [(r["currency_id"], r["currency_code"]) for r in rows] == [(1, "EUR")]


def test_the_manifest_lists_each_dead_letter_and_the_flush_reason(contracts):
    lines = [INIT, three_records(), reply("3"), {"action": "shardEnded"}, reply(None)]
    _, s3, _ = run(lines, contracts)
    manifest = BatchManifest.from_json(s3.objects[("b", f"manifests/{SHARD}/1-3.json")])
    assert manifest.flush_reason == "rows"
    (note,) = manifest.dead_letters
    assert (note["sequence"], note["key"]) == ("2", f"dead-letters/{SHARD}/2.json")
    assert note["reason"].startswith("not JSON (")


def test_the_processor_is_configured_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CDC_AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("CDC_BATCH_PREFIX", "replays/r7/")
    monkeypatch.setenv("CDC_FLUSH_MAX_ROWS", "7")
    settings = Settings(
        state_dir=tmp_path, batch_bucket="bb", dead_letter_bucket="dd", region="eu-west-1",
        binary_encoding="base64", fast_path=False,
    )  # fmt: skip
    proc = processor_module.build(settings)
    w = proc.writer
    assert (w.batch_bucket, w.dead_letter_bucket, w.prefix) == ("bb", "dd", "replays/r7/")
    assert w.binary_encoding == "base64" and proc.policy.max_rows == 7
    assert w.s3.meta.endpoint_url == "http://127.0.0.1:1"
    assert w.s3.meta.region_name == "eu-west-1" and w.s3.meta.service_model.service_name == "s3"
    assert sorted(w.contracts) == sorted(c.qualified for c in load_contracts(SCHEMAS))
    assert not proc.fast.enabled and proc.decoder.tables
    where = next(iter(proc.decoder.tables.values())).where
    assert where.startswith(str(SCHEMAS)) and where.endswith(".avsc")
    monkeypatch.delenv("CDC_AWS_ENDPOINT_URL")
    monkeypatch.delenv("CDC_BATCH_PREFIX")
    plain = processor_module.build(Settings(state_dir=tmp_path, fast_path=True))
    assert plain.writer.prefix == "" and plain.writer.s3.meta.endpoint_url.startswith("https://")
    assert plain.fast.enabled == processor_module.FastDecoder([]).enabled


def test_tune_gc_switches_the_cyclic_collector_off(monkeypatch):
    was = gc.isenabled()
    try:
        processor_module.tune_gc()
        assert not gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        if was:
            gc.enable()


def test_main_runs_the_built_processor_under_kclpy(monkeypatch):
    ran: list[Any] = []

    class Process:
        def __init__(self, processor: Any) -> None:
            ran.append(processor)

        def run(self) -> None:
            ran.append("run")

    built = object()
    monkeypatch.setattr(processor_module, "build", lambda: built)
    monkeypatch.setattr(processor_module.kcl, "KCLProcess", Process)
    monkeypatch.setattr(processor_module, "tune_gc", lambda: ran.append("gc"))
    monkeypatch.setattr(processor_module.logs, "configure", lambda level: ran.append(level))
    processor_module.main()
    assert ran == [logging.INFO, "gc", built, "run"]


def test_the_fault_hook_dies_once_after_a_write(monkeypatch, tmp_path):
    """The kill -9 test's hook (tests/integration): the first process to reach it writes its
    pid to the marker and exits 137; later ones (the marker exists) go on."""
    exits: list[int] = []
    monkeypatch.setattr(processor_module.os, "_exit", exits.append)
    marker = tmp_path / "marker"
    processor_module._fault_point_after_write()  # no setting: nothing happens
    monkeypatch.setenv("CDC_FAULT_EXIT_AFTER_WRITE", str(marker))
    processor_module._fault_point_after_write()
    assert exits == [137] and marker.read_text() == str(os.getpid())
    processor_module._fault_point_after_write()
    assert exits == [137]
