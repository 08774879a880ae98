"""The planning step of the Step Functions load: what is pending, and the SQL to load it.

Pending = manifests whose first sequence number is past the shard's watermark (stored in S3,
advanced only by the state machine's last step, after every table loaded). For each table with
pending files it writes a Redshift COPY manifest (Parquet needs each file's content_length) and
renders the table's load plan for Redshift. A failed execution leaves the watermark where it
was, so the next one plans the same batches again; the ledger inside each plan skips the
batches that had been applied, so nothing is applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.contracts.model import TableContract
from consumers.sink.writer import MANIFEST_PREFIX, BatchManifest
from consumers.warehouse.dialect import RedshiftDialect
from consumers.warehouse.plan import build_load
from consumers.warehouse.truncate import TruncationLog

MAX_BATCH_STATEMENTS = 40  # Redshift Data API BatchExecuteStatement limit


@dataclass(frozen=True)
class PlannerConfig:
    batch_bucket: str
    copy_role_arn: str
    contracts: dict[str, TableContract]
    watermark_key: str = "orchestration/watermark.json"
    copy_prefix: str = "copy-manifests"
    prefix: str = ""  # "replays/<run>/" plans a replay's batches (with their own watermark)

    @property
    def watermark(self) -> str:
        return f"orchestration/{self.prefix}watermark.json" if self.prefix else self.watermark_key


def read_watermark(s3: Any, cfg: PlannerConfig) -> dict[str, str]:
    try:
        body = s3.get_object(Bucket=cfg.batch_bucket, Key=cfg.watermark)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    value: dict[str, str] = orjson.loads(body)
    return value


def pending_manifests(
    s3: Any, cfg: PlannerConfig, watermark: dict[str, str]
) -> list[tuple[BatchManifest, datetime]]:
    """Manifests past the watermark, each with the time S3 stored it, by shard and sequence."""
    found = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=cfg.batch_bucket, Prefix=f"{cfg.prefix}{MANIFEST_PREFIX}/"
    )
    for page in pages:
        for obj in page.get("Contents", []):
            shard, span = obj["Key"][len(cfg.prefix) :].split("/")[1:3]
            first = int(span.split("-")[0])
            if shard in watermark and first <= int(watermark[shard]):
                continue
            body = s3.get_object(Bucket=cfg.batch_bucket, Key=obj["Key"])["Body"].read()
            found.append((BatchManifest.from_json(body), obj["LastModified"]))
    return sorted(found, key=lambda p: (p[0].shard_id, int(p[0].first_sequence)))


def plan(s3: Any, cfg: PlannerConfig, run_id: str, iteration: int = 0) -> dict[str, Any]:
    watermark = read_watermark(s3, cfg)
    pending = pending_manifests(s3, cfg, watermark)
    manifests = [m for m, _ in pending]
    now = datetime.now(UTC)
    files: dict[str, list[dict[str, Any]]] = {}
    for m in manifests:
        for f in m.files:
            url = f"s3://{cfg.batch_bucket}/{f.key}"
            files.setdefault(f.table, []).append(
                {"url": url, "mandatory": True, "meta": {"content_length": f.bytes}}
            )
        shard_mark = watermark.get(m.shard_id)
        if shard_mark is None or int(m.last_sequence) > int(shard_mark):
            watermark[m.shard_id] = m.last_sequence
    tables = []
    dialect = RedshiftDialect()
    for table in sorted(files):
        contract = cfg.contracts.get(table)
        if contract is None:
            raise ValueError(f"manifest lists table {table}, which has no contract")
        key = f"{cfg.copy_prefix}/{run_id}/{iteration + 1}/{table}.json"
        s3.put_object(
            Bucket=cfg.batch_bucket, Key=key, Body=orjson.dumps({"entries": files[table]}),
            ContentType="application/json",
        )  # fmt: skip
        sqls = build_load(
            dialect, contract, manifest_url=f"s3://{cfg.batch_bucket}/{key}",
            iam_role=cfg.copy_role_arn, truncations=TruncationLog.of(cfg.contracts),
        ).statements  # fmt: skip
        if len(sqls) > MAX_BATCH_STATEMENTS:
            raise ValueError(f"{table}'s load plan has {len(sqls)} statements, over 40")
        tables.append({"table": table, "sqls": sqls, "files": len(files[table])})
    return {
        "run_id": run_id,
        "prefix": cfg.prefix,
        "iteration": iteration + 1,
        "pending": bool(tables),
        "tables": tables,
        "watermark": watermark,
        "manifests": len(manifests),
        # Warehouse freshness, as the planner sees it: how long the oldest batch not yet loaded
        # has waited on S3 (0 when nothing waits). The plan handler publishes it as a metric.
        "oldest_pending_seconds": round(
            max(((now - t).total_seconds() for _, t in pending), default=0.0), 3
        ),
    }


def commit(s3: Any, cfg: PlannerConfig, watermark: dict[str, str]) -> dict[str, str]:
    """Advance the watermark (never backwards), after every table of the run loaded."""
    current = read_watermark(s3, cfg)
    for shard, seq in watermark.items():
        if shard not in current or int(seq) > int(current[shard]):
            current[shard] = seq
    s3.put_object(
        Bucket=cfg.batch_bucket, Key=cfg.watermark, Body=orjson.dumps(current),
        ContentType="application/json",
    )  # fmt: skip
    return current
