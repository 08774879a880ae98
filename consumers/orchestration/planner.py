"""The planning step of the Step Functions load: what is pending, and the SQL to load it.

Pending = manifests whose first sequence number is past the shard's watermark (stored in S3,
advanced only by the state machine's last step, after every table loaded). For each table with
pending files it writes a Redshift COPY manifest (Parquet needs each file's content_length) and
renders the table's load plan for Redshift. A failed execution leaves the watermark where it
was, so the next one plans the same batches again; the ledger inside each plan skips the
batches that had been applied, so nothing is applied twice.

Quarantine (a table's load that failed for its data, see warehouse/failures.py): `commit`
records each batch of that load as `<prefix>quarantine/<table>/<batch id>.json` in the batch
bucket (reason, SQLSTATE, its files) and the planner leaves those (batch, table) pairs out;
`release_quarantined` turns records into `<prefix>quarantine-retry/...`, which the planner plans
again whatever the watermark, and `commit` deletes once their table loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.contracts.model import TableContract
from consumers.sink.writer import MANIFEST_PREFIX, BatchManifest
from consumers.warehouse.dialect import RedshiftDialect
from consumers.warehouse.failures import Outcome, classify_redshift
from consumers.warehouse.plan import build_load
from consumers.warehouse.truncate import TruncationLog

QUARANTINE = "quarantine"
RETRY = "quarantine-retry"

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


def _records(s3: Any, cfg: PlannerConfig, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(S3 key, record) of every quarantine (or retry) record under the prefix."""
    out = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=cfg.batch_bucket, Prefix=f"{cfg.prefix}{kind}/"
    )
    for page in pages:
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=cfg.batch_bucket, Key=obj["Key"])["Body"].read()
            out.append((obj["Key"], orjson.loads(body)))
    return out


def plan(s3: Any, cfg: PlannerConfig, run_id: str, iteration: int = 0) -> dict[str, Any]:
    watermark = read_watermark(s3, cfg)
    pending = pending_manifests(s3, cfg, watermark)
    manifests = [m for m, _ in pending]
    now = datetime.now(UTC)
    quarantined = {(r["table"], r["batch_id"]) for _, r in _records(s3, cfg, QUARANTINE)}
    files: dict[str, list[dict[str, Any]]] = {}
    batches: dict[str, list[str]] = {}

    def add(table: str, batch: str, key: str, size: int) -> None:
        if (table, batch) in quarantined:
            return
        url = f"s3://{cfg.batch_bucket}/{key}"
        files.setdefault(table, []).append(
            {"url": url, "mandatory": True, "meta": {"content_length": size}}
        )
        if batch not in batches.setdefault(table, []):
            batches[table].append(batch)

    for _, r in _records(s3, cfg, RETRY):  # released from quarantine: whatever the watermark
        for f in r["files"]:
            add(r["table"], r["batch_id"], f["key"], f["bytes"])
    for m in manifests:
        for f in m.files:
            add(f.table, m.batch_id, f.key, f.bytes)
        shard_mark = watermark.get(m.shard_id)
        if shard_mark is None or int(m.last_sequence) > int(shard_mark):
            watermark[m.shard_id] = m.last_sequence
    tables = []
    for table in sorted(files):
        key = f"{cfg.copy_prefix}/{run_id}/{iteration + 1}/{table}.json"
        manifest_url = f"s3://{cfg.batch_bucket}/{key}"
        statements(cfg, table, manifest_url)  # refuses a table without a contract, or over 40
        s3.put_object(
            Bucket=cfg.batch_bucket, Key=key, Body=orjson.dumps({"entries": files[table]}),
            ContentType="application/json",
        )  # fmt: skip
        tables.append({"table": table, "manifest_url": manifest_url, "prefix": cfg.prefix,
                       "files": len(files[table]), "batches": batches[table]})  # fmt: skip
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


def statements(cfg: PlannerConfig, table: str, manifest_url: str) -> list[str]:
    """The table's load plan for Redshift, COPYing from `manifest_url`: what a Map item runs
    (rendered per item, so no state carries every table's SQL: state_machine.py)."""
    contract = cfg.contracts.get(table)
    if contract is None:
        raise ValueError(f"manifest lists table {table}, which has no contract")
    sqls = build_load(
        RedshiftDialect(), contract, manifest_url=manifest_url, iam_role=cfg.copy_role_arn,
        truncations=TruncationLog.of(cfg.contracts),
    ).statements  # fmt: skip
    if len(sqls) > MAX_BATCH_STATEMENTS:
        raise ValueError(f"{table}'s load plan has {len(sqls)} statements, over 40")
    return sqls


