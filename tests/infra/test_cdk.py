"""The AWS deployment, checked offline: every stack synthesizes, cfn-lint finds no errors,
checkov finds no unsuppressed failure, and the templates do what users depend on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from consumers.contracts.model import load_contracts
from consumers.orchestration.state_machine import DATA_API_TRANSIENT, definition
from consumers.settings import PROJECT_DIR

from .conftest import INFRA, VENV_BIN, Assembly, synth

CONTRACTS = load_contracts(PROJECT_DIR / "schemas")
CONCERNS = [
    "network", "stream", "lake", "governance", "capture", "consumers", "warehouse", "load",
    "observability",
]  # fmt: skip
CHECKOV = PROJECT_DIR / ".venv" / "tools" / "checkov" / "bin" / "checkov"


def test_every_stack_synthesizes_for_both_environments(dev: Assembly, prod: Assembly) -> None:
    assert sorted(dev.templates) == sorted(f"TotesCdc-dev-{c}" for c in CONCERNS)
    assert sorted(prod.templates) == sorted(f"TotesCdc-prod-{c}" for c in CONCERNS)
    (_, _, dev_stream), = dev.resources("AWS::Kinesis::Stream")  # fmt: skip
    (_, _, prod_stream), = prod.resources("AWS::Kinesis::Stream")  # fmt: skip
    assert dev_stream["ShardCount"] == 2 and dev_stream["RetentionPeriodHours"] == 168
    assert prod_stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in prod_stream and prod_stream["RetentionPeriodHours"] == 336
    (_, _, prod_dms), = prod.resources("AWS::DMS::ReplicationInstance")  # fmt: skip
    assert prod_dms["MultiAZ"] is True and prod_dms["ReplicationInstanceClass"] == "dms.r5.large"


@pytest.mark.parametrize(
    "context, message",
    [
        ("env=staging", "-c env=staging: unknown environment; use one of ['dev', 'prod']"),
        ("shardCount=many", "-c shardCount=many: use a whole number"),
        ("retentionHours=12", "-c retentionHours=12: use 24..8760 (Kinesis)"),
        ("dmsMultiAz=maybe", "-c dmsMultiAz=maybe: use true or false"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, context: str, message: str) -> None:
    done = synth(tmp_path, context)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert "Traceback" not in done.stderr


def test_cfn_lint_reports_no_errors(dev: Assembly, prod: Assembly) -> None:
    # One cfn-lint over both environments' templates: it loads its resource specs once (~2 s).
    files = sorted(str(p) for a in (dev, prod) for p in a.outdir.glob("*.template.json"))
    assert len(files) == len(dev.templates) + len(prod.templates)
    done = subprocess.run(
        [str(VENV_BIN / "cfn-lint"), "--format", "json", *files],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    findings = json.loads(done.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], errors
    assert done.returncode in (0, 4), done.stderr  # 4: warnings only


def test_checkov_finds_nothing_unsuppressed_and_every_suppression_says_why(dev: Assembly) -> None:
    done = subprocess.run(
        [str(CHECKOV), "-d", str(dev.outdir), "--framework", "cloudformation",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and summary["failed"] == 0
    assert summary["parsing_errors"] == 0 and summary["passed"] > 100
    scanned = {Path(c["file_path"]).name for c in report["results"]["passed_checks"]}
    assert len(scanned) >= 8  # every stack with resources checkov has checks for
    for stack, template in dev.templates.items():
        for rid, r in template["Resources"].items():
            for s in r.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(s["comment"]) > 20, (
                    f"{stack}/{rid} suppresses {s['id']} without a reason"
                )


def test_the_analyst_grant_excludes_exactly_the_pii_columns_of_each_contract(
    dev: Assembly,
) -> None:
    grants = {}
    for _, _, p in dev.resources("AWS::LakeFormation::Permissions"):
        twc = p["Resource"].get("TableWithColumnsResource")
        if twc:
            assert p["Permissions"] == ["SELECT"]
            grants[twc["Name"]] = twc["ColumnWildcard"].get("ExcludedColumnNames", [])
    expected = {
        f"{c.warehouse_schema}_{c.warehouse_table}": sorted(
            col.warehouse_name for col in c.columns if col.pii
        )
        for c in CONTRACTS
    }
    assert {k: sorted(v) for k, v in grants.items()} == expected
    assert any(expected.values()), "the contracts classify some columns as PII"
    tables = {p["TableInput"]["Name"] for _, _, p in dev.resources("AWS::Glue::Table")}
    assert set(grants) == tables


def test_glue_tables_describe_the_parquet_batches_of_each_contract(dev: Assembly) -> None:
    import pyarrow as pa  # the consumers' writer schema is the reference

    from consumers.events.columns import arrow_schema

    tables = {
        p["TableInput"]["Name"]: p["TableInput"] for _, _, p in dev.resources("AWS::Glue::Table")
    }
    for c in CONTRACTS:
        t = tables[f"{c.warehouse_schema}_{c.warehouse_table}"]
        columns = t["StorageDescriptor"]["Columns"]
        assert [col["Name"] for col in columns] == arrow_schema(c).names
        assert t["StorageDescriptor"]["Location"]["Fn::Join"][1][-1] == f"/data/{c.qualified}/"
        assert t["PartitionKeys"][0]["Name"] == "date"
        for col, field in zip(columns, arrow_schema(c), strict=True):
            if pa.types.is_decimal(field.type):
                assert col["Type"] == f"decimal({field.type.precision},{field.type.scale})"


def _dms_endpoint(dev: Assembly, kind: str) -> dict[str, Any]:
    (found,) = [p for _, _, p in dev.resources("AWS::DMS::Endpoint") if p["EndpointType"] == kind]
    return found


def _settings_and_extras(props: dict[str, Any], key: str) -> dict[str, str]:
    seen = {k: str(v).lower() for k, v in props.get(key, {}).items()}
    for pair in filter(None, props.get("ExtraConnectionAttributes", "").split(";")):
        k, v = pair.split("=", 1)
        seen[k] = v.lower()
    return seen


def test_the_dms_task_carries_the_mapping_and_settings_files_unchanged(dev: Assembly) -> None:
    dms = INFRA / "dms"
    (_, _, task), = dev.resources("AWS::DMS::ReplicationTask")  # fmt: skip
    assert task["MigrationType"] == "full-load-and-cdc"
    assert task["TableMappings"] == (dms / "table-mappings.json").read_text()
    assert task["ReplicationTaskSettings"] == (dms / "task-settings.json").read_text()

    for kind, file, key in [
        ("target", "kinesis-settings.json", "KinesisSettings"),
        ("source", "postgres-settings.json", "PostgreSqlSettings"),
    ]:
        props = _dms_endpoint(dev, kind)
        seen = _settings_and_extras(props, key)
        for name, value in json.loads((dms / file).read_text()).items():
            assert seen[name] == str(value).lower(), f"{file}: {name}"
    source = _dms_endpoint(dev, "source")
    assert "Password" not in source and "Username" not in source
    assert source["PostgreSqlSettings"]["SecretsManagerSecretId"]
    assert "password" not in json.dumps(source).lower()


def _render(value: Any) -> str:
    """A CloudFormation string (plain or Fn::Join), with every reference as `<ref>`."""
    if isinstance(value, str):
        return value
    sep, parts = value["Fn::Join"]
    return sep.join(p if isinstance(p, str) else "<ref>" for p in parts)


def test_the_state_machine_is_the_one_built_in_code_with_its_retry_and_catch(
    dev: Assembly,
) -> None:
    (_, _, sm), = dev.resources("AWS::StepFunctions::StateMachine")  # fmt: skip
    deployed = json.loads(_render(sm["DefinitionString"]))
    expected = definition(
        plan_function_arn="<ref>", commit_function_arn="<ref>", workgroup="totes-cdc-dev",
        database="warehouse", failure_topic_arn="<ref>",
    )  # fmt: skip
    assert deployed == expected
    top = deployed["States"]
    for name in ("Plan", "LoadTables", "Commit"):
        assert top[name]["Catch"][0]["Next"] == "NotifyFailure"
    for name in ("Plan", "Commit"):
        assert top[name]["Retry"][0]["MaxAttempts"] >= 3
    inner = top["LoadTables"]["ItemProcessor"]["States"]
    assert inner["ExecuteBatch"]["Retry"][0]["ErrorEquals"] == DATA_API_TRANSIENT
    assert "SecretArn" not in inner["ExecuteBatch"]["Parameters"]  # IAM sign-in, as this user:
    user = dev.template("load")["Outputs"]["LoaderDatabaseUser"]["Value"]["Fn::Join"][1]
    assert user[0] == "IAMR:" and user[1] == {"Ref": sm["RoleArn"]["Fn::GetAtt"][0]}
    assert top["NotifyFailure"]["Resource"] == "arn:aws:states:::sns:publish"


def _statements(assembly: Assembly) -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for rtype, key in [
        ("AWS::IAM::Policy", "PolicyDocument"),
        ("AWS::KMS::Key", "KeyPolicy"),
        ("AWS::S3::BucketPolicy", "PolicyDocument"),
        ("AWS::SNS::TopicPolicy", "PolicyDocument"),
    ]:
        docs += [(f"{s}/{rid}", p[key]) for s, rid, p in assembly.resources(rtype)]
    for s, rid, p in assembly.resources("AWS::IAM::Role"):
        docs += [(f"{s}/{rid}", pol["PolicyDocument"]) for pol in p.get("Policies", [])]
        assert not p.get("ManagedPolicyArns"), f"{s}/{rid} uses a managed policy"
    return [(where, st) for where, d in docs for st in d["Statement"]]


# Actions with no resource-level permissions (IAM Service Authorization Reference): "*" is the
# only resource they take. Every other Allow names its resources.
RESOURCELESS = {
    "cloudwatch:PutMetricData", "ecr:GetAuthorizationToken", "lakeformation:GetDataAccess",
    "redshift-data:DescribeStatement", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    "xray:GetSamplingRules", "xray:GetSamplingTargets", "logs:CreateLogDelivery",
    "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}  # fmt: skip


def test_no_iam_statement_allows_wildcard_actions_and_resources_are_scoped(
    dev: Assembly,
) -> None:
    statements = _statements(dev)
    assert len(statements) > 30
    for where, st in statements:
        if st["Effect"] != "Allow":
            continue
        assert "NotAction" not in st and "NotResource" not in st, where
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        for a in actions:
            assert "*" not in a, f"{where} allows {a}"
        resources = st.get("Resource")
        if resources == "*" and "Principal" not in st:  # key policies: "*" is the key itself
            assert set(actions) <= RESOURCELESS, f"{where}: {actions} on every resource"


def test_buckets_stream_topic_logs_and_warehouse_are_encrypted(dev: Assembly) -> None:
    kms = Match.object_like({"SSEAlgorithm": "aws:kms"})
    lake = Template.from_json(dev.template("lake"))
    lake.resource_count_is("AWS::S3::Bucket", 3)
    lake.resource_properties_count_is(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like({"ServerSideEncryptionByDefault": kms})
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True,
                "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": Match.any_value(),
        },
        2,  # batches and dead letters; the access-log bucket is SSE-S3 (S3 requires it)
    )  # fmt: skip
    for _, rid, p in dev.resources("AWS::S3::Bucket"):
        assert p["BucketEncryption"], rid
    tls = [
        st for _, _, p in dev.resources("AWS::S3::BucketPolicy")
        for st in p["PolicyDocument"]["Statement"]
        if st["Effect"] == "Deny"
        and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]  # fmt: skip
    assert len(tls) == 3
    Template.from_json(dev.template("stream")).has_resource_properties(
        "AWS::Kinesis::Stream",
        {"StreamEncryption": {"EncryptionType": "KMS", "KeyId": Match.any_value()}},
    )
    Template.from_json(dev.template("network")).has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()}
    )
    for s, rid, p in dev.resources("AWS::Logs::LogGroup"):
        assert "KmsKeyId" in p, f"{s}/{rid}"
    (_, _, ns), = dev.resources("AWS::RedshiftServerless::Namespace")  # fmt: skip
    assert ns["KmsKeyId"] and ns["ManageAdminPassword"] is True and "AdminUserPassword" not in ns
    (_, _, wg), = dev.resources("AWS::RedshiftServerless::Workgroup")  # fmt: skip
    assert wg["PubliclyAccessible"] is False and wg["EnhancedVpcRouting"] is True
    (_, _, dms), = dev.resources("AWS::DMS::ReplicationInstance")  # fmt: skip
    assert dms["PubliclyAccessible"] is False and dms["KmsKeyId"]


def test_every_alarm_notifies_the_alert_topic(dev: Assembly) -> None:
    alarms = dev.resources("AWS::CloudWatch::Alarm")
    named = {p["AlarmDescription"] for _, _, p in alarms if "AlarmDescription" in p}
    for what in ("DMS is behind", "consumers are behind", "dead-lettered", "load failed",
                 "batches wait too long", "a table's load failed",
                 "quarantined for its data"):  # fmt: skip
        assert any(what in d for d in named), what
    for _, rid, p in alarms:
        if "AlarmDescription" in p and p["AlarmDescription"].startswith("totes-cdc:"):
            assert p["AlarmActions"], rid
    (freshness,) = [p for _, _, p in alarms if "wait too long" in p.get("AlarmDescription", "")]
    assert freshness["TreatMissingData"] == "breaching"
    assert dev.resources("AWS::CloudWatch::Dashboard")


def test_glue_names_are_the_warehouse_names() -> None:
    """Glue names "should be in lower case" (Athena, "Name databases, tables, and columns"):
    a table and columns named in mixed case are catalogued by their folded warehouse names,
    which are also the Parquet column names, and PII is found by them."""
    import sys

    from consumers.contracts.model import Column, TableContract
    from consumers.contracts.types import Kind

    sys.path.insert(0, str(INFRA))
    try:
        from totes_cdk import catalog
    finally:
        sys.path.remove(str(INFRA))
    cols = (
        Column("playerID", "integer", Kind.INT4, False, False, "int"),
        Column("Größe", "text", Kind.TEXT, True, True, "string"),
    )
    c = TableContract("Sport", "Player Stats", cols, ("playerID",))
    assert catalog.glue_table_name(c) == "sport_player stats"
    glue = {g.name: g.comment for g in catalog.glue_columns(c)}
    assert glue["playerid"] == "integer" and glue["größe"] == "text (PII)"
