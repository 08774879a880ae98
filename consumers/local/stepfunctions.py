"""`cdc run --loader stepfunctions`: the production load path, run locally.

The state machine of orchestration/state_machine.py, as the infrastructure deploys it, is
created in the local stack's moto server and executed there by moto's Step Functions
interpreter: its Plan and Commit tasks invoke the real Lambda handlers
(consumers.orchestration.handlers), its batchExecuteStatement/describeStatement tasks run the
Redshift-dialect load plans against the local warehouse, and a failing table publishes to an SNS
topic (the stand-ins that make that possible live in the launcher: load_standins.py).

This loader plays EventBridge's part: it starts an execution, waits for it to end, and starts
the next one. The definition's parameters differ from the deployment's only in timing (poll and
loop waits of 1 s, one round per execution, every table at once), so a local run is quick;
the states, Retry and Catch are the same.

It offers the in-process loader's interface to the pipeline (bootstrap, run_once, loads,
failures, quarantined, row_counts), reading what happened from the warehouse's ledger and the
executions' output.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
import zipfile
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from consumers.contracts.model import TableContract
from consumers.orchestration import planner
from consumers.orchestration.state_machine import definition
from consumers.warehouse.failures import Outcome, classify_redshift
from consumers.warehouse.local import LoadHistory, LocalWarehouse, TableFailure, TableLoad

log = logging.getLogger("cdc.loader.stepfunctions")

COPY_ROLE_ARN = "arn:aws:iam::123456789012:role/totes-cdc-redshift-copy"  # not checked locally
WORKGROUP = "local"  # the Data API stand-in runs against the local cluster whatever the name
EXECUTION_TIMEOUT_SECONDS = 600.0
KEEP_EXECUTIONS = 100


def _zip() -> bytes:
    """The functions' code package: moto wants one; the stand-in runs the handler from the
    installed package instead (the planner image on AWS)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("README", "handlers run from the installed consumers package")
    return buf.getvalue()


