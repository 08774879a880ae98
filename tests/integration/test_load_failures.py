"""One table never blocks the others, and a batch the warehouse refuses for its data is
quarantined, never retried for ever: through the real pipeline, with a value made unstorable by
a CHECK constraint added to the warehouse table, and a lock held on another table."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import orjson
import psycopg
import pytest

from consumers.orchestration import planner
from consumers.warehouse.failures import Outcome
from consumers.warehouse.verify import verify
from tests.integration.imported import imported_pipeline, sql

pytestmark = pytest.mark.integration


def wait_for(what: str, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def rows(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query.encode()).fetchall()


def test_data_failure_is_quarantined_and_every_table_goes_on(
    local_stack, stack_settings, tmp_path, monkeypatch, cli_env
):
    monkeypatch.setenv("CDC_FLUSH_MAX_ROWS", "2")
    ddl = (
        "CREATE TABLE acct (id integer PRIMARY KEY, v integer NOT NULL)",
        "CREATE TABLE note (id integer PRIMARY KEY, body text)",
        "INSERT INTO acct VALUES (1, 1)",
        "INSERT INTO note VALUES (1, 'a')",
    )
    with imported_pipeline(local_stack, stack_settings, tmp_path, *ddl) as run:
        p, wh = run.pipeline, run.warehouse
        p.start()

        def loaded(table: str, ids: set[int]) -> bool:
            return ids <= {r[0] for r in rows(wh, f"SELECT id FROM public.{table}")}

        wait_for("the full load", lambda: loaded("acct", {1}) and loaded("note", {1}))
        # A value the warehouse cannot store (SQLSTATE 23514 check_violation).
        sql(wh, "ALTER TABLE public.acct ADD CONSTRAINT v_small CHECK (v < 1000)")
        sql(run.source, "INSERT INTO acct VALUES (2, 5000)", "INSERT INTO note VALUES (2, 'b')")
        wait_for("the quarantine", lambda: bool(p.warehouse.quarantined))
        wait_for("the other table", lambda: loaded("note", {2}))
        (q,) = p.warehouse.quarantined
        assert q.table == "public.acct" and q.failure.sqlstate == "23514"
        assert q.failure.outcome is Outcome.DATA and "v_small" in q.failure.reason
        assert rows(wh, "SELECT table_name, sqlstate FROM cdc.load_quarantine") == [
            ("public.acct", "23514")
        ]
        s3 = local_stack.client("s3")
        body = s3.get_object(Bucket=run.bucket, Key=f"quarantine/public.acct/{q.batch_id}.json")
        record = orjson.loads(body["Body"].read())
        assert record["sqlstate"] == "23514" and [f["key"] for f in record["files"]] == list(q.keys)

        # Later batches of the same table still load; later changes of the quarantined row
        # apply by version (its insert is missing until the batch is re-applied).
        sql(run.source, "INSERT INTO acct VALUES (3, 3)", "UPDATE note SET body = 'c'")
        wait_for("a later batch of the table", lambda: loaded("acct", {3}))
        assert not p.warehouse.failures

        # A table locked by someone else fails transiently (55P03) and is retried, while the
        # other table keeps loading.
        p.warehouse.lock_timeout_ms = 200
        with psycopg.connect(wh) as holder:
            holder.execute("LOCK TABLE public.note IN ACCESS EXCLUSIVE MODE")
            sql(run.source, "INSERT INTO note VALUES (4, 'd')", "INSERT INTO acct VALUES (4, 4)")
            wait_for("the locked table's failure", lambda: "public.note" in p.warehouse.failures)
            wait_for("the unlocked table", lambda: loaded("acct", {4}))
            failing = p.warehouse.failures["public.note"]
            assert failing.failure.outcome is Outcome.TRANSIENT
            assert failing.failure.sqlstate == "55P03"
        wait_for("the retry", lambda: loaded("note", {4}) and not p.warehouse.failures)

        p.drain()
        diffs = {d.table: d for d in verify(run.source, wh, run.contracts)}
        assert diffs["public.note"].ok
        assert diffs["public.acct"].missing == [("2",)]  # shown until re-applied

        # Re-applied before the fix: quarantined again, exit 1. After it: everything verifies.
        env = {
            **cli_env,
            "CDC_BATCH_BUCKET": run.bucket,
            "CDC_CONTRACTS": str(tmp_path / "contracts"),
        }
        load = [sys.executable, "-m", "consumers", "load", "--once", "--retry-quarantined",
                "--warehouse-dsn", wh]  # fmt: skip
        early = subprocess.run(load, env=env, capture_output=True, text=True, timeout=120)
        assert early.returncode == 1, early.stderr
        assert "released 1 quarantined batch" in early.stdout
        assert "quarantined batch" in early.stderr and "v_small" in early.stderr
        sql(wh, "ALTER TABLE public.acct DROP CONSTRAINT v_small")
        fixed = subprocess.run(load, env=env, capture_output=True, text=True, timeout=120)
        assert fixed.returncode == 0, fixed.stderr
        assert "loaded public.acct: 1 batches" in fixed.stdout
        assert all(d.ok for d in verify(run.source, wh, run.contracts))
        assert rows(wh, "SELECT count(*) FROM cdc.load_quarantine") == [(0,)]

        # On AWS: the same batches through the planner and the commit Lambda's logic, with
        # the Map items' results as the state machine hands them over.
        _aws_quarantine_and_hold(s3, run)


def _aws_quarantine_and_hold(s3, run) -> None:
    cfg = planner.PlannerConfig(
        batch_bucket=run.bucket, copy_role_arn="arn:aws:iam::123456789012:role/copy",
        contracts={c.qualified: c for c in run.contracts},
    )  # fmt: skip
    first = planner.plan(s3, cfg, "run-1")
    items = {t["table"]: t for t in first["tables"]}
    assert set(items) == {"public.acct", "public.note"} and items["public.acct"]["batches"]

    def failed(table: str, cause: str) -> dict:
        return {"table": table, "batches": items[table]["batches"], "failed": True,
                "error": {"Error": "LoadFailed", "Cause": cause}}  # fmt: skip

    # A transient failure holds the watermark: everything is planned again next round.
    held = planner.commit(
        s3, cfg, first["watermark"],
        [failed("public.acct", '{"Error": "ERROR: deadlock detected"}'),
         {"table": "public.note", "failed": False}],
    )  # fmt: skip
    assert held["held"][0]["outcome"] == "transient" and not held["quarantined"]
    assert planner.read_watermark(s3, cfg) == {}
    again = planner.plan(s3, cfg, "run-2")
    assert {t["table"] for t in again["tables"]} == {"public.acct", "public.note"}

    # A data failure quarantines that load's batches, the watermark advances, and the
    # planner leaves them out until they are released.
    data = planner.commit(
        s3, cfg, again["watermark"],
        [failed("public.acct", "Load into table 'acct' failed. Check 'sys_load_error_detail' "
                "system table for details."),
         {"table": "public.note", "failed": False}],
    )  # fmt: skip
    quarantined = {q["batch_id"] for q in data["quarantined"]}
    assert quarantined == set(items["public.acct"]["batches"]) and not data["held"]
    assert planner.read_watermark(s3, cfg) == again["watermark"]
    assert not planner.plan(s3, cfg, "run-3")["pending"]
    assert planner.release_quarantined(s3, cfg) == len(quarantined)
    retried = planner.plan(s3, cfg, "run-4")
    (item,) = retried["tables"]
    assert item["table"] == "public.acct" and set(item["batches"]) == quarantined
    done = planner.commit(
        s3, cfg, retried["watermark"], [{"table": "public.acct", "failed": False}]
    )
    assert not done["held"] and not planner.plan(s3, cfg, "run-5")["pending"]
