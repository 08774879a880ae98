"""A pipeline over a hand-made source schema: tables created by the test, contracts from
`cdc contracts import`, DMS table mappings derived from them, its own stream and buckets."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from consumers.capture import dms_config
from consumers.contracts.importer import import_contracts
from consumers.contracts.model import TableContract, load_contracts
from consumers.pipeline import Pipeline
from consumers.settings import Settings
from tests.conftest import DMS_DIR
from tests.integration.test_load import _database, _drop


def sql(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in statements:
            conn.execute(s.encode())


def import_with_new_columns_auto(
    source: str, schema: str, table: str, out: Path
) -> tuple[Path, list[TableContract]]:
    """Import `schema`'s contracts into `out` with `table`'s policy set to new_columns: auto;
    returns that contract's path and every contract."""
    import_contracts(source, schema, None, out, lambda _: None)
    path = out / f"{schema}.{table}.avsc"
    doc = orjson.loads(path.read_bytes())
    doc["new_columns"] = "auto"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path, load_contracts(out)


def private_stack(
    local_stack: Any,
    stack_settings: Settings,
    tmp_path: Path,
    contracts: list[TableContract],
    stream: str,
    *buckets: str,
    **overrides: Any,
) -> Settings:
    """A test's own stream (2 shards), buckets (the first for batches, a second for dead
    letters) and DMS files whose table mappings select `contracts`; the settings that use them
    (contracts read from tmp_path/contracts), with `overrides`."""
    kinesis, s3 = local_stack.client("kinesis"), local_stack.client("s3")
    for bucket in buckets:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": local_stack.region}
        )
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    dms = tmp_path / "dms"
    shutil.copytree(DMS_DIR, dms)
    (dms / "table-mappings.json").write_bytes(
        dms_config.dumps(dms_config.table_mappings(contracts))
    )
    named = {
        "batch_bucket": buckets[0],
        **({"dead_letter_bucket": buckets[1]} if len(buckets) > 1 else {}),
    }
    return dataclasses.replace(
        stack_settings, dms_dir=dms, contracts_dir=tmp_path / "contracts", **named, **overrides
    )


@dataclass
class Imported:
    source: str
    warehouse: str
    contracts: list[TableContract]
    pipeline: Pipeline
    notes: list[str]
    bucket: str


@contextmanager
def imported_pipeline(
    local_stack, stack_settings, tmp_path: Path, *ddl: str, schema: str = "public"
) -> Iterator[Imported]:
    src, wh = _database(local_stack, "src"), _database(local_stack, "wh")
    source, warehouse = local_stack.dsn(src), local_stack.dsn(wh)
    pipeline = None
    try:
        sql(source, *ddl)
        notes: list[str] = []
        import_contracts(source, schema, None, tmp_path / "contracts", notes.append)
        contracts = load_contracts(tmp_path / "contracts")
        stream, bucket = f"imp-{uuid.uuid4().hex[:8]}", f"batches-{uuid.uuid4().hex[:8]}"
        settings = private_stack(local_stack, stack_settings, tmp_path, contracts, stream, bucket)
        state = dataclasses.replace(local_stack, stream_name=stream)
        pipeline = Pipeline(
            settings, state, contracts, source_dsn=source, warehouse_dsn=warehouse,
            application=f"app-{uuid.uuid4().hex[:8]}",
        )  # fmt: skip
        pipeline.capture.cfg.slot = f"slot_{src}"  # slot names are per cluster
        yield Imported(source, warehouse, contracts, pipeline, notes, bucket)
    finally:
        if pipeline is not None:
            pipeline.stop()
        _drop(local_stack, src)
        _drop(local_stack, wh)
