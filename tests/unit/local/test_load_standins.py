"""The launcher's stand-ins for the load state machine: the Redshift → PostgreSQL fixes and
the in-process Lambda call (their end-to-end use is in tests/integration/test_load.py)."""

from __future__ import annotations

import os
import threading
import time
import urllib.request

import pytest
import sqlglot

from consumers.local import load_standins
from consumers.warehouse.dialect import RedshiftDialect
from consumers.warehouse.plan import build_load
from consumers.warehouse.truncate import TruncationLog


def test_redshift_functions_become_postgresql_ones():
    sql = load_standins.to_postgres(
        "INSERT INTO l SELECT CAST(REGEXP_SUBSTR(t.u, ',a:(-?[0-9]+),', 1, 1, 'e') AS "
        "numeric(38,0)), SYSDATE, GETDATE(), JSON_SERIALIZE(t.j), FROM_VARBYTE(t.b, 'hex') FROM t"
    )
    assert "REGEXP_SUBSTR(t.u, ',a:(-?[0-9]+),', 1, 1, '', 1)" in sql  # PostgreSQL 15's
    assert "TRANSACTION_TIMESTAMP(), STATEMENT_TIMESTAMP()" in sql  # SYSDATE, GETDATE()
    assert "CAST(t.j AS TEXT)" in sql and "ENCODE(t.b, 'hex')" in sql
    assert "REGEXP_EXTRACT" not in sql and "GETDATE" not in sql and "SYSDATE" not in sql


def test_every_statement_of_every_shipped_plan_translates(contracts):
    index = {c.qualified: c for c in contracts}
    for c in contracts:
        plan = build_load(
            RedshiftDialect(), c, manifest_url="s3://b/m.json", iam_role="arn:aws:iam::1:role/r",
            truncations=TruncationLog.of(index),
        )  # fmt: skip
        for sql in plan.statements:
            if sql.startswith(("LOCK ", 'CREATE TEMP TABLE "stage" (', 'COPY "stage" FROM ')):
                continue  # served by BatchRun itself
            sqlglot.parse_one(load_standins.to_postgres(sql), read="postgres")


def test_the_copy_the_stand_in_serves_is_the_plans():
    """Its pattern matches the COPY the Redshift dialect writes (or a changed COPY would go to
    sqlglot and fail loudly)."""
    copy = RedshiftDialect().copy_stage(None, "s3://b/copy-manifests/x.json", "arn:r")  # type: ignore[arg-type]
    found = load_standins._COPY.match(copy)
    assert found and found.group(1) == "s3://b/copy-manifests/x.json"


def _echo_env(event, context):
    return {"event": event, "bucket": os.environ.get("CDC_TEST_STANDIN")}


def _raise(event, context):
    raise KeyError("CDC_REDSHIFT_COPY_ROLE_ARN")


@pytest.fixture
def fresh_standin(monkeypatch):
    """A moto process that has run no function yet; the variables the test's functions set are
    removed again at its end (by monkeypatch, not by the stand-in, which never removes one)."""
    monkeypatch.setattr(load_standins, "_set_by_handlers", set())
    for name in ("CDC_TEST_STANDIN", "CDC_TEST_OTHER"):
        monkeypatch.setenv(name, "before")  # so that monkeypatch removes it at the end
        monkeypatch.delenv(name)  # absent when the test starts, as in a new moto server


def test_a_handler_runs_with_its_functions_environment(fresh_standin):
    payload, errored = load_standins.invoke_handler(
        f"{__name__}._echo_env", {"CDC_TEST_STANDIN": "b1"}, {"n": 1}
    )
    assert not errored and payload == '{"event":{"n":1},"bucket":"b1"}'
    payload, _ = load_standins.invoke_handler(
        f"{__name__}._echo_env", {"CDC_TEST_STANDIN": "b2"}, {}
    )
    assert payload.endswith('"bucket":"b2"}')


def test_a_function_without_a_variable_an_earlier_one_set_is_refused(fresh_standin):
    load_standins.invoke_handler(f"{__name__}._echo_env", {"CDC_TEST_STANDIN": "b1"}, {})
    payload, errored = load_standins.invoke_handler(
        f"{__name__}._echo_env", {"CDC_TEST_OTHER": "x"}, {}
    )
    assert errored and "cannot unset CDC_TEST_STANDIN" in payload


def test_moto_threads_reading_the_environment_meanwhile_never_fail(fresh_standin):
    """CI failed once with a Map iteration's "States.Runtime: 'CDC_BATCH_BUCKET'": a boto3
    client made in moto's Step Functions thread walks os.environ (urllib's proxy lookup) while
    a handler's call ends. Removing the variables then raised KeyError in that walk about 14
    times a second of this loop; leaving them set cannot."""
    errors: list[KeyError] = []
    stop = threading.Event()

    def walk() -> None:
        while not stop.is_set():
            try:
                urllib.request.getproxies_environment()
            except KeyError as e:
                errors.append(e)

    reader = threading.Thread(target=walk)
    reader.start()
    try:
        deadline = time.monotonic() + 1.0
        n = 0
        while time.monotonic() < deadline:
            load_standins.invoke_handler(f"{__name__}._echo_env", {"CDC_TEST_STANDIN": str(n)}, {})
            n += 1
    finally:
        stop.set()
        reader.join()
    assert n > 1000 and errors == []


def test_a_handler_exception_is_a_function_error_with_its_type(fresh_standin):
    payload, errored = load_standins.invoke_handler(f"{__name__}._raise", {}, {})
    assert errored and '"errorType":"KeyError"' in payload


@pytest.mark.parametrize("handler", ["consumers.orchestration.handlers.plan_loads"])
def test_only_the_projects_handlers_run_in_process(handler):
    assert handler.startswith(load_standins.HANDLER_PACKAGE)
    assert not "other.module.handler".startswith(load_standins.HANDLER_PACKAGE)
