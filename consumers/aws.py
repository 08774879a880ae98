"""boto3 clients for AWS or the local moto server, with botocore's standard retry mode."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.utils import parse_timestamp

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5)


def epoch_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, fast for epoch seconds. Kinesis's JSON protocol sends every
    record's ApproximateArrivalTimestamp as epoch seconds, and botocore's default turns each into
    a datetime in dateutil's tzlocal: ~28 µs a record, as much as the rest of the local driver's
    work on it (py-spy, bench/throughput.py). The same instant, in UTC; text goes to botocore."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    result: datetime = parse_timestamp(value)
    return result


def _session(service: str) -> Any:
    if service != "kinesis":
        return boto3
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=epoch_timestamp
    )
    return boto3.session.Session(botocore_session=core)


def client(service: str, *, endpoint_url: str | None, region: str) -> Any:
    """A client for `service`; against a local endpoint it uses moto's dummy credentials."""
    kwargs: dict[str, Any] = {"region_name": region, "config": _RETRIES}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        kwargs["aws_access_key_id"] = os.environ.get("AWS_ACCESS_KEY_ID", "testing")
        kwargs["aws_secret_access_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")
    make: Any = _session(service).client  # one call site for every service: typed as Any
    return make(service, **kwargs)
