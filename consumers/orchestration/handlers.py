"""Lambda handlers the load state machine calls. Configured by environment variables:
CDC_BATCH_BUCKET, CDC_REDSHIFT_COPY_ROLE_ARN, CDC_CONTRACTS (the packaged schemas/), CDC_REGION,
and CDC_AWS_ENDPOINT_URL only for tests against moto."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from consumers import aws
from consumers.contracts.model import load_contracts
from consumers.orchestration import planner
from consumers.settings import Settings


def _config(prefix: str = "") -> tuple[Any, planner.PlannerConfig]:
    s = Settings()
    s3 = aws.client(
        "s3", endpoint_url=os.environ.get("CDC_AWS_ENDPOINT_URL") or None, region=s.region
    )
    contracts = {c.qualified: c for c in load_contracts(Path(s.contracts_dir))}
    cfg = planner.PlannerConfig(
        batch_bucket=s.batch_bucket,
        copy_role_arn=os.environ["CDC_REDSHIFT_COPY_ROLE_ARN"],
        contracts=contracts,
        prefix=prefix,
    )
    return s3, cfg


def plan_loads(event: dict[str, Any], context: Any) -> dict[str, Any]:
    s3, cfg = _config(str(event.get("prefix", "")))
    run_id = str(event.get("run_id") or getattr(context, "aws_request_id", "local"))
    result = planner.plan(s3, cfg, run_id, int(event.get("iteration", 0)))
    if not result["prefix"]:  # a replay's backlog is not the live warehouse's freshness
        print(freshness_metric(result), flush=True)
    return result


METRIC_NAMESPACE = "TotesCdc"


def freshness_metric(result: dict[str, Any]) -> str:
    """One CloudWatch Embedded Metric Format line: Lambda's log turns it into the metric
    TotesCdc/OldestPendingBatchSeconds (no PutMetricData permission needed). The alarm on it
    treats missing data as breaching, so a planner that stopped running alarms too."""
    doc = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [[]],
                    "Metrics": [{"Name": "OldestPendingBatchSeconds", "Unit": "Seconds"}],
                }
            ],
        },
        "OldestPendingBatchSeconds": result["oldest_pending_seconds"],
        "prefix": result["prefix"],
        "manifests": result["manifests"],
    }
    return orjson.dumps(doc).decode()


def commit_watermark(event: dict[str, Any], context: Any) -> dict[str, Any]:
    s3, cfg = _config(str(event.get("prefix", "")))
    return {"watermark": planner.commit(s3, cfg, event["watermark"])}
