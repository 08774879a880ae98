"""`cdc replay`: re-read the stream from a time (AT_TIMESTAMP) or from its start (TRIM_HORIZON)
with a fresh consumer application (its own lease table, so live consumers keep going), write the
batches under a prefix of their own, and load them through the normal path, into the live
schema or into another one (a rebuild beside the live tables). The ledger and the version guard
make the live tables end exactly as they would have anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.contracts.model import TableContract
from consumers.errors import CdcError
from consumers.kcl.driver import Driver, DriverConfig, processor_env
from consumers.settings import Settings
from consumers.warehouse.local import LocalWarehouse


@dataclass
class ReplayResult:
    run_id: str
    prefix: str
    records: int
    batches: int
    loads: int
    rows_staged: int


def check_retention(kinesis: Any, stream: str, start: datetime | None) -> None:
    if start is None:
        return
    hours = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "RetentionPeriodHours"
    ]
    oldest = datetime.now(UTC) - timedelta(hours=hours)
    if start < oldest:
        raise CdcError(
            f"--from {start.isoformat()} is older than stream {stream}'s retention of {hours} h: "
            f"the oldest replayable time is {oldest.isoformat(timespec='seconds')} "
            "(or use --from-start)"
        )


def replay(
    settings: Settings,
    *,
    kinesis: Any,
    dynamodb: Any,
    s3: Any,
    stream: str,
    endpoint_url: str | None,
    region: str,
    warehouse_dsn: str | None,
    contracts: list[TableContract],
    start: datetime | None,
    into_schema: str | None = None,
    timeout: float = 600,
) -> ReplayResult:
    """Without a warehouse DSN only the re-read happens (stage only): on AWS the load state
    machine then loads the batches when started with {"prefix": <the replay's prefix>}."""
    check_retention(kinesis, stream, start)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    prefix = f"replays/{run_id}/"
    driver = Driver(
        DriverConfig(
            stream=stream,
            application=f"totesys-cdc-replay-{run_id}",
            initial_position="AT_TIMESTAMP" if start else "TRIM_HORIZON",
            at_timestamp=start,
            processor_env=processor_env(settings, endpoint_url, region, prefix),
        ),
        kinesis,
        dynamodb,
    )
    driver.start()
    try:
        deadline = time.monotonic() + timeout
        while not driver.caught_up():
            if time.monotonic() > deadline:
                raise CdcError(f"replay did not catch up with the stream within {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        driver.stop()
    loads = []
    if warehouse_dsn is not None:
        warehouse = LocalWarehouse(
            warehouse_dsn, contracts, s3, settings.batch_bucket, prefix=prefix,
            into_schema=into_schema,
        )  # fmt: skip
        warehouse.bootstrap()
        loads = warehouse.run_once()
    views = driver.views.values()
    return ReplayResult(
        run_id,
        prefix,
        sum(v.records for v in views),
        sum(v.batches for v in views),
        len(loads),
        sum(load.staged_rows for load in loads),
    )