def commit(
    s3: Any,
    cfg: PlannerConfig,
    watermark: dict[str, str],
    results: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """After the tables' loads (`results`: the Map's items): quarantine the batches of each
    load that failed for its data; then advance the watermark (never backwards), unless a load
    failed for another reason (its batches must be planned again)."""
    results = results or []
    held = []
    quarantined = []
    retries = {(r["table"], r["batch_id"]): key for key, r in _records(s3, cfg, RETRY)}
    for item in results:
        if not item.get("failed"):
            for (table, _batch), key in retries.items():
                if table == item["table"]:
                    s3.delete_object(Bucket=cfg.batch_bucket, Key=key)  # re-applied
            continue
        error = item.get("error") or {}
        failure = classify_redshift(None, f"{error.get('Error', '')}: {error.get('Cause', '')}")
        if failure.outcome is not Outcome.DATA:
            held.append({"table": item["table"], "outcome": failure.outcome.value,
                         "reason": failure.reason})  # fmt: skip
            continue
        for batch in item.get("batches", []):
            _quarantine(s3, cfg, item["table"], batch, failure.sqlstate, failure.reason)
            retry = retries.get((item["table"], batch))
            if retry:
                s3.delete_object(Bucket=cfg.batch_bucket, Key=retry)
            quarantined.append({"table": item["table"], "batch_id": batch})
    if held:
        return {"watermark": read_watermark(s3, cfg), "held": held, "quarantined": quarantined}
    return {"watermark": _advance(s3, cfg, watermark), "held": [], "quarantined": quarantined}


def _quarantine(
    s3: Any, cfg: PlannerConfig, table: str, batch: str, sqlstate: str | None, reason: str
) -> None:
    """The batch's files of this table come from its manifest (the COPY needs their sizes)."""
    shard, span = batch.split("/", 1)
    key = f"{cfg.prefix}{MANIFEST_PREFIX}/{shard}/{span}.json"
    manifest = BatchManifest.from_json(
        s3.get_object(Bucket=cfg.batch_bucket, Key=key)["Body"].read()
    )
    record = {
        "table": table, "batch_id": batch, "outcome": Outcome.DATA.value, "sqlstate": sqlstate,
        "reason": reason, "quarantined_at": datetime.now(UTC).isoformat(),
        "files": [{"key": f.key, "bytes": f.bytes} for f in manifest.files if f.table == table],
        "retry": "fix the cause, then release it (consumers.orchestration.planner."
        "release_quarantined) or delete this object and replay",
    }  # fmt: skip
    s3.put_object(
        Bucket=cfg.batch_bucket, Key=f"{cfg.prefix}{QUARANTINE}/{table}/{batch}.json",
        Body=orjson.dumps(record), ContentType="application/json",
    )  # fmt: skip


def release_quarantined(s3: Any, cfg: PlannerConfig, tables: list[str] | None = None) -> int:
    """Make quarantined batches load again (after their cause was fixed); returns how many."""
    n = 0
    for key, record in _records(s3, cfg, QUARANTINE):
        if tables and record["table"] not in tables:
            continue
        retry = f"{cfg.prefix}{RETRY}/{key[len(cfg.prefix) + len(QUARANTINE) + 1 :]}"
        s3.put_object(Bucket=cfg.batch_bucket, Key=retry, Body=orjson.dumps(record))
        s3.delete_object(Bucket=cfg.batch_bucket, Key=key)
        n += 1
    return n


def _advance(s3: Any, cfg: PlannerConfig, watermark: dict[str, str]) -> dict[str, str]:
    current = read_watermark(s3, cfg)
    for shard, seq in watermark.items():
        if shard not in current or int(seq) > int(current[shard]):
            current[shard] = seq
    s3.put_object(
        Bucket=cfg.batch_bucket, Key=cfg.watermark, Body=orjson.dumps(current),
        ContentType="application/json",
    )  # fmt: skip
    return current
