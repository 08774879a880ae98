"""Warehouse: Redshift Serverless namespace and workgroup in the private subnets, not publicly
accessible, KMS-encrypted, with enhanced VPC routing (COPY reads S3 through the VPC's gateway
endpoint). Redshift manages the admin password in Secrets Manager (ManageAdminPassword); the
role COPY uses reads only the batch bucket. The one-time bootstrap (sql/bootstrap.redshift.sql)
is in the deploy guide (README).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_redshiftserverless as rs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .config import Config

REDSHIFT_PORT = 5439


class WarehouseStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        cfg: Config,
        vpc: ec2.IVpc,
        key: kms.IKey,
        batches: s3.IBucket,
        **kw: object,
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        self.copy_role = iam.Role(
            self,
            "CopyRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("redshift.amazonaws.com"),
                iam.ServicePrincipal("redshift-serverless.amazonaws.com"),
            ),
            description="Redshift COPY reads the batches and their COPY manifests",
        )
        self.copy_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetBucketLocation", "s3:ListBucket"],
                resources=[batches.bucket_arn, batches.arn_for_objects("*")],
            )
        )
        self.copy_role.add_to_policy(
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn])
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=vpc,
            description="Redshift Serverless workgroup: clients inside the VPC only",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(REDSHIFT_PORT), "clients in the VPC"
        )
        self.security_group.add_egress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "S3 gateway endpoint / VPC"
        )
        self.namespace_name = cfg.prefix
        self.namespace = rs.CfnNamespace(
            self,
            "Namespace",
            namespace_name=self.namespace_name,
            db_name=cfg.database,
            admin_username="cdc_admin",
            manage_admin_password=True,
            admin_password_secret_kms_key_id=key.key_arn,
            kms_key_id=key.key_arn,
            iam_roles=[self.copy_role.role_arn],
            default_iam_role_arn=self.copy_role.role_arn,
            log_exports=["userlog", "connectionlog", "useractivitylog"],
        )
        self.workgroup_name = cfg.prefix
        self.workgroup = rs.CfnWorkgroup(
            self,
            "Workgroup",
            workgroup_name=self.workgroup_name,
            namespace_name=self.namespace_name,
            base_capacity=cfg.redshiftBaseCapacity,
            publicly_accessible=False,
            enhanced_vpc_routing=True,
            port=REDSHIFT_PORT,
            subnet_ids=vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
            ).subnet_ids,
            security_group_ids=[self.security_group.security_group_id],
            config_parameters=[
                rs.CfnWorkgroup.ConfigParameterProperty(
                    parameter_key="require_ssl", parameter_value="true"
                ),
                rs.CfnWorkgroup.ConfigParameterProperty(
                    parameter_key="enable_user_activity_logging", parameter_value="true"
                ),
            ],
        )
        self.workgroup.add_resource_dependency(self.namespace)
        self.workgroup_arn = self.workgroup.attr_workgroup_workgroup_arn
        CfnOutput(self, "WorkgroupName", value=self.workgroup_name)
        CfnOutput(self, "Database", value=cfg.database)
        CfnOutput(self, "Endpoint", value=self.workgroup.attr_workgroup_endpoint_address)
