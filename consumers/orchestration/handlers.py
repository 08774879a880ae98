"""Lambda handlers the load state machine calls. Configured by environment variables:
CDC_BATCH_BUCKET, CDC_REDSHIFT_COPY_ROLE_ARN, CDC_CONTRACTS (the packaged schemas/), CDC_REGION,
and CDC_AWS_ENDPOINT_URL only for tests against moto."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import orjson

from consumers import aws
from consumers.contracts.model import TableContract, load_contracts
from consumers.orchestration import planner
from consumers.settings import Settings


@functools.cache
def _client_and_contracts(
    endpoint: str | None, region: str, contracts_dir: str
) -> tuple[Any, dict[str, TableContract]]:
    """Made once per Lambda container, not per invocation: the state machine calls the planner
    every round, and the client and the contract files do not change between calls (the key
    only matters to tests that change the environment in one process)."""
    s3 = aws.client("s3", endpoint_url=endpoint, region=region)
    return s3, {c.qualified: c for c in load_contracts(Path(contracts_dir))}


def _config(prefix: str = "") -> tuple[Any, planner.PlannerConfig]:
    s = Settings()
    s3, contracts = _client_and_contracts(
        os.environ.get("CDC_AWS_ENDPOINT_URL") or None, s.region, str(s.contracts_dir)
    )
    cfg = planner.PlannerConfig(
        batch_bucket=s.batch_bucket,
        copy_role_arn=os.environ["CDC_REDSHIFT_COPY_ROLE_ARN"],
        contracts=contracts,
        prefix=prefix,
    )
    return s3, cfg


def plan_loads(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Plan a round ({"run_id", "iteration", "prefix"}), or, called by a Map item with
    {"render": {"table", "manifest_url"}}, return that table's statements ({"sqls": [...]})."""
    s3, cfg = _config(str(event.get("prefix", "")))
    if "render" in event:
        item = event["render"]
        return {"sqls": planner.statements(cfg, item["table"], item["manifest_url"])}
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
    result = planner.commit(s3, cfg, event["watermark"], event.get("results"))
    print(load_failure_metrics(result), flush=True)
    return result


def load_failure_metrics(result: dict[str, Any]) -> str:
    """EMF: TotesCdc/QuarantinedBatches (batches set aside for their data) and
    TotesCdc/FailedTableLoads (tables that failed for another reason and hold the watermark),
    with the tables and reasons in the same log line."""
    doc = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [[]],
                    "Metrics": [
                        {"Name": "QuarantinedBatches", "Unit": "Count"},
                        {"Name": "FailedTableLoads", "Unit": "Count"},
                    ],
                }
            ],
        },
        "QuarantinedBatches": len(result["quarantined"]),
        "FailedTableLoads": len(result["held"]),
        "quarantined": result["quarantined"],
        "held": result["held"],
    }
    return orjson.dumps(doc).decode()
