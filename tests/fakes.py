"""In-process fakes for unit tests of a single module (integration tests use moto over HTTP)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class FakeS3:
    """put_object into a dict; `fail` makes the next N puts raise a 503."""

    def __init__(self, fail: int = 0) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.content_types: dict[tuple[str, str], str | None] = {}
        self.fail = fail
        self.puts = 0

    def put_object(self, Bucket: str, Key: str, Body: bytes, **extra: Any) -> dict[str, Any]:
        self.puts += 1
        if self.fail:
            self.fail -= 1
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "try again"},
                 "ResponseMetadata": {"HTTPStatusCode": 503}},
                "PutObject",
            )  # fmt: skip
        self.objects[(Bucket, Key)] = bytes(Body)
        self.content_types[(Bucket, Key)] = extra.get("ContentType")
        return {}

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for _, k in self.objects if k.startswith(prefix))
