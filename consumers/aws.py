"""boto3 clients for AWS or the local moto server, with botocore's standard retry mode."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5)


def client(service: str, *, endpoint_url: str | None, region: str) -> Any:
    """A client for `service`; against a local endpoint it uses moto's dummy credentials."""
    kwargs: dict[str, Any] = {"region_name": region, "config": _RETRIES}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        kwargs["aws_access_key_id"] = os.environ.get("AWS_ACCESS_KEY_ID", "testing")
        kwargs["aws_secret_access_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")
    make: Any = boto3.client  # one call site for every service: typed as Any on purpose
    return make(service, **kwargs)
