"""redshift-connector's IAM sign-in as far as it goes without AWS: the real driver, given the
arguments a `--warehouse redshift://` URL becomes, asks the Redshift API (moto server, over
HTTP) for temporary credentials and the cluster's endpoint, and would open its connection with
them. Only the last step, the Redshift wire protocol over TLS, is replaced: no Redshift here.
Serverless's GetCredentials is not in moto: its arguments are checked in the unit tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
import redshift_connector

from consumers.errors import CdcError
from consumers.warehouse.target import connect, parse_warehouse

pytestmark = pytest.mark.integration

CDC = str(Path(sys.executable).with_name("cdc"))
CLUSTER = "totes-it"


@pytest.fixture
def moto_cluster(local_stack, monkeypatch) -> dict[str, Any]:
    """A provisioned cluster in the test stack's moto; the driver's API calls go there."""
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("CDC_AWS_ENDPOINT_URL", local_stack.aws_endpoint_url)
    client = boto3.client(
        "redshift", endpoint_url=local_stack.aws_endpoint_url, region_name=local_stack.region
    )
    with contextlib.suppress(client.exceptions.ClusterNotFoundFault):
        client.delete_cluster(ClusterIdentifier=CLUSTER, SkipFinalClusterSnapshot=True)
    client.create_cluster(
        ClusterIdentifier=CLUSTER, NodeType="ra3.xlplus", MasterUsername="admin",
        MasterUserPassword="Admin-Passw0rd", DBName="warehouse",
    )  # fmt: skip
    (cluster,) = client.describe_clusters(ClusterIdentifier=CLUSTER)["Clusters"]
    return cluster


class Opened:
    """Stands in for redshift_connector.Connection: records how the driver would connect."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        Opened.seen.append(kwargs)

    def cursor(self) -> Any:
        class Cursor:
            def execute(self, sql: str, args: Any = None) -> None:
                pass

            def close(self) -> None:
                pass

        return Cursor()

    def close(self) -> None:
        pass


def test_iam_sign_in_takes_temporary_credentials_and_the_endpoint_from_the_api(
    moto_cluster, local_stack, monkeypatch
):
    Opened.seen = []
    monkeypatch.setattr(redshift_connector, "Connection", Opened)
    target = parse_warehouse(f"redshift://{CLUSTER}.{local_stack.region}/warehouse?db_user=loader")
    with connect(target):
        pass
    (opened,) = Opened.seen
    endpoint = moto_cluster["Endpoint"]
    # GetClusterCredentials answered for DbUser loader (moto prefixes IAM:, as Redshift does),
    # DescribeClusters gave the host and port; no password came from us.
    assert opened["user"] == "IAM:loader"
    assert isinstance(opened["password"], str) and len(opened["password"]) == 32
    assert (opened["host"], opened["port"]) == (endpoint["Address"], endpoint["Port"])
    assert opened["database"] == "warehouse" and opened["ssl"] is True


def test_an_unknown_cluster_is_one_line_naming_it(moto_cluster, local_stack, monkeypatch):
    monkeypatch.setattr(redshift_connector, "Connection", Opened)
    target = parse_warehouse(f"redshift://nosuch.{local_stack.region}/warehouse?db_user=loader")
    with pytest.raises(CdcError) as e, connect(target):
        pass
    assert "\n" not in str(e.value) and "nosuch" in str(e.value)


def test_cdc_verify_against_a_cluster_it_cannot_reach_exits_2_with_one_line(
    moto_cluster, local_stack, cli_env
):
    """The whole command: credentials from moto, then the cluster's endpoint (a name that does
    not resolve here) refuses: one line, exit 2, no traceback."""
    env = {**cli_env, "CDC_AWS_ENDPOINT_URL": local_stack.aws_endpoint_url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    url = f"redshift://{CLUSTER}.{local_stack.region}/warehouse?db_user=loader"
    proc = subprocess.run(
        [CDC, "verify", "--warehouse", url], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"error: cannot connect to Redshift cluster {CLUSTER}/warehouse")
