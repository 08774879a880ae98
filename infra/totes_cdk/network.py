"""Network and shared keys: one VPC (public subnets for NAT only, private subnets with egress
for DMS, the consumers and the warehouse), flow logs, the S3 gateway endpoint the warehouse's
COPY uses (enhanced VPC routing), one customer-managed KMS key, and the alert topic."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from .config import Config

# Key administration, spelled out: no `kms:*` anywhere, even for the account's administrators.
KEY_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
]
KEY_USE_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


class NetworkStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: Config, **kw: object) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{cfg.prefix}",
            description=f"{cfg.prefix}: stream, lake, logs, topic, warehouse",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="AccountAdministers",
                        principals=[iam.AccountRootPrincipal()],
                        actions=KEY_ADMIN_ACTIONS + KEY_USE_ACTIONS,
                        resources=["*"],  # in a key policy, "*" is this key
                    ),
                    iam.PolicyStatement(
                        sid="ServicesEncrypt",
                        principals=[
                            iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com"),
                            iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                            iam.ServicePrincipal("events.amazonaws.com"),
                        ],
                        actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                        resources=["*"],
                    ),
                ]
            ),
        )

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            availability_zones=[f"{cfg.region}{az}" for az in "abc"],
            nat_gateways=cfg.natGateways,
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
        )
        self.alerts = sns.Topic(
            self, "Alerts", topic_name=f"{cfg.prefix}-alerts", master_key=self.key
        )
        if cfg.alarmEmail:
            self.alerts.add_subscription(subs.EmailSubscription(cfg.alarmEmail))
        self.alerts.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TlsOnly",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sns:Publish"],
                resources=[self.alerts.topic_arn],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            )
        )
        self.log_retention = Duration.days(cfg.logRetentionDays)
