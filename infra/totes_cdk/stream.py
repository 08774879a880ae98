"""The change stream: a KMS-encrypted Kinesis Data Stream, provisioned (shardCount) or on-demand,
holding `retentionHours` of changes: the window `cdc replay` can re-read."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from .config import Config


class StreamStack(Stack):
    def __init__(
        self, scope: Construct, cid: str, *, cfg: Config, key: kms.IKey, **kw: object
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        on_demand = cfg.streamMode == "on-demand"
        self.stream = kinesis.Stream(
            self,
            "Changes",
            stream_name=cfg.stream_name,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            retention_period=Duration.hours(cfg.retentionHours),
            stream_mode=kinesis.StreamMode.ON_DEMAND
            if on_demand
            else kinesis.StreamMode.PROVISIONED,
            shard_count=None if on_demand else cfg.shardCount,
        )
