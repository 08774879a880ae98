"""Consumers: an ECS Fargate service running the KCL MultiLangDaemon with our record processor
(image `consumer` of infra/Dockerfile), scaled on the stream's iterator age.

KCL 3.x keeps three DynamoDB tables named after the application: the lease table `<app>` (with
a global secondary index on leaseOwner), `<app>-WorkerMetricStats` and `<app>-CoordinatorState`;
it creates them itself, so the task role may create and use exactly those (Kinesis Data Streams
Developer Guide, "IAM permissions required for KCL consumer applications"). More tasks than
shards would sit idle, so the service scales between 1 and `consumerMaxTasks`.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from . import images
from .common import log_group
from .config import Config

DEAD_LETTER_PATTERN = '"dead letter shard="'  # the processor's log line for each dead letter


class ConsumersStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        cfg: Config,
        vpc: ec2.IVpc,
        key: kms.IKey,
        stream: kinesis.IStream,
        batches: s3.IBucket,
        dead_letters: s3.IBucket,
        **kw: object,
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        self.logs = log_group(self, "Logs", cfg, key, "consumers")
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            cluster_name=f"{cfg.prefix}-consumers",
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=cfg.consumerCpu,
            memory_limit_mib=cfg.consumerMemoryMiB,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        task.add_container(
            "kcl",
            image=ecs.ContainerImage.from_asset(
                images.CONTEXT, file=images.DOCKERFILE, target="consumer", exclude=images.EXCLUDE
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="kcl", log_group=self.logs),
            readonly_root_filesystem=False,
            environment={
                "CDC_STREAM": stream.stream_name,
                "CDC_KCL_APPLICATION": cfg.kcl_application,
                "CDC_REGION": self.region,
                "CDC_BATCH_BUCKET": batches.bucket_name,
                "CDC_DEAD_LETTER_BUCKET": dead_letters.bucket_name,
            },
        )
        self._grant(task.task_role, cfg, key, stream, batches, dead_letters)

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            service_name=f"{cfg.prefix}-consumers",
            desired_count=1,
            assign_public_ip=False,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
        )
        self.iterator_age = cw.Metric(
            namespace="AWS/Kinesis",
            metric_name="GetRecords.IteratorAgeMilliseconds",
            dimensions_map={"StreamName": stream.stream_name},
            statistic="Maximum",
            period=Duration.minutes(1),
        )
        scaling = self.service.auto_scale_task_count(
            min_capacity=1, max_capacity=cfg.consumerMaxTasks
        )
        scaling.scale_on_metric(
            "IteratorAge",
            metric=self.iterator_age,
            scaling_steps=[
                appscaling.ScalingInterval(upper=30_000, change=-1),
                appscaling.ScalingInterval(lower=60_000, upper=300_000, change=+1),
                appscaling.ScalingInterval(lower=300_000, change=+2),
            ],
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.minutes(3),
        )
        self.dead_letter_count = logs.MetricFilter(
            self,
            "DeadLetters",
            log_group=self.logs,
            filter_pattern=logs.FilterPattern.literal(DEAD_LETTER_PATTERN),
            metric_namespace="TotesCdc",
            metric_name="DeadLetters",
            metric_value="1",
            default_value=0,
        ).metric(statistic="Sum", period=Duration.minutes(5))

    def _grant(
        self,
        role: iam.IRole,
        cfg: Config,
        key: kms.IKey,
        stream: kinesis.IStream,
        batches: s3.IBucket,
        dead_letters: s3.IBucket,
    ) -> None:
        app = cfg.kcl_application
        table = f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table"
        statements = [
            iam.PolicyStatement(
                sid="ReadStream",
                actions=[
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                resources=[stream.stream_arn],
            ),
            iam.PolicyStatement(
                sid="LeaseTable",
                actions=[
                    "dynamodb:CreateTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                resources=[
                    f"{table}/{app}",
                    f"{table}/{app}/index/*",
                    f"{table}/{app}-WorkerMetricStats",
                    f"{table}/{app}-CoordinatorState",
                ],
            ),
            iam.PolicyStatement(
                sid="WriteBatches",
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[batches.arn_for_objects("*"), dead_letters.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                sid="ListBatches",
                actions=["s3:ListBucket"],
                resources=[batches.bucket_arn, dead_letters.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="Key",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                # PutMetricData has no resource-level permissions; the namespace condition
                # limits it to the KCL's own metrics.
                sid="KclMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": app}},
            ),
        ]
        for s in statements:
            role.add_to_principal_policy(s)
