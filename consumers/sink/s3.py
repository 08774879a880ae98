"""Durable S3 writes: retried with backoff on transient errors, then a loud TransientError.

`is_transient` is the one place that classifies S3/botocore errors for this backend."""

from __future__ import annotations

from typing import Any

from botocore import exceptions as bx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from consumers.errors import TransientError

_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestTimeTooSkewed",
}


def is_transient(e: BaseException) -> bool:
    if isinstance(e, bx.EndpointConnectionError | bx.ConnectionClosedError | bx.ReadTimeoutError):
        return True
    if isinstance(e, bx.ConnectionError):
        return True
    if isinstance(e, bx.ClientError):
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return bool(status >= 500 or e.response.get("Error", {}).get("Code") in _TRANSIENT_CODES)
    return False


def put_durably(
    s3: Any,
    bucket: str,
    key: str,
    body: bytes,
    *,
    attempts: int = 8,
    max_wait: float = 4.0,
    content_type: str = "application/octet-stream",
) -> None:
    try:
        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_exponential(multiplier=0.1, max=max_wait),
            stop=stop_after_attempt(attempts),
            reraise=False,
        ):
            with attempt:
                s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except RetryError as e:
        cause = e.last_attempt.exception()
        raise TransientError(
            f"S3 put of s3://{bucket}/{key} failed {attempts} times ({cause}): "
            "nothing was checkpointed; the shard will be re-read from its last checkpoint"
        ) from None
