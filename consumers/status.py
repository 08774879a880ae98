"""`cdc status`: one screen for operators.

Per table: source and warehouse row counts, freshness (now minus the newest applied source
commit), the last load and its duration (from the ledger). Per shard: the consumers' checkpoint
(lease table) and millisBehindLatest (a GetRecords after the checkpoint), and dead letters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from consumers.contracts.model import TableContract
from consumers.db import source_and_warehouse
from consumers.kcl.leases import SHARD_END, LeaseTable
from consumers.sink.writer import DEAD_LETTER_PREFIX
from consumers.warehouse.dialect import LEDGER, q


def tables(
    source_dsn: str, warehouse_dsn: str, contracts: list[TableContract]
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    with source_and_warehouse(source_dsn, warehouse_dsn) as (src, wh):
        for c in contracts:
            table = f"{q(c.schema)}.{q(c.name)}"
            target = f"{q(c.warehouse_schema)}.{q(c.warehouse_table)}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            row = src.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            entry: dict[str, Any] = {"table": c.qualified, "source_rows": row[0] if row else 0}
            try:
                count, newest = wh.execute(  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                    f'SELECT count(*) FILTER (WHERE NOT "_cdc_deleted"), max("_cdc_commit_ts") '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                    f"FROM {target}".encode()
                ).fetchone() or (0, None)
                last = wh.execute(
                    "SELECT max(applied_at), CAST(extract(epoch FROM "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                    f"max(applied_at - started_at)) AS float) FROM {LEDGER} "
                    "WHERE table_name = %s AND applied_at = (SELECT max(applied_at) FROM "
                    f"{LEDGER} WHERE table_name = %s)",
                    (c.qualified, c.qualified),
                ).fetchone() or (None, None)
            except psycopg.errors.UndefinedTable:
                wh.rollback()
                count, newest, last = None, None, (None, None)
            entry["warehouse_rows"] = count
            entry["freshness_s"] = (now - newest).total_seconds() if newest else None
            entry["last_load"] = last[0].isoformat() if last[0] else None
            entry["last_load_seconds"] = last[1]
            out.append(entry)
    return out


def shards(kinesis: Any, dynamodb: Any, stream: str, application: str) -> list[dict[str, Any]]:
    leases = LeaseTable(dynamodb, application)
    out = []
    for s in kinesis.list_shards(StreamName=stream)["Shards"]:
        shard = s["ShardId"]
        try:
            checkpoint = leases.checkpoint_of(shard)
        except ClientError:
            checkpoint = None  # no lease table yet: the consumers have not run
        behind = None
        if checkpoint and checkpoint != SHARD_END:
            args: dict[str, Any] = {"StreamName": stream, "ShardId": shard}
            if checkpoint.isdigit():
                args |= {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "StartingSequenceNumber": checkpoint,
                }
            else:
                args["ShardIteratorType"] = (
                    checkpoint if checkpoint != "AT_TIMESTAMP" else "TRIM_HORIZON"
                )
            it = kinesis.get_shard_iterator(**args)["ShardIterator"]
            behind = kinesis.get_records(ShardIterator=it, Limit=1).get("MillisBehindLatest")
        out.append({"shard": shard, "checkpoint": checkpoint, "millis_behind_latest": behind})
    return out


def dead_letters(s3: Any, bucket: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{DEAD_LETTER_PREFIX}/"
    )
    for page in pages:
        for obj in page.get("Contents", []):
            shard = obj["Key"].split("/")[1]
            counts[shard] = counts.get(shard, 0) + 1
    return counts
