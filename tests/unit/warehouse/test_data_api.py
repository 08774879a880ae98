"""The Data API bootstrap runner: chunks of at most 40 statements, in order, each polled to its
end; a failed chunk stops the run with Redshift's error in one line."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.errors import CdcError
from consumers.warehouse import data_api


class ScriptedDataApi:
    """Records BatchExecuteStatement calls; DescribeStatement answers from `statuses`."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.batches: list[dict[str, Any]] = []

    def batch_execute_statement(self, **kw: Any) -> dict[str, str]:
        self.batches.append(kw)
        return {"Id": f"s{len(self.batches)}"}

    def describe_statement(self, Id: str) -> dict[str, str]:
        status = self.statuses.pop(0)
        return {"Id": Id, "Status": status, "Error": "ERROR: relation x does not exist"}


def test_statements_go_in_order_in_chunks_of_40_each_polled_until_finished() -> None:
    statements = [f"SELECT {i}" for i in range(95)]
    api = ScriptedDataApi(["SUBMITTED", "STARTED", "FINISHED", "FINISHED", "PICKED", "FINISHED"])
    ran = data_api.run(api, statements, workgroup="wg", database="warehouse", poll_seconds=0)
    assert ran == 95
    assert [len(b["Sqls"]) for b in api.batches] == [40, 40, 15]
    assert [s for b in api.batches for s in b["Sqls"]] == statements
    assert all(b["WorkgroupName"] == "wg" and "SecretArn" not in b for b in api.batches)
    assert api.statuses == []


def test_a_failed_chunk_stops_the_run_with_redshifts_error() -> None:
    api = ScriptedDataApi(["FINISHED", "FAILED"])
    with pytest.raises(CdcError, match=r"chunk 2/3 failed: ERROR: relation x does not exist"):
        data_api.run(api, ["x"] * 81, workgroup="wg", database="warehouse", poll_seconds=0)
    assert len(api.batches) == 2


def test_the_loader_user_must_be_the_iam_role_user() -> None:
    assert data_api.loader_user_grants("IAMR:totes-cdc-prod-load-role") == [
        'CREATE USER "IAMR:totes-cdc-prod-load-role" PASSWORD DISABLE',
        'GRANT ROLE "cdc_loader" TO "IAMR:totes-cdc-prod-load-role"',
    ]
    with pytest.raises(CdcError, match="LoaderDatabaseUser"):
        data_api.loader_user_grants("admin")
