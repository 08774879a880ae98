"""The warehouse load against real services: one pipeline run (real capture, consumers and
loader over a random workload on every table) produces the manifests; then loading them
twice, shuffled and duplicated, or from scratch, and after a kill -9 mid-load, always ends in
the source's state (`cdc verify`)."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import psycopg
import pytest

from consumers.demo.load import load_demo
from consumers.demo.workload import Workload
from consumers.orchestration import planner
from consumers.pipeline import Pipeline
from consumers.settings import Settings
from consumers.warehouse.local import LocalWarehouse
from consumers.warehouse.verify import verify

pytestmark = pytest.mark.integration


def _database(state, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(state.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return name


def _drop(state, name: str) -> None:
    with psycopg.connect(state.dsn("postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s AND NOT active",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@dataclasses.dataclass
class Run:
    source: str
    warehouse: str
    bucket: str
    settings: Settings
    stream: str
    application: str


def _new_pipeline(
    local_stack, stack_settings, contracts, loader: str = "local"
) -> tuple[str, str, str, Settings, Pipeline]:
    """A seeded source database, an empty warehouse, a stream and a bucket of the test's own,
    and a pipeline over them (not started)."""
    src, wh = _database(local_stack, "src"), _database(local_stack, "wh")
    stream, bucket = f"load-{uuid.uuid4().hex[:8]}", f"batches-{uuid.uuid4().hex[:8]}"
    kinesis, s3 = local_stack.client("kinesis"), local_stack.client("s3")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": local_stack.region}
    )
    settings = dataclasses.replace(stack_settings, batch_bucket=bucket)
    state = dataclasses.replace(local_stack, stream_name=stream)
    load_demo(local_stack.dsn(src), contracts)
    pipeline = Pipeline(
        settings, state, contracts, source_dsn=local_stack.dsn(src),
        warehouse_dsn=local_stack.dsn(wh), application=f"app-{uuid.uuid4().hex[:8]}",
        loader=loader,
    )  # fmt: skip
    pipeline.capture.cfg.slot = f"slot_{src}"  # slot names are per cluster: one per database
    return src, wh, stream, settings, pipeline


@pytest.fixture(scope="module")
def pipeline_runs(local_stack, stack_settings, contracts) -> Iterator[dict[str, Run]]:
    """Both loaders' runs, side by side in two threads: each is a workload paced over 12 s
    and a drain, mostly waiting, on databases, a stream and a bucket of its own (one after
    the other they took 16 s and 24 s of the suite)."""
    made: list[tuple[str, str]] = []
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = {
                loader: pool.submit(
                    _pipeline_run, local_stack, stack_settings, contracts, loader, made
                )
                for loader in ("local", "stepfunctions")
            }
        yield {loader: future.result() for loader, future in futures.items()}
    finally:
        for src, wh in made:
            _drop(local_stack, src)
            _drop(local_stack, wh)


@pytest.fixture(scope="module")
def pipeline_run(pipeline_runs) -> Run:
    """A random workload over all totesys and type_zoo tables through the real pipeline, with a
    TRUNCATE of a hard-delete and of a soft-delete table in the middle (the truncate log)."""
    return pipeline_runs["local"]


@pytest.fixture(scope="module")
def sfn_pipeline_run(pipeline_runs) -> Run:
    """The same, loaded by the deployed state machine running in moto (--loader stepfunctions)."""
    return pipeline_runs["stepfunctions"]


def _pipeline_run(
    local_stack, stack_settings, contracts, loader: str, made: list[tuple[str, str]]
) -> Run:
    src, wh, stream, settings, pipeline = _new_pipeline(
        local_stack, stack_settings, contracts, loader
    )
    made.append((src, wh))
    source, application = local_stack.dsn(src), pipeline.driver.config.application
    seed = random.randrange(1 << 30)
    print(f"workload seed ({loader}): {seed} (reproduce with Workload(source, seed={seed}))")
    workload = Workload(source, seed=seed)
    stop = threading.Event()
    try:
        pipeline.start()
        workload.run(250, stop, 4)
        with psycopg.connect(source) as conn:  # rows before and after, in one transaction
            conn.execute("INSERT INTO payment_type VALUES (901, 'GONE', now(), now())")
            conn.execute("TRUNCATE payment_type, type_zoo")
            conn.execute("INSERT INTO payment_type VALUES (902, 'KEPT', now(), now())")
            conn.execute("INSERT INTO type_zoo (id, c_int) VALUES (902, 7)")
        workload.run(250, stop, 8)  # paced from its own start: about 1000 more changes
        pipeline.drain()
    finally:
        pipeline.stop()
    assert sum(workload.written.values()) > 1000
    with psycopg.connect(local_stack.dsn(wh)) as conn:
        kept = conn.execute("SELECT payment_type_id FROM payment_type WHERE payment_type_id > 900")
        assert kept.fetchall() == [(902,)]
    return Run(source, local_stack.dsn(wh), settings.batch_bucket, settings, stream, application)


def snapshot(dsn: str, contracts) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with psycopg.connect(dsn) as conn:
        for c in contracts:
            cols = ", ".join(f'"{col.name}"::text' for col in c.columns)
            keys = ", ".join(f'"{k}"' for k in c.primary_key)
            sql = (f'SELECT {cols}, "_cdc_version"::text, "_cdc_op", "_cdc_deleted" '
                   f'FROM "{c.schema}"."{c.name}" ORDER BY {keys}')  # fmt: skip
            out[c.qualified] = conn.execute(sql.encode()).fetchall()
    return out


@pytest.fixture
def empty_warehouse(local_stack) -> Iterator[str]:
    name = _database(local_stack, "wh")
    yield local_stack.dsn(name)
    _drop(local_stack, name)


@pytest.mark.parametrize("run", ["pipeline_run", "sfn_pipeline_run"])
def test_random_workload_end_to_end_verifies(run, request, contracts):
    """The live pipeline, with either loader: the in-process one or the state machine."""
    pipeline_run = request.getfixturevalue(run)
    diffs = verify(pipeline_run.source, pipeline_run.warehouse, contracts)
    assert all(d.ok for d in diffs), [d for d in diffs if not d.ok]
    assert sum(d.source_rows for d in diffs) > 1000
    with psycopg.connect(pipeline_run.warehouse) as conn:  # Redshift's SQL, applied
        loaded = conn.execute("SELECT count(*) FROM cdc.load_ledger").fetchone()
    assert loaded and loaded[0] >= len(contracts)


# ------------------------------------------------------------------ one test, two loaders
#
# The fidelity tests below run for both loaders: "local" (LocalWarehouse, the PostgreSQL load
# plans in this process) and "stepfunctions" (the deployed state machine executed by moto: the
# plan Lambda renders the Redshift plans, the Data API stand-in runs them against the
# warehouse). The state machine loads what is past its watermark; each test stages the batches
# it wants loaded as manifests under a prefix of its own (as a replay does), so a watermark and
# an order of its own.


class SfnLoads:
    """Loads through the state machine, into `warehouse`, of manifests staged under prefixes."""

    def __init__(self, local_stack, stack_settings, contracts, bucket: str, warehouse: str):
        from consumers.local.stepfunctions import StepFunctionsLoader

        self.s3 = local_stack.client("s3")
        self.clients = local_stack.client
        self.bucket = bucket
        self.loader = StepFunctionsLoader(
            warehouse, contracts, local_stack.client, bucket,
            endpoint_url=local_stack.aws_endpoint_url, region=local_stack.region,
            contracts_dir=str(stack_settings.contracts_dir.resolve()),
        )  # fmt: skip
        self.loader.bootstrap()

    def manifests(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="manifests/"
        )
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    def stage(self, keys: list[str], copies: int = 1) -> str:
        """`keys` (manifests) under a new prefix; `copies` > 1 lists each again under another
        name, so one load stages the same batch several times."""
        prefix = f"t-{uuid.uuid4().hex[:10]}/"
        for key in keys:
            _, shard, span = key.split("/")
            for n in range(copies):
                name = span if n == 0 else span.replace(".json", f"-copy{n}.json")
                self.s3.copy_object(
                    Bucket=self.bucket, CopySource={"Bucket": self.bucket, "Key": key},
                    Key=f"{prefix}manifests/{shard}/{name}",
                )  # fmt: skip
        return prefix

    def subscribe(self) -> Any:
        """An SQS queue on the failure topic; returns a function reading its messages."""
        sqs, sns = self.clients("sqs"), self.clients("sns")
        queue = sqs.create_queue(QueueName=f"alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.loader.topic_arn, Protocol="sqs",
                      Endpoint=arn["Attributes"]["QueueArn"])  # fmt: skip

        def messages() -> list[dict[str, Any]]:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [orjson.loads(orjson.loads(m["Body"])["Message"]) for m in got]

        return messages

    def load(self, prefix: str) -> None:
        self.loader.drain(300, prefix)
        assert not self.loader.failures, self.loader.failures
        assert not self.loader.pending(prefix)


@pytest.mark.parametrize("loader", ["local", "stepfunctions"])
def test_loading_the_same_manifests_twice_changes_nothing(
    pipeline_run, contracts, local_stack, stack_settings, loader
):
    before = snapshot(pipeline_run.warehouse, contracts)
    wh = LocalWarehouse(
        pipeline_run.warehouse, contracts, local_stack.client("s3"), pipeline_run.bucket
    )
    with psycopg.connect(pipeline_run.warehouse) as conn:
        ledger = conn.execute("SELECT count(*) FROM cdc.load_ledger").fetchone()
    if loader == "local":
        for table, files in _all_files(wh).items():
            wh.load_table(table, files)  # everything again, explicitly
    else:  # every manifest again, through the state machine (Redshift's plans)
        sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket,
                       pipeline_run.warehouse)  # fmt: skip
        sfn.load(sfn.stage(sfn.manifests()))
        assert len(sfn.loader.executions) == 1
        assert orjson.loads(sfn.loader.executions[0]["output"])["pending"]
    assert snapshot(pipeline_run.warehouse, contracts) == before
    with psycopg.connect(pipeline_run.warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM cdc.load_ledger").fetchone() == ledger


def _all_files(wh: LocalWarehouse) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for m in sorted(wh._manifests(), key=lambda m: (m.shard_id, int(m.first_sequence))):
        for f in m.files:
            out.setdefault(f.table, []).append((m.batch_id, f.key))
    return out


@pytest.mark.parametrize("loader", ["local", "stepfunctions"])
def test_replay_from_scratch_reaches_the_same_state(
    pipeline_run, contracts, local_stack, stack_settings, empty_warehouse, loader
):
    if loader == "local":
        wh = LocalWarehouse(
            empty_warehouse, contracts, local_stack.client("s3"), pipeline_run.bucket
        )
        wh.bootstrap()
        assert wh.run_once()
    else:
        sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket,
                       empty_warehouse)  # fmt: skip
        sfn.load(sfn.stage(sfn.manifests()))
    assert all(d.ok for d in verify(pipeline_run.source, empty_warehouse, contracts))
    assert _values(empty_warehouse, contracts) == _values(pipeline_run.warehouse, contracts)


def test_a_backlog_loaded_in_parts_of_a_few_rows_reaches_the_same_state(
    pipeline_run, contracts, local_stack, empty_warehouse
):
    """The loader cuts a table's backlog into loads of at most max_rows_per_load rows, each
    its own transaction, batches whole: the same warehouse as loading it at once."""
    wh = LocalWarehouse(
        empty_warehouse, contracts, local_stack.client("s3"), pipeline_run.bucket,
        max_rows_per_load=25,
    )  # fmt: skip
    wh.bootstrap()
    work = wh.pending()
    loads = wh.run_once()
    assert not wh.failures and not wh.pending()
    assert len(loads) > 2 * len(work)  # tables were loaded in several parts
    assert all(load.staged_rows <= 25 or load.batches == 1 for load in loads)
    assert all(d.ok for d in verify(pipeline_run.source, empty_warehouse, contracts))
    assert _values(empty_warehouse, contracts) == _values(pipeline_run.warehouse, contracts)


def _values(dsn, contracts):
    """The snapshot without the version, which differs only between full-load and CDC rows."""
    return {t: [r[:-3] + r[-2:] for r in rows] for t, rows in snapshot(dsn, contracts).items()}


@pytest.mark.parametrize("loader", ["local", "stepfunctions"])
def test_shuffled_and_duplicated_batches_reach_the_same_state(
    pipeline_run, contracts, local_stack, stack_settings, empty_warehouse, loader
):
    """Batches in any order (within a shard too), some applied twice, several per load."""
    wh = LocalWarehouse(empty_warehouse, contracts, local_stack.client("s3"), pipeline_run.bucket)
    wh.bootstrap()
    rng = random.Random(42)
    if loader == "local":
        for table, files in _all_files(wh).items():
            order = rng.sample(files, k=len(files))
            order += rng.sample(order, k=max(1, len(order) // 3))  # duplicates, applied later
            while order:
                n = rng.randint(1, 4)
                chunk, order = order[:n], order[n:]
                wh.load_table(table, chunk + chunk[:1])  # and duplicated within one load
    else:  # whole batches (every table of a manifest) per execution, in chunks of up to 6
        sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket,
                       empty_warehouse)  # fmt: skip
        keys = sfn.manifests()
        order = rng.sample(keys, k=len(keys))
        order += rng.sample(order, k=max(1, len(order) // 3))
        while order:
            n = rng.randint(3, 6)
            chunk, order = order[:n], order[n:]
            sfn.load(sfn.stage(chunk, copies=2))  # each twice within one load, too
    assert all(d.ok for d in verify(pipeline_run.source, empty_warehouse, contracts))
    assert _values(empty_warehouse, contracts) == _values(pipeline_run.warehouse, contracts)


def test_kill_9_of_the_loader_mid_load_then_restart(
    pipeline_run, contracts, local_stack, empty_warehouse, cli_env, tmp_path
):
    marker = tmp_path / "loader-died"
    env = {**cli_env, "CDC_BATCH_BUCKET": pipeline_run.bucket,
           "CDC_FAULT_EXIT_DURING_LOAD": str(marker)}  # fmt: skip
    args = [sys.executable, "-m", "consumers", "load", "--once", "--warehouse-dsn", empty_warehouse]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 137 and marker.exists()  # died after a MERGE, before its commit
    second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert all(d.ok for d in verify(pipeline_run.source, empty_warehouse, contracts))
    with psycopg.connect(empty_warehouse) as conn:
        (dups,) = conn.execute(
            "SELECT count(*) FROM (SELECT batch_id, table_name FROM cdc.load_ledger "
            "GROUP BY 1, 2 HAVING count(*) > 1) d"
        ).fetchone()
    assert dups == 0


def test_state_machine_load_killed_mid_transaction_then_next_execution(
    pipeline_run, contracts, local_stack, stack_settings, empty_warehouse
):
    """The stepfunctions side of the kill -9 test: a load's warehouse session dies after its
    MERGE, before its ledger insert (held there by a lock on the ledger, then terminated).
    DescribeStatement reports FAILED, the item fails, SNS is told, the watermark holds; the next
    execution applies everything once."""
    sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket, empty_warehouse)
    prefix = sfn.stage(sfn.manifests())
    cfg = sfn.loader._planner_config(prefix)
    with psycopg.connect(empty_warehouse) as holder:
        holder.execute("LOCK TABLE cdc.load_ledger IN EXCLUSIVE MODE")  # loads wait at the ledger
        done: list[dict[str, Any]] = []
        runner = threading.Thread(target=lambda: done.append(sfn.loader.execute(prefix)))
        runner.start()
        with psycopg.connect(empty_warehouse, autocommit=True) as admin:
            deadline = time.monotonic() + 120
            victims: list[Any] = []
            while not victims and time.monotonic() < deadline:
                victims = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL "
                    'AND query LIKE \'INSERT INTO "cdc"."load_ledger"%%\''
                ).fetchall()
                time.sleep(0.1)
            assert victims, "no load reached its ledger insert"
            admin.execute("SELECT pg_terminate_backend(%s)", victims[0])
        holder.rollback()  # the other loads go on
        runner.join(300)
    (execution,) = done
    assert execution["status"] == "SUCCEEDED"  # one table failing never fails the execution
    results = orjson.loads(execution["output"])["results"]
    failed = [r for r in results if r["failed"]]
    assert len(failed) == 1 and "terminating connection" in failed[0]["error"]["Cause"]
    assert planner.read_watermark(sfn.s3, cfg) == {}  # held: not every table loaded
    sfn.load(prefix)
    _applied_once_and_verified(sfn.loader.local, pipeline_run, contracts)


def test_concurrent_loaders_never_apply_a_batch_twice(
    pipeline_run, contracts, local_stack, empty_warehouse
):
    s3 = local_stack.client("s3")
    loaders = [
        LocalWarehouse(empty_warehouse, contracts, s3, pipeline_run.bucket) for _ in range(2)
    ]
    loaders[0].bootstrap()
    errors: list[BaseException] = []

    def load(w: LocalWarehouse) -> None:
        try:
            w.run_once()
        except BaseException as e:  # surfaced below: a failed loader must fail the test
            errors.append(e)

    threads = [threading.Thread(target=load, args=(w,)) for w in loaders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a loader did not finish"
    assert not errors, errors
    staged = sum(w.loads.total for w in loaders)
    assert staged >= 12
    _applied_once_and_verified(loaders[0], pipeline_run, contracts)


def _applied_once_and_verified(wh: LocalWarehouse, pipeline_run: Run, contracts) -> None:
    """Every (batch, table) the manifests name was applied exactly once; source = warehouse."""
    expected = {(b, t) for t, files in _all_files(wh).items() for b, _ in files}
    with psycopg.connect(wh.dsn) as conn:
        ledger = conn.execute("SELECT batch_id, table_name FROM cdc.load_ledger").fetchall()
    assert len(ledger) == len(set(ledger)) == len(expected)
    assert {(b, t) for b, t in ledger} == expected
    assert all(d.ok for d in verify(pipeline_run.source, wh.dsn, contracts))


def test_concurrent_state_machine_executions_never_apply_a_batch_twice(
    pipeline_run, contracts, local_stack, stack_settings, empty_warehouse
):
    """Two executions at once plan the same batches (one watermark); the plans' LOCK makes
    their loads of a table take turns and the ledger makes the second apply nothing."""
    sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket, empty_warehouse)
    prefix = sfn.stage(sfn.manifests())
    done: list[dict[str, Any]] = []
    runners = [
        threading.Thread(target=lambda: done.append(sfn.loader.execute(prefix))) for _ in range(2)
    ]
    for t in runners:
        t.start()
    for t in runners:
        t.join(300)
    assert [d["status"] for d in done] == ["SUCCEEDED", "SUCCEEDED"]
    for d in done:
        assert not [r for r in orjson.loads(d["output"])["results"] if r["failed"]]
    _applied_once_and_verified(sfn.loader.local, pipeline_run, contracts)


def test_a_failing_statement_fails_its_table_notifies_and_holds_the_watermark(
    pipeline_run, contracts, local_stack, stack_settings, empty_warehouse
):
    """A table whose statement fails (here: it was renamed away) is a FAILED statement, a
    failed Map item, an SNS message with the table and the error, and a watermark that does
    not move; the other tables load. Fixed, the next execution loads it."""
    sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket, empty_warehouse)
    alerts = sfn.subscribe()
    prefix = sfn.stage(sfn.manifests())
    cfg = sfn.loader._planner_config(prefix)
    with psycopg.connect(empty_warehouse, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.currency RENAME TO currency_away")
    execution = sfn.loader.execute(prefix)
    results = orjson.loads(execution["output"])["results"]
    # the truncate log's plan locks every table it may truncate, currency among them
    failed = {r["table"]: r for r in results if r["failed"]}
    assert set(failed) == {"public.currency", "cdc_meta.truncations"}
    for item in failed.values():
        assert item["batches"] and item["error"]["Error"] == "LoadFailed"
        assert 'relation "public.currency" does not exist' in item["error"]["Cause"]
        assert "SQLSTATE 42P01" in item["error"]["Cause"]
    told = alerts()
    assert sorted(m["table"] for m in told) == sorted(failed)
    assert all(m["failed"] is True and "42P01" in m["error"]["Cause"] for m in told)
    assert planner.read_watermark(sfn.s3, cfg) == {}  # held
    assert not planner._records(sfn.s3, cfg, planner.QUARANTINE)  # not the data's fault
    # the others loaded (but for the two tables the workload truncated: their markers wait)
    waiting = {*failed, "public.payment_type", "public.type_zoo"}
    others = [c for c in contracts if c.qualified not in waiting]
    assert all(d.ok for d in verify(pipeline_run.source, empty_warehouse, others))
    with psycopg.connect(empty_warehouse, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.currency_away RENAME TO currency")
    sfn.load(prefix)
    assert planner.read_watermark(sfn.s3, cfg)  # advanced
    assert all(d.ok for d in verify(pipeline_run.source, empty_warehouse, contracts))


def test_a_failing_plan_fails_the_execution_and_notifies(
    pipeline_run, contracts, local_stack, stack_settings, empty_warehouse
):
    """Outside a table (the plan Lambda raises: a manifest names a table without a contract),
    the execution fails and the alert topic is told."""
    sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket, empty_warehouse)
    alerts = sfn.subscribe()
    key = sfn.manifests()[0]
    body = orjson.loads(sfn.s3.get_object(Bucket=pipeline_run.bucket, Key=key)["Body"].read())
    body["files"][0]["table"] = "public.nowhere"
    prefix = f"t-{uuid.uuid4().hex[:10]}/"
    sfn.s3.put_object(Bucket=pipeline_run.bucket, Key=prefix + key, Body=orjson.dumps(body))
    execution = sfn.loader.execute(prefix)
    assert execution["status"] == "FAILED"
    (message,) = alerts()
    assert "public.nowhere" in str(message)


def test_planner_renders_copy_manifests_and_plans_then_commits(
    pipeline_run, contracts, local_stack, monkeypatch, capsys
):
    import sqlglot

    from consumers.orchestration.state_machine import definition

    s3 = local_stack.client("s3")
    cfg = planner.PlannerConfig(
        batch_bucket=pipeline_run.bucket,
        copy_role_arn="arn:aws:iam::123456789012:role/copy",
        contracts={c.qualified: c for c in contracts},
    )
    first = planner.plan(s3, cfg, "run-1")
    assert first["pending"] and len(first["tables"]) == len(contracts)
    assert len(orjson.dumps(first)) < 64 * 1024  # no SQL: a state's data is at most 256 KiB
    for t in first["tables"]:
        sqls = planner.statements(cfg, t["table"], t["manifest_url"])  # what its item runs
        assert len(sqls) <= planner.MAX_BATCH_STATEMENTS
        copy = next(sql for sql in sqls if sql.startswith('COPY "stage"'))
        url = copy.split("'")[1]
        assert url == t["manifest_url"]
        body = s3.get_object(Bucket=pipeline_run.bucket, Key=url.split("/", 3)[3])["Body"].read()
        entries = orjson.loads(body)["entries"]
        assert len(entries) == t["files"] and all(e["meta"]["content_length"] > 0 for e in entries)
        for sql in sqls:
            if not sql.startswith("LOCK"):
                sqlglot.parse_one(sql, read="redshift")
    assert first["oldest_pending_seconds"] > 0
    planner.commit(s3, cfg, first["watermark"])
    # the Lambda handler, configured as on AWS (plus the endpoint), plans nothing more and
    # publishes freshness as one Embedded Metric Format line
    from consumers.orchestration import handlers

    for k, v in {
        "CDC_BATCH_BUCKET": pipeline_run.bucket, "CDC_REGION": local_stack.region,
        "CDC_REDSHIFT_COPY_ROLE_ARN": cfg.copy_role_arn,
        "CDC_AWS_ENDPOINT_URL": local_stack.aws_endpoint_url,
    }.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    again = handlers.plan_loads({"run_id": "run-2", "iteration": first["iteration"]}, None)
    assert not again["pending"] and again["iteration"] == 2
    emf = orjson.loads(capsys.readouterr().out.strip())
    assert emf["OldestPendingBatchSeconds"] == 0 == again["oldest_pending_seconds"]
    (metrics,) = emf["_aws"]["CloudWatchMetrics"]
    assert metrics["Namespace"] == "TotesCdc"
    assert metrics["Metrics"] == [{"Name": "OldestPendingBatchSeconds", "Unit": "Seconds"}]
    # the state machine is accepted by the Step Functions API (moto)
    sfn = local_stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"load-{uuid.uuid4().hex[:6]}",
        definition=orjson.dumps(definition(
            plan_function_arn="arn:aws:lambda:eu-west-2:123456789012:function:plan",
            commit_function_arn="arn:aws:lambda:eu-west-2:123456789012:function:commit",
            workgroup="totes", database="dev",
            secret_arn="arn:aws:secretsmanager:eu-west-2:123456789012:secret:rs",
            failure_topic_arn="arn:aws:sns:eu-west-2:123456789012:load-failures",
        )).decode(),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]  # fmt: skip
    assert sfn.describe_state_machine(stateMachineArn=arn)["status"] == "ACTIVE"


def test_verify_names_the_differing_keys_and_exits_non_zero(
    pipeline_run, contracts, local_stack, empty_warehouse, cli_env
):
    wh = LocalWarehouse(empty_warehouse, contracts, local_stack.client("s3"), pipeline_run.bucket)
    wh.bootstrap()
    wh.run_once()
    with psycopg.connect(empty_warehouse, autocommit=True) as conn:
        conn.execute("UPDATE public.staff SET email_address = 'tampered' WHERE staff_id = 3")
        conn.execute("DELETE FROM public.currency WHERE currency_id = 2")
    args = [sys.executable, "-m", "consumers", "verify", "--source-dsn", pipeline_run.source,
            "--warehouse-dsn", empty_warehouse]  # fmt: skip
    proc = subprocess.run(args, env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "DIFF public.staff" in proc.stdout and "different: 3" in proc.stdout
    assert "DIFF public.currency" in proc.stdout and "missing: 2" in proc.stdout
    assert "ok   public.sales_order" in proc.stdout


def _query(name: str) -> str:
    from consumers.settings import PROJECT_DIR

    return (PROJECT_DIR / "sql" / "analytics" / f"{name}.sql").read_text()


def test_example_queries_match_values_computed_from_the_source(pipeline_run, contracts):
    from collections import Counter, defaultdict
    from decimal import Decimal

    import sqlglot

    with psycopg.connect(pipeline_run.source) as src:
        orders = src.execute(
            "SELECT created_at, currency_id, design_id, counterparty_id, units_sold, unit_price "
            "FROM sales_order"
        ).fetchall()
        currency = dict(src.execute("SELECT currency_id, currency_code FROM currency").fetchall())
        design = dict(src.execute("SELECT design_id, design_name FROM design").fetchall())
        city = dict(src.execute(
            "SELECT c.counterparty_id, a.city FROM counterparty c "
            "LEFT JOIN address a ON a.address_id = c.legal_address_id"
        ).fetchall())  # fmt: skip
    by_month: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    units_by_design: Counter[str] = Counter()
    by_city: dict[str | None, Decimal] = defaultdict(Decimal)
    for created, cur, des, cp, units, price in orders:
        if cur in currency:
            cell = by_month[(created.year, created.month, currency[cur])]
            cell[0] += units * price
            cell[1] += units
        if des in design:
            units_by_design[design[des]] += units
        if cp in city:
            by_city[city[cp]] += units * price
    with psycopg.connect(pipeline_run.warehouse) as wh:
        got = wh.execute(_query("sales_by_month_and_currency")).fetchall()
        assert got == sorted((y, m, c, v[0], v[1]) for (y, m, c), v in by_month.items())
        top = wh.execute(_query("top_designs")).fetchall()
        expected = sorted(units_by_design.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        assert [(n, int(u)) for n, u in top] == expected
        cities = wh.execute(_query("sales_by_counterparty_city")).fetchall()
        assert dict(cities) == dict(by_city)
    for name in ("sales_by_month_and_currency", "top_designs", "sales_by_counterparty_city"):
        sqlglot.parse_one(_query(name), read="redshift")


def test_analyst_star_schema_leaves_out_pii(pipeline_run):
    with psycopg.connect(pipeline_run.warehouse) as wh:
        cols = {
            (t, c)
            for t, c in wh.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'analyst' AND table_name LIKE 'dim_%'"
            )
        }
        full = {
            (t, c)
            for t, c in wh.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'analytics'"
            )
        }
    assert ("dim_staff", "email_address") in full and ("dim_staff", "email_address") not in cols
    assert ("dim_counterparty", "phone_number") not in cols and ("dim_staff", "location") in cols
    assert {t for t, _ in full} == {"fact_sales_order", "dim_date", "dim_staff", "dim_location",
                                    "dim_currency", "dim_design", "dim_counterparty"}  # fmt: skip


def test_status_reports_tables_shards_and_dead_letters(pipeline_run, contracts, local_stack):
    from consumers import status

    tables = {
        t["table"]: t for t in status.tables(pipeline_run.source, pipeline_run.warehouse, contracts)
    }
    sales = tables["public.sales_order"]
    assert sales["source_rows"] == sales["warehouse_rows"] > 0
    assert (
        sales["freshness_s"] is not None and sales["last_load"] and sales["last_load_seconds"] >= 0
    )
    shards = status.shards(
        local_stack.client("kinesis"), local_stack.client("dynamodb"), pipeline_run.stream,
        pipeline_run.application,
    )  # fmt: skip
    assert len(shards) == 2 and all(s["millis_behind_latest"] == 0 for s in shards)
    assert all(s["checkpoint"] and s["checkpoint"].isdigit() for s in shards)
    assert status.dead_letters(local_stack.client("s3"), local_stack.dead_letter_bucket) == {}


def _replay(pipeline_run, local_stack, contracts, **kwargs):
    from consumers.replay import replay

    kwargs.setdefault("warehouse_dsn", pipeline_run.warehouse)
    return replay(
        pipeline_run.settings, kinesis=local_stack.client("kinesis"),
        dynamodb=local_stack.client("dynamodb"), s3=local_stack.client("s3"),
        stream=pipeline_run.stream, endpoint_url=local_stack.aws_endpoint_url,
        region=local_stack.region, contracts=contracts, **kwargs,
    )  # fmt: skip


def test_replay_from_the_start_into_a_new_schema_verifies(pipeline_run, contracts, local_stack):
    result = _replay(pipeline_run, local_stack, contracts, start=None, into_schema="rebuilt")
    assert result.records > 1000 and result.loads == len(contracts)
    # On AWS the state machine loads a replay's batches: the planner finds them by prefix.

    cfg = planner.PlannerConfig(
        batch_bucket=pipeline_run.bucket, copy_role_arn="arn:aws:iam::123456789012:role/copy",
        contracts={c.qualified: c for c in contracts}, prefix=result.prefix,
    )  # fmt: skip
    plan = planner.plan(local_stack.client("s3"), cfg, "replay-1")
    assert plan["pending"] and plan["prefix"] == result.prefix
    assert len(plan["tables"]) == len(contracts)
    diffs = verify(pipeline_run.source, pipeline_run.warehouse, contracts, schema="rebuilt")
    assert all(d.ok for d in diffs), [d for d in diffs if not d.ok]
    with psycopg.connect(pipeline_run.warehouse) as conn:  # the analyst views still read public
        (definition,) = conn.execute("SELECT pg_get_viewdef('analyst.staff')").fetchone()
    assert "rebuilt" not in definition


def test_replay_staged_then_loaded_by_the_state_machine_verifies(
    pipeline_run, contracts, local_stack, stack_settings, empty_warehouse
):
    """The AWS replay: `cdc replay --stage-only` re-reads the stream into replays/<run>/, and
    an execution started with {"prefix": ...} loads those batches (here into an empty
    warehouse) with a watermark of their own."""
    result = _replay(pipeline_run, local_stack, contracts, start=None, warehouse_dsn=None)
    assert result.records > 1000 and result.prefix.startswith("replays/")
    sfn = SfnLoads(local_stack, stack_settings, contracts, pipeline_run.bucket, empty_warehouse)
    sfn.load(result.prefix)
    assert planner.read_watermark(sfn.s3, sfn.loader._planner_config(result.prefix))
    diffs = verify(pipeline_run.source, empty_warehouse, contracts)
    assert all(d.ok for d in diffs), [d for d in diffs if not d.ok]


def test_replay_from_a_time_into_the_live_tables_changes_nothing(
    pipeline_run, contracts, local_stack
):
    from datetime import UTC, datetime, timedelta

    before = snapshot(pipeline_run.warehouse, contracts)
    start = datetime.now(UTC) - timedelta(seconds=5)  # after the run: nothing, or a tail
    _replay(pipeline_run, local_stack, contracts, start=datetime.now(UTC) - timedelta(minutes=3))
    _replay(pipeline_run, local_stack, contracts, start=start)
    assert all(d.ok for d in verify(pipeline_run.source, pipeline_run.warehouse, contracts))
    assert _values(pipeline_run.warehouse, contracts) == {
        t: [r[:-3] + r[-2:] for r in rows] for t, rows in before.items()
    }


def test_replay_refuses_a_start_older_than_the_retention(cli_env):
    base = [sys.executable, "-m", "consumers", "replay"]
    proc = subprocess.run([*base, "--from", "2020-01-01T00:00:00Z"], env=cli_env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "retention" in proc.stderr and "--from-start" in proc.stderr
    proc = subprocess.run(base, env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--from-start" in proc.stderr


def test_replay_during_live_traffic_converges(local_stack, stack_settings, contracts):
    from consumers.replay import replay

    src, wh, stream, settings, pipeline = _new_pipeline(local_stack, stack_settings, contracts)
    source, warehouse = local_stack.dsn(src), local_stack.dsn(wh)
    kinesis, s3 = local_stack.client("kinesis"), local_stack.client("s3")
    stop = threading.Event()
    errors: list[BaseException] = []

    replayed: list[int] = []

    def replay_midway() -> None:
        try:
            time.sleep(2)
            result = replay(
                settings, kinesis=kinesis, dynamodb=local_stack.client("dynamodb"), s3=s3,
                stream=stream, endpoint_url=local_stack.aws_endpoint_url,
                region=local_stack.region, warehouse_dsn=warehouse, contracts=contracts,
                start=None,
            )  # fmt: skip
            replayed.append(result.records)
        except BaseException as e:
            errors.append(e)

    try:
        pipeline.start()
        replayer = threading.Thread(target=replay_midway)
        replayer.start()
        writer = threading.Thread(target=Workload(source, seed=9).run, args=(200, stop, 6))
        writer.start()
        from consumers import status

        deadline = time.monotonic() + 120  # cdc status while the pipeline runs
        while True:  # (waits for the first load rather than a fixed time: the machine is shared)
            live = {t["table"]: t for t in status.tables(source, warehouse, contracts)}
            if live["public.sales_order"]["warehouse_rows"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert live["public.sales_order"]["warehouse_rows"] > 0
        assert live["public.sales_order"]["last_load"] is not None
        lag = status.shards(
            kinesis, local_stack.client("dynamodb"), stream, pipeline.driver.config.application
        )
        assert len(lag) == 2 and all(s["checkpoint"] for s in lag)
        writer.join()
        replayer.join(300)
        pipeline.drain()
    finally:
        pipeline.stop()
    assert not errors, errors
    assert replayed and replayed[0] > 900  # the replay re-read at least the full load
    assert all(d.ok for d in verify(source, warehouse, contracts))
    _drop(local_stack, src)
    _drop(local_stack, wh)


class _GatedKinesis:
    """The consumers' Kinesis client, whose GetRecords waits while the gate is closed: a
    consumer that is slow to poll again after its shard went idle."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.gate = threading.Event()
        self.gate.set()

    def get_records(self, **kwargs: Any) -> Any:
        self.gate.wait()
        return self._client.get_records(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_drain_waits_for_consumers_that_have_not_polled_since_the_last_put(
    local_stack, stack_settings, contracts
):
    """Regression: drain judged the consumers by "idle at the last poll", which can predate
    the capture's last put; it then stopped the loader before the last batches existed."""
    src, wh, _stream, _settings, pipeline = _new_pipeline(local_stack, stack_settings, contracts)
    source, warehouse = local_stack.dsn(src), local_stack.dsn(wh)
    gated = _GatedKinesis(pipeline.driver.kinesis)
    pipeline.driver.kinesis = gated
    try:
        pipeline.start()
        pipeline.drain()  # the full load is in; every shard is idle at its last poll
        gated.gate.clear()  # no consumer polls again until the gate opens
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("UPDATE currency SET last_updated = last_updated + interval '1 day'")
            conn.execute("DELETE FROM payment WHERE payment_id % 7 = 0")
        threading.Timer(3.0, gated.gate.set).start()
        pipeline.drain()
    finally:
        gated.gate.set()
        pipeline.stop()
    diffs = verify(source, warehouse, contracts)
    assert all(d.ok for d in diffs), [d for d in diffs if not d.ok]
    _drop(local_stack, src)
    _drop(local_stack, wh)


@pytest.mark.parametrize("loader", ["local", "stepfunctions"])
def test_untouched_toast_update_loaded_before_the_full_load_row(
    contracts, local_stack, stack_settings, empty_warehouse, loader
):
    """The worst order: an update that left a TOASTed value untouched is loaded before the
    full-load row (version 0) that carries the value."""
    from consumers.batching.buffer import FlushPolicy, ShardBatch
    from consumers.events.model import ChangeEvent
    from consumers.sink.writer import BatchWriter

    s3 = local_stack.client("s3")
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": local_stack.region}
    )
    index = {c.qualified: c for c in contracts}
    writer = BatchWriter(s3, bucket, bucket, index)
    big = "x" * 30_000
    load = ChangeEvent(
        "public.type_zoo", "load", (1,), {"id": 1, "c_text": big, "c_int": 1}, 0, "1"
    )
    touch = ChangeEvent("public.type_zoo", "update", (1,), {"id": 1, "c_int": 2}, 5 << 32, "2",
                        "2026-11-24T10:00:00.000000Z", ("c_text",))  # fmt: skip
    manifests = []
    for event in (load, touch):
        batch = ShardBatch(FlushPolicy(), lambda t: index[t].primary_key)
        batch.note(event.sequence, 1_764_000_000_000, 0)
        batch.add(event)
        manifests.append(writer.write("shardId-000000000000", batch, "rows"))
    wh = LocalWarehouse(empty_warehouse, contracts, s3, bucket)
    wh.bootstrap()
    if loader == "local":
        for m in reversed(manifests):  # the update first, then the full-load row
            wh.load_table("public.type_zoo", [(m.batch_id, f.key) for f in m.files])
    else:  # one execution each, the update's first
        sfn = SfnLoads(local_stack, stack_settings, contracts, bucket, empty_warehouse)
        for m in reversed(manifests):
            sfn.load(
                sfn.stage([f"manifests/{m.shard_id}/{m.first_sequence}-{m.last_sequence}.json"])
            )
    with psycopg.connect(empty_warehouse) as conn:
        row = conn.execute("SELECT c_text = %s, c_int FROM public.type_zoo WHERE id = 1", (big,))
        assert row.fetchone() == (True, 2)


def test_concurrent_bootstraps_of_one_warehouse_take_turns(local_stack, contracts, empty_warehouse):
    """Two `cdc run`s starting on one warehouse bootstrap it at once; CREATE ... IF NOT EXISTS
    is not safe against a concurrent twin (42P07 "already exists", seen in CI)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def bootstrap() -> None:
        try:
            barrier.wait(10)
            LocalWarehouse(empty_warehouse, contracts, None, "").bootstrap()
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=bootstrap) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads) and not errors, errors
