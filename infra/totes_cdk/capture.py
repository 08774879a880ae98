"""Capture: AWS DMS, full load + CDC from the PostgreSQL source into the Kinesis stream.

Why a replication instance and not DMS Serverless: both support a Kinesis target, but DMS
Serverless "does not support setting custom CDC start points" and must reach Kinesis and
Secrets Manager through VPC endpoints (AWS DMS User Guide, "AWS DMS Serverless limitations").
A capture that must be restartable from a known position after an incident needs custom CDC
start points, and an always-on CDC stream runs at a steady size, which an instance prices
predictably. The instance is Multi-AZ in prod.

The task is created from `infra/dms/` exactly as the local capture reads it: table mappings and
task settings verbatim, the Kinesis settings as the target endpoint's KinesisSettings, the
PostgreSQL settings as the source endpoint's PostgreSqlSettings. Settings CloudFormation does
not model yet (MapUnboundedNumericAsString, MapJsonbAsClob, MapLongVarcharAs of the source;
UseLargeIntegerValue of the target) go in the endpoint's ExtraConnectionAttributes, where DMS
accepts endpoint settings as `Name=value;` pairs.
The credentials stay in Secrets Manager (`sourceSecretName`: username, password), read by DMS
through a role; they are never in code or the template.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dms as dms
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from .config import REPO, Config

DMS_DIR = REPO / "infra" / "dms"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def dms_file(name: str) -> str:
    return (DMS_DIR / name).read_text()


def split_settings(settings: dict[str, Any], model: type) -> tuple[dict[str, Any], str]:
    """The settings CloudFormation models (as keyword arguments of `model`, a CDK property
    class), and the rest as DMS extra connection attributes `Name=value;...`."""
    accepted = set(inspect.signature(model).parameters)
    modelled = {_snake(k): v for k, v in settings.items() if _snake(k) in accepted}
    extra = ";".join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}"
        for k, v in settings.items()
        if _snake(k) not in accepted
    )
    return modelled, extra


class CaptureStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        cfg: Config,
        vpc: ec2.IVpc,
        key: kms.IKey,
        stream: kinesis.IStream,
        **kw: object,
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        service = iam.ServicePrincipal(f"dms.{self.region}.amazonaws.com")
        secret = sm.Secret.from_secret_name_v2(self, "SourceSecret", cfg.sourceSecretName)

        to_stream = iam.Role(
            self, "KinesisRole", assumed_by=service, description="DMS writes to the change stream"
        )
        to_stream.add_to_policy(
            iam.PolicyStatement(
                actions=["kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"],
                resources=[stream.stream_arn],
            )
        )
        to_stream.add_to_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn])
        )
        read_secret = iam.Role(
            self, "SecretRole", assumed_by=service, description="DMS reads the source credentials"
        )
        read_secret.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[secret.secret_arn + "-??????"],  # a by-name import lacks the suffix
            )
        )

        subnets = dms.CfnReplicationSubnetGroup(
            self,
            "Subnets",
            replication_subnet_group_description=f"{cfg.prefix} DMS",
            subnet_ids=vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
            ).subnet_ids,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=vpc,
            description="DMS replication instance: out to the source database and AWS APIs",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(cfg.sourcePort), "the source PostgreSQL"
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs")
        self.instance = dms.CfnReplicationInstance(
            self,
            "Instance",
            replication_instance_identifier=f"{cfg.prefix}-capture",
            replication_instance_class=cfg.dmsInstanceClass,
            allocated_storage=50,
            multi_az=cfg.dmsMultiAz,
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
            kms_key_id=key.key_arn,
            replication_subnet_group_identifier=subnets.ref,
            vpc_security_group_ids=[self.security_group.security_group_id],
        )

        pg, pg_extra = split_settings(
            json.loads(dms_file("postgres-settings.json")),
            dms.CfnEndpoint.PostgreSqlSettingsProperty,
        )
        self.source = dms.CfnEndpoint(
            self,
            "Source",
            endpoint_identifier=f"{cfg.prefix}-source",
            endpoint_type="source",
            engine_name="postgres",
            server_name=cfg.sourceHost,
            port=cfg.sourcePort,
            database_name=cfg.sourceDatabase,
            ssl_mode="require",
            extra_connection_attributes=pg_extra or None,
            postgre_sql_settings=dms.CfnEndpoint.PostgreSqlSettingsProperty(
                secrets_manager_secret_id=secret.secret_arn,
                secrets_manager_access_role_arn=read_secret.role_arn,
                **pg,
            ),
        )
        ks, ks_extra = split_settings(
            json.loads(dms_file("kinesis-settings.json")), dms.CfnEndpoint.KinesisSettingsProperty
        )
        self.target = dms.CfnEndpoint(
            self,
            "Target",
            endpoint_identifier=f"{cfg.prefix}-kinesis",
            endpoint_type="target",
            engine_name="kinesis",
            extra_connection_attributes=ks_extra or None,
            kinesis_settings=dms.CfnEndpoint.KinesisSettingsProperty(
                stream_arn=stream.stream_arn,
                service_access_role_arn=to_stream.role_arn,
                **ks,
            ),
        )
        self.task = dms.CfnReplicationTask(
            self,
            "Task",
            replication_task_identifier=f"{cfg.prefix}-full-load-and-cdc",
            migration_type="full-load-and-cdc",
            replication_instance_arn=self.instance.ref,
            source_endpoint_arn=self.source.ref,
            target_endpoint_arn=self.target.ref,
            table_mappings=dms_file("table-mappings.json"),
            replication_task_settings=dms_file("task-settings.json"),
        )
        CfnOutput(
            self, "TaskArn", value=self.task.ref, description="aws dms start-replication-task ..."
        )
