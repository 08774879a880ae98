"""Pieces every stack builds the same way."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from .config import Config, log_retention


def log_group(scope: Construct, cid: str, cfg: Config, key: kms.IKey, name: str) -> logs.LogGroup:
    """`/<prefix>/<name>`, KMS-encrypted, kept `logRetentionDays`, retained on stack deletion."""
    return logs.LogGroup(
        scope,
        cid,
        log_group_name=f"/{cfg.prefix}/{name}",
        retention=log_retention(cfg.logRetentionDays),
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN,
    )