class StepFunctionsLoader:
    def __init__(
        self,
        dsn: str,
        contracts: list[TableContract],
        clients: Any,
        bucket: str,
        *,
        endpoint_url: str,
        region: str,
        contracts_dir: str,
        name: str | None = None,
    ) -> None:
        """`clients(service)` makes a client for the local stack's moto server."""
        self.local = LocalWarehouse(dsn, contracts, clients("s3"), bucket)
        self.contracts = {c.qualified: c for c in contracts}
        self.s3 = clients("s3")
        self.sfn = clients("stepfunctions")
        self._clients = clients
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.contracts_dir = contracts_dir
        self.name = name or f"totes-cdc-load-{uuid.uuid4().hex[:8]}"
        self.database = str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])
        self.state_machine_arn: str | None = None
        self.topic_arn: str | None = None
        self.loads = LoadHistory()
        self.failures: dict[str, TableFailure] = {}
        # describe_execution of the latest executions, oldest first. Bounded: a long
        # `cdc run --loader stepfunctions` starts one every second or two, each a few kB.
        self.executions: deque[dict[str, Any]] = deque(maxlen=KEEP_EXECUTIONS)
        self._seen = datetime.now(UTC)  # loads before this run are not this run's

    # ------------------------------------------------------------------ setup

    def bootstrap(self) -> None:
        """The warehouse's tables (as `cdc warehouse bootstrap` makes them), then the state
        machine, its two functions and its failure topic in moto."""
        self.local.bootstrap()
        if self.state_machine_arn is None:
            self.state_machine_arn = self._deploy()

    def _deploy(self) -> str:
        iam, lam, sns = self._clients("iam"), self._clients("lambda"), self._clients("sns")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
                 "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}  # fmt: skip
        try:
            role = iam.get_role(RoleName=self.name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            role = iam.create_role(
                RoleName=self.name, AssumeRolePolicyDocument=orjson.dumps(trust).decode()
            )["Role"]["Arn"]
        environment = {
            "CDC_BATCH_BUCKET": self.bucket,
            "CDC_REGION": self.region,
            "CDC_CONTRACTS": self.contracts_dir,
            "CDC_REDSHIFT_COPY_ROLE_ARN": COPY_ROLE_ARN,
            "CDC_AWS_ENDPOINT_URL": self.endpoint_url,
        }
        arns = {}
        for step, handler in (("plan", "plan_loads"), ("commit", "commit_watermark")):
            function = f"{self.name}-{step}"
            try:
                arns[step] = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
            except lam.exceptions.ResourceNotFoundException:
                arns[step] = lam.create_function(
                    FunctionName=function, Runtime="python3.12", Role=role,
                    Handler=f"consumers.orchestration.handlers.{handler}",
                    Code={"ZipFile": _zip()}, Timeout=300,
                    Environment={"Variables": environment},
                )["FunctionArn"]  # fmt: skip
        self.topic_arn = sns.create_topic(Name=f"{self.name}-failures")["TopicArn"]
        body = definition(
            plan_function_arn=arns["plan"], commit_function_arn=arns["commit"],
            workgroup=WORKGROUP, database=self.database, failure_topic_arn=self.topic_arn,
            poll_seconds=1, loop_wait_seconds=1, max_iterations=1,
            max_concurrency=max(1, len(self.contracts)),
        )  # fmt: skip
        existing = {
            m["name"]: m["stateMachineArn"] for m in self.sfn.list_state_machines()["stateMachines"]
        }
        if self.name in existing:
            return str(existing[self.name])
        arn: str = self.sfn.create_state_machine(
            name=self.name, definition=orjson.dumps(body).decode(),
            roleArn=f"arn:aws:iam::123456789012:role/{self.name}-sfn",
        )["stateMachineArn"]  # fmt: skip
        return arn

    # ------------------------------------------------------------------ running

    def execute(self, prefix: str = "") -> dict[str, Any]:
        """One execution, start to end: its describe_execution (status, output)."""
        if self.state_machine_arn is None:
            self.bootstrap()
        name = f"run-{uuid.uuid4().hex[:12]}"
        arn = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name,
            input=orjson.dumps({"run_id": name, "prefix": prefix}).decode(),
        )["executionArn"]  # fmt: skip
        deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
        while True:
            done = self.sfn.describe_execution(executionArn=arn)
            if done["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {name} still running after 10 minutes")
            time.sleep(0.1)
        self.executions.append(done)
        return dict(done)

    def add_manifests(self, keys: list[str]) -> None:
        """The planner lists the manifests itself (past the watermark in S3)."""

    def pending(self, prefix: str = "") -> bool:
        """Whether manifests past the watermark (of `prefix`) are waiting."""
        cfg = self._planner_config(prefix)
        return bool(planner.pending_manifests(self.s3, cfg, planner.read_watermark(self.s3, cfg)))

    def _planner_config(self, prefix: str = "") -> planner.PlannerConfig:
        return planner.PlannerConfig(self.bucket, COPY_ROLE_ARN, self.contracts, prefix=prefix)

    def run_once(
        self, listing: bool = True, *, retry_now: bool = False, prefix: str = ""
    ) -> list[TableLoad]:
        """One execution; the loads it applied (from the ledger) and its failed tables."""
        done = self.execute(prefix)
        if done["status"] != "SUCCEEDED":
            raise RuntimeError(
                f"load execution {done['name']} {done['status']}: {done.get('error', '')} "
                f"{done.get('cause', '')}".strip()
            )
        output = orjson.loads(done.get("output") or "{}")
        self._note_failures(output.get("results") or [])
        return self._new_loads()

    def _note_failures(self, results: list[dict[str, Any]]) -> None:
        for item in results:
            table = item["table"]
            if not item.get("failed"):
                if self.failures.pop(table, None) is not None:
                    log.warning("load of %s succeeded again", table)
                continue
            error = item.get("error") or {}
            failure = classify_redshift(None, f"{error.get('Error', '')}: {error.get('Cause', '')}")
            attempts = self.failures[table].attempts + 1 if table in self.failures else 1
            self.failures[table] = TableFailure(table, failure, attempts, time.monotonic())
            log.error("load of %s failed (published to SNS)", self.failures[table].describe())

    def _new_loads(self) -> list[TableLoad]:
        """Loads committed since the last look: one per (table, transaction) in the ledger."""
        new = []
        with self.local.connect() as conn:
            rows = conn.execute(
                "SELECT table_name, count(*), sum(row_count), started_at, max(applied_at) "
                "FROM cdc.load_ledger WHERE applied_at > %s GROUP BY table_name, started_at "
                "ORDER BY 5",
                (self._seen,),
            ).fetchall()
            for table, batches, staged, started, applied in rows:
                contract = self.local.contracts.get(table)
                freshness: list[float] = []
                if contract is not None:
                    freshness = [
                        float(r[0])
                        for r in conn.execute(
                            f"SELECT extract(epoch FROM %s - _cdc_commit_ts) FROM "  # nosec B608  # identifiers from validated contracts, quoted by the dialect
                            f"{self.local.dialect.table(contract)} WHERE _cdc_loaded_at "
                            "BETWEEN %s AND %s AND _cdc_commit_ts IS NOT NULL LIMIT 1000",
                            (applied, started, applied),
                        )
                    ]
                seconds = (applied - started).total_seconds()
                new.append(TableLoad(table, int(batches), int(staged), seconds, applied, freshness))
                self._seen = max(self._seen, applied)
        self.loads.extend(new)
        return new

    @property
    def quarantined(self) -> list[dict[str, Any]]:
        """The Commit's quarantine records (`quarantine/<table>/<batch>.json`)."""
        return [r for _, r in planner._records(self.s3, self._planner_config(), planner.QUARANTINE)]

    def row_counts(self) -> dict[str, int]:
        return self.local.row_counts()

    def drain(self, timeout: float, prefix: str = "") -> None:
        """Executions until one plans nothing or nothing past the watermark is left, or only
        failing tables are."""
        deadline = time.monotonic() + timeout
        while True:
            self.run_once(prefix=prefix)
            planned = orjson.loads(self.executions[-1].get("output") or "{}").get("pending")
            if not planned or not self.pending(prefix) or time.monotonic() > deadline:
                return
            if self.failures and all(
                f.failure.outcome is not Outcome.TRANSIENT for f in self.failures.values()
            ):
                return
