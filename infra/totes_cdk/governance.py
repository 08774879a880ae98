"""Lake Formation: the data-lake settings, the batch bucket registered as a data location, and
SELECT grants to the analyst role on every Glue table, of every column except those the
contracts classify `pii` (TableWithColumns + ColumnWildcard.ExcludedColumnNames), generated from
the contracts. The matching Redshift column grants are in the SQL bootstrap (`sql/`).

Data-lake settings replace the account's list of Lake Formation admins: the list is the CDK
CloudFormation execution role (it must be an admin to create the grants) plus `lakeAdminArns`.
"""

from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lakeformation as lf
from constructs import Construct

from . import catalog
from .config import Config
from .lake import LakeStack


class GovernanceStack(Stack):
    def __init__(
        self, scope: Construct, cid: str, *, cfg: Config, lake: LakeStack, **kw: object
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        exec_role = Fn.sub(
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"
            "cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}"
        )
        admins = [exec_role] + [a.strip() for a in cfg.lakeAdminArns.split(",") if a.strip()]
        settings = lf.CfnDataLakeSettings(
            self,
            "Settings",
            admins=[
                lf.CfnDataLakeSettings.DataLakePrincipalProperty(data_lake_principal_identifier=a)
                for a in admins
            ],
            # New tables get no IAMAllowedPrincipals grant: Lake Formation alone decides access.
            create_database_default_permissions=[],
            create_table_default_permissions=[],
        )
        location = lf.CfnResource(
            self,
            "BatchLocation",
            resource_arn=lake.batches.bucket_arn + "/data",
            use_service_linked_role=True,
        )
        location.add_resource_dependency(settings)

        if cfg.analystRoleArn:
            self.analyst = iam.Role.from_role_arn(self, "Analyst", cfg.analystRoleArn)
        else:
            self.analyst = self._analyst_role(cfg)
        principal = lf.CfnPermissions.DataLakePrincipalProperty(
            data_lake_principal_identifier=self.analyst.role_arn
        )
        describe = lf.CfnPermissions(
            self,
            "AnalystDatabase",
            data_lake_principal=principal,
            resource=lf.CfnPermissions.ResourceProperty(
                database_resource=lf.CfnPermissions.DatabaseResourceProperty(
                    catalog_id=self.account, name=cfg.glue_database
                )
            ),
            permissions=["DESCRIBE"],
        )
        describe.add_resource_dependency(settings)
        self.grants: dict[str, lf.CfnPermissions] = {}
        for contract in lake.contracts:
            grant = lf.CfnPermissions(
                self,
                f"Analyst-{catalog.glue_table_name(contract)}",
                data_lake_principal=principal,
                resource=lf.CfnPermissions.ResourceProperty(
                    table_with_columns_resource=lf.CfnPermissions.TableWithColumnsResourceProperty(
                        catalog_id=self.account,
                        database_name=cfg.glue_database,
                        name=catalog.glue_table_name(contract),
                        column_wildcard=lf.CfnPermissions.ColumnWildcardProperty(
                            # Glue column names: the warehouse names (catalog.py)
                            excluded_column_names=[
                                c.warehouse_name for c in contract.columns if c.pii
                            ]
                        ),
                    )
                ),
                permissions=["SELECT"],
            )
            grant.add_resource_dependency(settings)
            self.grants[contract.qualified] = grant

    def _analyst_role(self, cfg: Config) -> iam.IRole:
        """An analyst role assumable by the account's principals that are allowed to assume it:
        reads the catalog; the data comes through Lake Formation's credential vending."""
        role = iam.Role(
            self,
            "AnalystRole",
            role_name=f"{cfg.prefix}-analyst",
            assumed_by=iam.AccountRootPrincipal(),
            description="totes-cdc analysts: every non-PII column, through Lake Formation",
        )
        glue_arn = f"arn:{self.partition}:glue:{self.region}:{self.account}"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetDatabases",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                ],
                resources=[
                    f"{glue_arn}:catalog",
                    f"{glue_arn}:database/{cfg.glue_database}",
                    f"{glue_arn}:table/{cfg.glue_database}/*",
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                # GetDataAccess has no resource-level permissions (IAM reference): Lake
                # Formation's own grants scope what the credentials it vends can read.
                actions=["lakeformation:GetDataAccess"],
                resources=["*"],
            )
        )
        return role
