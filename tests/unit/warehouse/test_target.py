"""The warehouse seam (consumers/warehouse/target.py): `--warehouse` URLs become exactly the
IAM-only keyword arguments of redshift_connector.connect, bad ones a one-line error, and the
driver's errors the seam's classes. No AWS here: redshift_connector.connect is replaced by a
recorder (tests/integration/test_redshift_target.py takes the real one as far as moto goes)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import redshift_connector
from botocore.exceptions import EndpointConnectionError
from botocore.parsers import ResponseParserError

from consumers.errors import CdcError
from consumers.warehouse import target as target_module
from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect
from consumers.warehouse.target import UndefinedTable, connect, parse_warehouse

IAM = {"iam": True, "ssl": True, "port": 5439, "timeout": 30, "application_name": "cdc"}


@pytest.fixture(autouse=True)
def no_endpoint_override(monkeypatch):
    monkeypatch.delenv("CDC_AWS_ENDPOINT_URL", raising=False)


def test_serverless_workgroup_signs_in_with_iam_through_get_credentials():
    t = parse_warehouse("redshift://totes-cdc-prod.123456789012.eu-west-2/warehouse")
    assert t.kind == "redshift" and isinstance(t.dialect, RedshiftDialect)
    assert t.connect_args == {
        **IAM,
        "database": "warehouse",
        "host": "totes-cdc-prod.123456789012.eu-west-2.redshift-serverless.amazonaws.com",
        "region": "eu-west-2",
        "is_serverless": True,
        "serverless_acct_id": "123456789012",
        "serverless_work_group": "totes-cdc-prod",
    }
    assert "password" not in t.connect_args and "user" not in t.connect_args


def test_serverless_endpoint_as_the_console_shows_it_with_a_port_and_a_profile():
    t = parse_warehouse(
        "redshift://wg-1.123456789012.us-east-1.redshift-serverless.amazonaws.com:5440/dev"
        "?profile=analytics"
    )
    assert t.connect_args["host"] == "wg-1.123456789012.us-east-1.redshift-serverless.amazonaws.com"
    assert t.connect_args["port"] == 5440 and t.connect_args["profile"] == "analytics"
    assert t.connect_args["serverless_work_group"] == "wg-1"
    assert t.label == "Redshift Serverless wg-1/dev"


def test_provisioned_cluster_without_a_user_signs_in_as_the_iam_identity():
    t = parse_warehouse("redshift://examplecluster.us-west-2/dev")
    assert t.connect_args == {
        **IAM,
        "database": "dev",
        "cluster_identifier": "examplecluster",
        "region": "us-west-2",
        "group_federation": True,  # GetClusterCredentialsWithIAM: no DbUser needed
    }


def test_provisioned_cluster_with_a_database_user_uses_get_cluster_credentials():
    t = parse_warehouse(
        "redshift://examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com/dev"
        "?db_user=loader&auto_create=true"
    )
    args = t.connect_args
    assert args["host"] == "examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com"
    assert (args["cluster_identifier"], args["region"]) == ("examplecluster", "us-west-2")
    assert args["db_user"] == "loader" and args["auto_create"] is True
    assert "group_federation" not in args


def test_the_api_endpoint_override_reaches_the_driver(monkeypatch):
    monkeypatch.setenv("CDC_AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    t = parse_warehouse("redshift://c1.eu-west-1/dev")
    assert t.connect_args["endpoint_url"] == "http://127.0.0.1:5000"


def test_postgresql_dsns_stay_on_psycopg():
    for dsn in ("postgresql://postgres@127.0.0.1:5432/warehouse", "host=/tmp dbname=warehouse"):
        t = parse_warehouse(dsn)
        assert t.kind == "postgres" and t.dsn == dsn and type(t.dialect) is PostgresDialect


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redshift://admin:s3cret@wg.123456789012.eu-west-2/dev", "IAM only"),
        ("redshift://admin@wg.123456789012.eu-west-2/dev", "IAM only"),
        ("redshift://wg.123456789012.eu-west-2", "database"),
        ("redshift://wg.123456789012.eu-west-2/a/b", "database"),
        ("redshift://wg.123456789012.eu-west-2/dev?password=x", "unknown option 'password'"),
        ("redshift://wg.123456789012.eu-west-2/dev?db_user=x", "provisioned"),
        ("redshift://localhost/dev", "neither a workgroup nor a cluster"),
        ("redshift://wg.12345.eu-west-2/dev", "neither a workgroup nor a cluster"),
        ("redshift://wg.123456789012.eu-west-2:port/dev", "port"),
        ("mysql://db.example.com/dev", "not a warehouse url"),
    ],
)
def test_a_bad_url_is_one_line_naming_the_forms_and_never_the_password(url, words):
    with pytest.raises(CdcError) as e:
        parse_warehouse(url)
    message = str(e.value)
    assert "\n" not in message and words.lower() in message.lower()
    assert "redshift://<workgroup>.<account>.<region>/<database>" in message
    assert "s3cret" not in message


class FakeCursor:
    def __init__(self, log: list[str], fail: BaseException | None = None) -> None:
        self.log, self.fail = log, fail

    def execute(self, sql: str, params: Any = None) -> None:
        self.log.append(sql)
        if self.fail and sql.startswith("SELECT"):
            raise self.fail

    def fetchall(self) -> list[list[Any]]:
        return [[1, "x"]]

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.log: list[str] = []
        self.fail = fail
        self.closed = self.rolled_back = self.committed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.log, self.fail)

    def rollback(self) -> None:
        self.rolled_back = True

    def commit(self) -> None:
        self.committed = True

    def close(self) -> None:
        self.closed = True


def test_connect_hands_the_driver_exactly_the_iam_arguments_and_sets_utc(monkeypatch):
    calls: list[dict[str, Any]] = []
    fake = FakeConnection()

    def record(**kwargs: Any) -> FakeConnection:
        calls.append(kwargs)
        return fake

    monkeypatch.setattr(redshift_connector, "connect", record)
    t = parse_warehouse("redshift://wg.123456789012.eu-west-2/dev?profile=p")
    with connect(t) as db:
        assert db.rows("SELECT 1, 'x'") == [(1, "x")]
        assert db.run(['CREATE SCHEMA IF NOT EXISTS "cdc"']) == 1
    assert calls == [t.connect_args]
    assert fake.log[0] == "SET timezone TO 'UTC'"  # verify's renderings assume UTC
    assert fake.committed and fake.closed


def test_the_drivers_undefined_table_becomes_the_seams(monkeypatch):
    # redshift-connector raises ProgrammingError with the server's ErrorResponse fields.
    err = redshift_connector.ProgrammingError(
        {"S": "ERROR", "C": "42P01", "M": 'relation "public.nope" does not exist'}
    )
    fake = FakeConnection(fail=err)
    monkeypatch.setattr(redshift_connector, "connect", lambda **_: fake)
    with (
        connect(parse_warehouse("redshift://c.eu-west-1/dev")) as db,
        pytest.raises(UndefinedTable, match=r'relation "public\.nope" does not exist'),
    ):
        db.rows('SELECT 1 FROM "public"."nope"')
    assert fake.rolled_back
    other = redshift_connector.ProgrammingError({"C": "42601", "M": "syntax error"})
    monkeypatch.setattr(redshift_connector, "connect", lambda **_: FakeConnection(fail=other))
    with (
        connect(parse_warehouse("redshift://c.eu-west-1/dev")) as db,
        pytest.raises(redshift_connector.ProgrammingError),
    ):
        db.rows("SELECT")


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (redshift_connector.InterfaceError("Unable to obtain credentials\nmore"), "obtain"),
        (  # the driver's socket error: a host that does not resolve
            redshift_connector.InterfaceError(
                "communication error", socket.gaierror(-2, "Name or service not known")
            ),
            "communication error: Name or service not known",
        ),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "127.0.0.1:1"),
        (ResponseParserError("Unable to parse response\n<html>"), "Unable to parse"),
    ],
)
def test_a_refused_sign_in_is_one_line_naming_what_to_check(monkeypatch, error, shown):
    def refuse(**_: Any) -> None:
        raise error

    monkeypatch.setattr(redshift_connector, "connect", refuse)
    with (
        pytest.raises(CdcError) as e,
        connect(parse_warehouse("redshift://wg.123456789012.eu-west-2/dev")),
    ):
        pass
    message = str(e.value)
    assert "\n" not in message and shown in message
    assert message.startswith("cannot connect to Redshift Serverless wg/dev")
    assert "redshift-serverless:GetCredentials" in message and "profile" in message


def test_the_module_keeps_secrets_out_of_its_options():
    assert not {"password", "user", "secret_access_key", "access_key_id"} & target_module._OPTIONS


def test_the_setting_cdc_warehouse_stands_in_for_the_flag(monkeypatch):
    from consumers.cli import _warehouse_target
    from consumers.settings import Settings

    monkeypatch.setenv("CDC_WAREHOUSE", "redshift://wg.123456789012.eu-west-2/dev")
    assert _warehouse_target(Settings(), None).connect_args["serverless_work_group"] == "wg"
    flag = _warehouse_target(Settings(), "redshift://c1.eu-west-1/dev")  # the flag wins
    assert flag.connect_args["cluster_identifier"] == "c1"
    monkeypatch.setenv("CDC_WAREHOUSE", "redshift://admin:pw@wg.123456789012.eu-west-2/dev")
    with pytest.raises(CdcError, match=r"^CDC_WAREHOUSE redshift://admin:\*\*\*@wg\.") as e:
        _warehouse_target(Settings(), None)
    assert "IAM only" in str(e.value)
