"""KCL consumers through the local MultiLang driver: real processor subprocesses, moto Kinesis,
S3 and DynamoDB over HTTP."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from consumers.capture.kinesis_sink import KinesisSink
from consumers.capture.messages import Record
from consumers.kcl.driver import Driver, DriverConfig
from consumers.kcl.leases import SHARD_END
from consumers.settings import PROJECT_DIR
from consumers.sink.writer import BatchManifest
from tests.unit.events.records import insert_record

pytestmark = pytest.mark.integration


@pytest.fixture
def buckets(local_stack) -> Iterator[tuple[str, str]]:
    s3 = local_stack.client("s3")
    names = (f"b-{uuid.uuid4().hex[:8]}", f"d-{uuid.uuid4().hex[:8]}")
    for name in names:
        s3.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": local_stack.region}
        )
    yield names


def make_driver(local_stack, stream, buckets, **config: Any) -> Driver:
    env = {
        "CDC_CONTRACTS": str(PROJECT_DIR / "schemas"),
        "CDC_BATCH_BUCKET": buckets[0],
        "CDC_DEAD_LETTER_BUCKET": buckets[1],
        "CDC_REGION": local_stack.region,
        "CDC_AWS_ENDPOINT_URL": local_stack.aws_endpoint_url,
        "CDC_FLUSH_MAX_ROWS": str(config.pop("max_rows", 50)),
        "CDC_FLUSH_MAX_AGE": str(config.pop("max_age", 0.3)),
        **config.pop("env", {}),
    }
    cfg = DriverConfig(
        stream=stream, application=f"app-{uuid.uuid4().hex[:8]}", processor_env=env,
        shard_sync_seconds=0.3, poll_seconds=0.1, **config,
    )  # fmt: skip
    return Driver(cfg, local_stack.client("kinesis"), local_stack.client("dynamodb"))


def put(local_stack, stream, records: list[tuple[str, bytes]]) -> None:
    sink = KinesisSink(local_stack.client("kinesis"), stream)
    for key, data in records:
        sink.add(Record("public.currency", key, data))
    sink.flush()


def wait_caught_up(driver: Driver, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not driver.caught_up():
        assert time.monotonic() < deadline, {s: vars(v) for s, v in driver.views.items()}
        time.sleep(0.1)


def consume_to_end(driver: Driver) -> Driver:
    """Run the driver until every shard has read and checkpointed all there is, then stop it."""
    driver.start()
    try:
        wait_caught_up(driver)
    finally:
        driver.stop()
    return driver


def manifests(local_stack, bucket: str) -> list[BatchManifest]:
    s3 = local_stack.client("s3")
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="manifests/"):
        for o in page.get("Contents", []):
            out.append(
                BatchManifest.from_json(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
            )
    return out


def rows(local_stack, bucket: str, found: list[BatchManifest]) -> list[dict[str, Any]]:
    s3 = local_stack.client("s3")
    out: list[dict[str, Any]] = []
    for m in found:
        for f in m.files:
            body = s3.get_object(Bucket=bucket, Key=f.key)["Body"].read()
            out += pq.read_table(io.BytesIO(body)).to_pylist()
    return out


def currency_records(ids: range) -> list[tuple[str, bytes]]:
    return [(f"public.currency.{i}", insert_record(i, record_id=1)) for i in ids]


def test_records_become_manifests_and_checkpoints(local_stack, stream, buckets):
    put(local_stack, stream, currency_records(range(1, 301)))
    driver = consume_to_end(make_driver(local_stack, stream, buckets))
    found = manifests(local_stack, buckets[0])
    assert sum(m.records for m in found) == 300
    got = rows(local_stack, buckets[0], found)
    assert sorted(r["currency_id"] for r in got) == list(range(1, 301))
    leases = driver.leases
    for shard, view in driver.views.items():
        assert leases.checkpoint_of(shard) == view.last_delivered  # checkpointed to the end
        assert view.millis_behind == 0


def test_kill_9_between_the_parquet_write_and_the_checkpoint(
    local_stack, stream, buckets, tmp_path
):
    put(local_stack, stream, currency_records(range(1, 201)))
    marker = tmp_path / "crashed"
    driver = make_driver(
        local_stack, stream, buckets, max_rows=40, max_age=3600,
        env={"CDC_FAULT_EXIT_AFTER_WRITE": str(marker)},
    )  # fmt: skip
    driver.start()
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        s3 = local_stack.client("s3")
        at_crash = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=buckets[0])["Contents"]}
        deadline = time.monotonic() + 60  # the restarted processor has re-read its shard
        while not all(v.idle for v in driver.views.values()) or not any(
            v.restarts for v in driver.views.values()
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        driver.stop()  # shutdownRequested: the tails (under 40 rows) are flushed now
    after = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=buckets[0])["Contents"]}
    assert sum(v.restarts for v in driver.views.values()) == 1
    for key, etag in at_crash.items():
        assert after[key] == etag  # the re-read batch rewrote the same objects, byte for byte
    found = manifests(local_stack, buckets[0])
    ids = [r["currency_id"] for r in rows(local_stack, buckets[0], found)]
    assert sorted(set(ids)) == list(range(1, 201))  # nothing lost
    assert len(ids) == 200  # and, with row-count cuts, nothing written twice


def test_split_shard_mid_stream_parents_before_children(local_stack, stream, buckets):
    kinesis = local_stack.client("kinesis")
    put(local_stack, stream, currency_records(range(1, 101)))
    driver = make_driver(local_stack, stream, buckets)
    driver.start()
    try:
        wait_caught_up(driver)
        parent = kinesis.list_shards(StreamName=stream)["Shards"][0]
        lo, hi = (int(parent["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
        kinesis.split_shard(
            StreamName=stream,
            ShardToSplit=parent["ShardId"],
            NewStartingHashKey=str((lo + hi) // 2),
        )
        put(local_stack, stream, currency_records(range(101, 301)))
        deadline = time.monotonic() + 60
        # caught_up() is as of each shard's last poll, which may predate the put: wait for
        # all 300 records to be delivered too.
        delivered = lambda: sum(v.records for v in driver.views.values())  # noqa: E731
        while len(driver.workers) < 4 or delivered() < 300 or not driver.caught_up():
            assert time.monotonic() < deadline, driver.started_order
            time.sleep(0.1)
    finally:
        driver.stop()
    pid = parent["ShardId"]
    assert driver.leases.checkpoint_of(pid) == SHARD_END
    children = [s for s in driver.started_order if s not in driver.started_order[:2]]
    assert len(children) == 2
    assert all(driver.leases.get(c)["parents"] == [pid] for c in children)
    assert driver.started_order.index(pid) < min(driver.started_order.index(c) for c in children)
    ids = [
        r["currency_id"] for r in rows(local_stack, buckets[0], manifests(local_stack, buckets[0]))
    ]
    assert sorted(set(ids)) == list(range(1, 301))


def test_dead_letters_are_written_counted_and_listed(local_stack, stream, buckets):
    unknown = orjson.loads(insert_record(5))
    unknown["metadata"]["table-name"] = "not_a_table"
    violation = orjson.loads(insert_record(6))
    violation["data"]["currency_code"] = None  # NOT NULL in the contract
    put(local_stack, stream, [
        ("a", b"\x00 not json"), ("b", orjson.dumps(unknown)), ("c", orjson.dumps(violation)),
        *currency_records(range(1, 4)),
    ])  # fmt: skip
    driver = consume_to_end(make_driver(local_stack, stream, buckets))
    s3 = local_stack.client("s3")
    letters = [
        orjson.loads(s3.get_object(Bucket=buckets[1], Key=o["Key"])["Body"].read())
        for o in s3.list_objects_v2(Bucket=buckets[1])["Contents"]
    ]
    reasons = sorted(d["reason"] for d in letters)
    assert len(reasons) == 3
    assert "not JSON" in reasons[2] and "not_a_table" in reasons[1] and "NOT NULL" in reasons[0]
    assert {d["shard_id"] for d in letters} <= set(driver.views)
    assert all(d["sequence_number"] and d["data_base64"] for d in letters)
    found = manifests(local_stack, buckets[0])
    assert sum(len(m.dead_letters) for m in found) == 3
    assert sum(m.records for m in found) == 6  # received = batched + dead-lettered
    assert sum(v.dead_letters for v in driver.views.values()) == 3
    assert sorted(r["currency_id"] for r in rows(local_stack, buckets[0], found)) == [1, 2, 3]


def test_at_timestamp_reads_exactly_the_records_after_it(local_stack, stream, buckets):
    put(local_stack, stream, currency_records(range(1, 51)))
    time.sleep(1.1)
    start = datetime.now(UTC)
    time.sleep(1.1)
    put(local_stack, stream, currency_records(range(51, 101)))
    consume_to_end(make_driver(
        local_stack, stream, buckets, initial_position="AT_TIMESTAMP", at_timestamp=start
    ))  # fmt: skip
    ids = [
        r["currency_id"] for r in rows(local_stack, buckets[0], manifests(local_stack, buckets[0]))
    ]
    assert sorted(ids) == list(range(51, 101))
