"""The lake: S3 buckets for the consumers' batches and dead letters (KMS, TLS only, public access
blocked, versioned, lifecycle-expired, access-logged), and a Glue database with one table per
contract over the Parquet batches (partition projection on the batch date: no crawler).

A Glue table is the change log of its source table, one row per change (`_cdc_op`,
`_cdc_version`, ...); the current state is in the warehouse.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from . import catalog
from .config import Config
from .scan import skip


class LakeStack(Stack):
    def __init__(
        self, scope: Construct, cid: str, *, cfg: Config, key: kms.IKey, **kw: object
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logs can only be delivered to an SSE-S3 bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(cfg.logRetentionDays),
                    noncurrent_version_expiration=Duration.days(7),
                )
            ],
        )
        skip(self.access_logs, "CKV_AWS_18", "this is the access-log bucket itself")
        self.batches = self._bucket("Batches", cfg, key, cfg.batchRetentionDays, "batches/")
        self.dead_letters = self._bucket(
            "DeadLetters", cfg, key, cfg.deadLetterRetentionDays, "dead-letters/"
        )

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=cfg.glue_database,
                description="totes-cdc change log: one table per contract over the Parquet batches",
            ),
        )
        self.contracts = catalog.contracts()  # read once; governance grants on the same list
        self.tables: dict[str, glue.CfnTable] = {}
        for contract in self.contracts:
            name = catalog.glue_table_name(contract)
            location = f"s3://{self.batches.bucket_name}/data/{contract.qualified}/"
            table = glue.CfnTable(
                self,
                f"Table-{name}",
                catalog_id=self.account,
                database_name=cfg.glue_database,
                table_input=glue.CfnTable.TableInputProperty(
                    name=name,
                    description=f"changes of {contract.qualified} ({contract.doc or 'no doc'})"[
                        :2048
                    ],
                    table_type="EXTERNAL_TABLE",
                    parameters={
                        "classification": "parquet",
                        "parquet.compression": "ZSTD",
                        "projection.enabled": "true",
                        "projection.date.type": "date",
                        "projection.date.format": "yyyy-MM-dd",
                        "projection.date.range": "2024-01-01,NOW",
                        "projection.date.interval": "1",
                        "projection.date.interval.unit": "DAYS",
                        "storage.location.template": location + "date=${date}/",
                    },
                    partition_keys=[
                        glue.CfnTable.ColumnProperty(
                            name="date", type="string", comment="UTC arrival date of the batch"
                        )
                    ],
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=location,
                        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                        serde_info=glue.CfnTable.SerdeInfoProperty(
                            serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                        ),
                        columns=[
                            glue.CfnTable.ColumnProperty(
                                name=c.name, type=c.type, comment=c.comment
                            )
                            for c in catalog.glue_columns(contract)
                        ],
                    ),
                ),
            )
            table.add_resource_dependency(self.database)
            self.tables[contract.qualified] = table

    def _bucket(
        self, cid: str, cfg: Config, key: kms.IKey, days: int, log_prefix: str
    ) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            cid,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=log_prefix,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(days),
                    noncurrent_version_expiration=Duration.days(7),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        return bucket
