"""Lambda handlers the load state machine calls. Configured by environment variables:
CDC_BATCH_BUCKET, CDC_REDSHIFT_COPY_ROLE_ARN, CDC_CONTRACTS (the packaged schemas/), CDC_REGION,
and CDC_AWS_ENDPOINT_URL only for tests against moto."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    return planner.plan(s3, cfg, run_id, int(event.get("iteration", 0)))


def commit_watermark(event: dict[str, Any], context: Any) -> dict[str, Any]:
    s3, cfg = _config(str(event.get("prefix", "")))
    return {"watermark": planner.commit(s3, cfg, event["watermark"])}
