"""Load: the Step Functions state machine of consumers/orchestration/state_machine.py (deployed
as built there), its planning and commit Lambdas (image `planner` of infra/Dockerfile), an
EventBridge schedule that starts an execution every minute, and the failure notifications
(the state machine publishes to the alert topic, then fails).

The Data API signs in with IAM (no secret): the state machine's role is the database user
`IAMR:<role name>`, granted `cdc_loader` by the warehouse bootstrap (README, deploy guide).
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from consumers.orchestration.state_machine import definition

from . import images
from .common import log_group
from .config import Config
from .scan import skip


class LoadStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        cfg: Config,
        key: kms.IKey,
        batches: s3.IBucket,
        alerts: sns.ITopic,
        copy_role: iam.IRole,
        workgroup_name: str,
        workgroup_arn: str,
        **kw: object,
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        env = {
            "CDC_BATCH_BUCKET": batches.bucket_name,
            "CDC_REDSHIFT_COPY_ROLE_ARN": copy_role.role_arn,
            "CDC_REGION": self.region,
        }
        self.plan = self._function("Plan", cfg, key, env, "plan_loads")
        self.commit = self._function("Commit", cfg, key, env, "commit_watermark")
        for fn in (self.plan, self.commit):
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    sid="Batches",
                    actions=["s3:GetObject", "s3:PutObject"],
                    resources=[batches.arn_for_objects("*")],
                )
            )
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ListBatches", actions=["s3:ListBucket"], resources=[batches.bucket_arn]
                )
            )
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    sid="Key",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                )
            )

        sm_logs = log_group(self, "StateMachineLogs", cfg, key, "load")
        body = definition(
            plan_function_arn=self.plan.function_arn,
            commit_function_arn=self.commit.function_arn,
            workgroup=workgroup_name,
            database=cfg.database,
            failure_topic_arn=alerts.topic_arn,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Load",
            state_machine_name=f"{cfg.prefix}-load",
            definition_body=sfn.DefinitionBody.from_string(json.dumps(body)),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=sm_logs, level=sfn.LogLevel.ERROR),
        )
        role = self.state_machine.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeHandlers",
                actions=["lambda:InvokeFunction"],
                resources=[self.plan.function_arn, self.commit.function_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunStatements",
                actions=["redshift-data:BatchExecuteStatement"],
                resources=[workgroup_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SignInWithIam",
                actions=["redshift-serverless:GetCredentials"],
                resources=[workgroup_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                # DescribeStatement has no resource-level permissions (IAM reference); the
                # condition limits it to statements this role ran.
                sid="PollStatements",
                actions=["redshift-data:DescribeStatement"],
                resources=["*"],
                conditions={
                    "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[alerts.topic_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="Key", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
            )
        )

        CfnOutput(
            self,
            "LoaderDatabaseUser",
            value=Fn.join("", ["IAMR:", role.role_name]),
            description="cdc warehouse bootstrap --loader-user <this>: the loads' database user",
        )
        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        self.schedule = events.Rule(
            self,
            "EveryMinute",
            rule_name=f"{cfg.prefix}-load",
            description="start a load execution every minute (each one loops ~1 minute)",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object({"iteration": 0, "prefix": ""}),
                )
            ],
        )

    def _function(
        self, cid: str, cfg: Config, key: kms.IKey, env: dict[str, str], handler: str
    ) -> lambda_.DockerImageFunction:
        fn_logs = log_group(self, f"{cid}Logs", cfg, key, cid.lower())
        # Its own role, instead of AWSLambdaBasicExecutionRole (logs:* actions on every group).
        role = iam.Role(self, f"{cid}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[fn_logs.log_group_arn],
            )
        )
        fn = lambda_.DockerImageFunction(
            self,
            cid,
            role=role,
            function_name=f"{cfg.prefix}-{cid.lower()}",
            code=lambda_.DockerImageCode.from_image_asset(
                images.CONTEXT,
                file=images.DOCKERFILE,
                target="planner",
                exclude=images.EXCLUDE,
                cmd=[f"consumers.orchestration.handlers.{handler}"],
            ),
            memory_size=1024,
            timeout=Duration.minutes(2),
            environment=env,
            environment_encryption=key,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=fn_logs,
        )
        skip(
            fn, "CKV_AWS_116", "invoked synchronously by Step Functions, which retries and catches"
        )
        skip(fn, "CKV_AWS_117", "talks only to S3 over TLS; no private resources to reach")
        skip(
            fn,
            "CKV_AWS_115",
            "reserved concurrency would fail in accounts at the minimum unreserved limit; "
            "the schedule runs at most a few executions at once",
        )
        return fn
