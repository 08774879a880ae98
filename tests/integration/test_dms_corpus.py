"""The golden corpus of real-DMS shapes (tests/golden/dms/, provenance in its README) through
the whole consumer path: Kinesis (moto) → the local MultiLang driver → real processor
subprocesses, with the C fast path and without it → Parquet and manifests on S3 → the loader
→ the warehouse, compared with the expected rows."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import orjson
import psycopg
import pytest

from consumers.capture.kinesis_sink import KinesisSink
from consumers.capture.messages import Record
from consumers.capture.render import libpq_options
from consumers.contracts.model import load_contracts
from consumers.kcl.driver import Driver, DriverConfig
from consumers.settings import PROJECT_DIR
from consumers.warehouse.local import LocalWarehouse
from tests.integration.test_consumers import manifests

pytestmark = pytest.mark.integration

CORPUS = PROJECT_DIR / "tests" / "golden" / "dms"
EXPECTED = orjson.loads((CORPUS / "expected.json").read_bytes())


@pytest.fixture(scope="module")
def contracts_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("contracts")
    for path in [*(PROJECT_DIR / "schemas").glob("*.avsc"), *(CORPUS / "schemas").glob("*.avsc")]:
        shutil.copy(path, out / path.name)
    return out


def test_every_corpus_record_has_an_expected_outcome_and_a_provenance():
    names = {p.stem for p in (CORPUS / "records").glob("*.json")}
    assert set(EXPECTED["order"]) == names
    readme = (CORPUS / "README.md").read_text()
    assert all(f"`{n}`" in readme for n in names), sorted(n for n in names if n not in readme)


@pytest.mark.parametrize("fast_path", ["1", "0"])
def test_the_corpus_reaches_the_warehouse_as_expected(local_stack, contracts_dir, fast_path):
    kinesis, s3 = local_stack.client("kinesis"), local_stack.client("s3")
    stream, tag = f"corpus-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    batches, dead = f"b-{tag}", f"d-{tag}"
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    for bucket in (batches, dead):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": local_stack.region}
        )
    sink = KinesisSink(kinesis, stream)
    for name in EXPECTED["order"]:
        raw = (CORPUS / "records" / f"{name}.json").read_bytes()
        meta = orjson.loads(raw)["metadata"]
        sink.add(Record("", str(meta.get("partition-key-value", meta["table-name"])), raw))
    sink.flush()

    env = {
        "CDC_CONTRACTS": str(contracts_dir), "CDC_BATCH_BUCKET": batches,
        "CDC_DEAD_LETTER_BUCKET": dead, "CDC_REGION": local_stack.region,
        "CDC_AWS_ENDPOINT_URL": local_stack.aws_endpoint_url, "CDC_FLUSH_MAX_AGE": "0.3",
        "CDC_FAST_PATH": fast_path,
    }  # fmt: skip
    driver = Driver(
        DriverConfig(stream=stream, application=f"app-{tag}", processor_env=env, poll_seconds=0.1),
        kinesis, local_stack.client("dynamodb"),
    )  # fmt: skip
    driver.start()
    try:
        deadline = time.monotonic() + 60
        while not driver.checkpointed_through(sink.last_sequence):
            assert time.monotonic() < deadline, "the consumers did not checkpoint the corpus"
            time.sleep(0.1)
    finally:
        driver.stop()

    found = manifests(local_stack, batches)
    assert sum(m.records for m in found) == len(EXPECTED["order"])
    assert [d for m in found for d in m.dead_letters] == []  # nothing DMS sends is refused
    control = [c for m in found for c in m.control]
    assert sum(1 for c in control if c.get("internal")) == len(EXPECTED["ignored"])
    assert sorted(c["operation"] for c in control if not c.get("internal")) == sorted(
        ["drop-table", "create-table", "change-columns"]
    )

    name = f"wh_{tag}"
    with psycopg.connect(local_stack.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        contracts = [c for c in load_contracts(contracts_dir) if c.qualified in EXPECTED["tables"]]
        warehouse = LocalWarehouse(local_stack.dsn(name), contracts, s3, batches)
        warehouse.bootstrap()
        warehouse.run_once()
        with psycopg.connect(local_stack.dsn(name), options=libpq_options()) as conn:
            for table, expected in EXPECTED["tables"].items():
                schema, _, relation = table.partition(".")
                got = conn.execute(
                    f'SELECT to_jsonb(t) FROM "{schema}"."{relation}" t '
                    'WHERE NOT "_cdc_deleted" ORDER BY 1'.encode()
                ).fetchall()
                rows = {str(r[0]["id"]): r[0] for r in got}
                assert sorted(rows) == sorted(e["id"] for e in expected), table
                for e in expected:
                    text = conn.execute(
                        f'SELECT {", ".join(f"{c}::text" for c in e)} FROM "{schema}"."{relation}" '
                        f"WHERE id = %s".encode(),
                        (int(e["id"]),),
                    ).fetchone()
                    assert dict(zip(e, text, strict=True)) == e, (table, e["id"])
    finally:
        with psycopg.connect(local_stack.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())
