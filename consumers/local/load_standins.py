"""Stand-ins that let moto's Step Functions interpreter run the deployed load state machine
locally (`cdc run --loader stepfunctions`). Installed by the launcher (moto_server.py) into the
moto server process only; no product code path imports this module.

moto 5 executes `arn:aws:states:::lambda:invoke` through its Lambda backend, which runs the
function in a Docker container, and `aws-sdk:redshiftdata:*` through its Redshift Data API
backend, which has no BatchExecuteStatement and answers every statement with canned results.
Two small replacements, nothing else of moto's behaviour changed:

- Lambda: a function whose handler is in `consumers.orchestration` runs in this process: the
  handler named by the function's `Handler`, with the function's `Environment` variables set
  for the call (one call at a time: the environment is the process's; they stay set, see
  invoke_handler), its return value as the
  payload, and an exception as a function error `{"errorType", "errorMessage"}` (what Lambda
  returns, so the state's Retry/Catch see the error type). Other functions go to moto as
  before.
- Redshift Data API: BatchExecuteStatement runs its statements, in order and in one
  transaction (the Data API's batch semantics), asynchronously against the local PostgreSQL
  cluster's database named by `Database` (`CDC_STANDIN_WAREHOUSE_DSN` gives the server; the
  workgroup is not looked at). DescribeStatement reports SUBMITTED/STARTED, then FINISHED, or
  FAILED with the error text (PostgreSQL's message, plus its SQLSTATE in the "(SQLSTATE xxxxx)"
  form Redshift uses in some messages, see warehouse/failures.py), as the Data API does.
  Each statement is Redshift SQL; where the dialects differ it is translated:
  * `CREATE TEMP TABLE "stage" (...)`: the table's columns take the local warehouse table's
    types (the local warehouse keeps the source's types, Redshift gets SUPER/VARCHAR/...:
    README "Where each type lands"); the `_cdc_*` columns keep theirs;
  * `COPY "stage" FROM '<COPY manifest>' ... FORMAT AS PARQUET ... MANIFEST`: the manifest
    and its Parquet objects are read from the local S3 (moto), matched to the stage's columns
    by position (Redshift's rule for Parquet; a column count that differs fails as it would
    there) and streamed into `COPY stage FROM STDIN`;
  * `LOCK t, ...` runs as is (PostgreSQL's LOCK without a mode is ACCESS EXCLUSIVE, like
    Redshift's);
  * everything else goes through sqlglot (redshift → postgres), with four fixes where sqlglot's
    output is not PostgreSQL's: REGEXP_SUBSTR(..., 'e') → PostgreSQL 15's REGEXP_SUBSTR with
    its subexpression argument, GETDATE() → statement_timestamp() (Redshift: the statement's
    start), SYSDATE → transaction_timestamp() (Redshift: the transaction's start),
    JSON_SERIALIZE(x) → CAST(x AS text), FROM_VARBYTE(x, 'hex') → encode(x, 'hex').
"""

from __future__ import annotations

import functools
import importlib
import io
import os
import re
import threading
import time
import traceback
from typing import Any

import orjson

HANDLER_PACKAGE = "consumers.orchestration."
WAREHOUSE_DSN_ENV = "CDC_STANDIN_WAREHOUSE_DSN"  # postgresql://user@host:port/ (no database)

_handler_lock = threading.Lock()
_set_by_handlers: set[str] = set()  # every variable a function's environment has set


# ---------------------------------------------------------------------------------- Lambda


def invoke_handler(handler: str, environment: dict[str, str], event: Any) -> tuple[str, bool]:
    """Run `module.function` with `environment` set; (payload JSON, errored).

    The variables are set for the call and left set afterwards, never removed: moto's own
    threads iterate os.environ while this runs (every boto3 client the Step Functions
    interpreter makes reads the proxy variables through urllib's getproxies_environment, which
    walks os.environ.items()), and a key removed between that walk's listing and its lookup
    raises KeyError in moto. That failed a CI run: a Map iteration ended in "States.Runtime:
    'CDC_BATCH_BUCKET'". So a function that lacks a variable an earlier function set is refused
    (a function error naming it) rather than run with the earlier value; the launcher deploys
    every function with the same names."""
    module, _, name = handler.rpartition(".")
    with _handler_lock:
        try:
            if stale := sorted(_set_by_handlers - environment.keys()):
                raise RuntimeError(
                    f"the local Lambda stand-in cannot unset {', '.join(stale)} (set by an "
                    "earlier function): deploy every function with the same variable names"
                )
            os.environ.update(environment)
            _set_by_handlers.update(environment)
            function = getattr(importlib.import_module(module), name)
            return orjson.dumps(function(event, None)).decode(), False
        except Exception as e:  # returned to Step Functions as the function's error
            traceback.print_exc()
            return orjson.dumps(
                {"errorType": type(e).__name__, "errorMessage": str(e)}
            ).decode(), True


def patch_lambda() -> None:
    from moto.awslambda.models import LambdaFunction

    docker_invoke = LambdaFunction._invoke_lambda

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if not str(self.handler or "").startswith(HANDLER_PACKAGE):
            return docker_invoke(self, event)
        payload, errored = invoke_handler(self.handler, dict(self.environment_vars or {}), event)
        return payload, errored, ""

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


# ------------------------------------------------------------------- Redshift Data API


def _pg_fixes(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.RegexpExtract):
        params = node.args.get("parameters")
        if params is not None and "e" in params.name:
            one = exp.Literal.number(1)
            args = [node.this, node.expression, node.args.get("position") or one,
                    node.args.get("occurrence") or one,
                    exp.Literal.string(params.name.replace("e", "")), one]  # fmt: skip
            return exp.Anonymous(this="REGEXP_SUBSTR", expressions=args)
    if isinstance(node, exp.CurrentTimestamp):
        clock = "transaction_timestamp" if node.args.get("sysdate") else "statement_timestamp"
        return exp.Anonymous(this=clock, expressions=[])
    if isinstance(node, exp.Anonymous) and node.name.upper() == "JSON_SERIALIZE":
        return exp.cast(node.expressions[0], "text")
    if isinstance(node, exp.Anonymous) and node.name.upper() == "FROM_VARBYTE":
        return exp.Anonymous(this="encode", expressions=node.expressions)
    return node


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """One Redshift statement (not LOCK, the stage's CREATE or COPY) as PostgreSQL. Cached:
    a table's statements repeat from load to load (only the COPY's manifest changes), and
    parsing them took most of a load's time here."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="redshift")
    return str(tree.transform(_pg_fixes).sql(dialect="postgres"))


_IDENT = r'"((?:[^"]|"")*)"'
_TABLE = re.compile(_IDENT + r"\." + _IDENT)
_COPY = re.compile(r"""^COPY "stage" FROM '([^']*)' .*\bFORMAT AS PARQUET\b.*\bMANIFEST\b""", re.S)


def _unquote(name: str) -> str:
    return name.replace('""', '"')


class BatchRun:
    """One BatchExecuteStatement: its statements on one connection, in one transaction."""

    def __init__(self, dsn: str, s3: Any) -> None:
        self.dsn = dsn
        self.s3 = s3
        self.locked: list[tuple[str, str]] = []
        self.stage: list[str] = []

    def run(self, sqls: list[str]) -> None:
        from consumers.db import connect

        with connect(self.dsn) as conn, conn.transaction(), conn.cursor() as cur:
            for sql in sqls:
                self.execute(cur, sql)

    def execute(self, cur: Any, sql: str) -> None:
        if sql.startswith("LOCK "):
            self.locked = [(_unquote(s), _unquote(t)) for s, t in _TABLE.findall(sql)]
            cur.execute(sql.encode())
        elif sql.startswith('CREATE TEMP TABLE "stage" ('):
            cur.execute(self.create_stage(cur, sql).encode())
        elif sql.startswith('COPY "stage" FROM '):
            self.copy_stage(cur, sql)
        else:
            cur.execute(to_postgres(sql).encode())

    def create_stage(self, cur: Any, sql: str) -> str:
        import sqlglot
        from sqlglot import exp

        from consumers.warehouse.dialect import q

        if len(self.locked) != 1:
            raise ValueError(f"the stage's table is not known: the last LOCK named {self.locked}")
        schema, table = self.locked[0]
        cur.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass "
            "AND attnum > 0 AND NOT attisdropped",
            (schema, table),
        )
        local = dict(cur.fetchall())
        create = sqlglot.parse_one(sql, read="redshift")
        columns = []
        for col in create.find_all(exp.ColumnDef):
            name = col.name
            kind = col.args["kind"].sql(dialect="postgres")
            typ = local[name] if name in local and not name.startswith("_cdc_") else kind
            columns.append(f"{q(name)} {typ}")
        self.stage = [c.name for c in create.find_all(exp.ColumnDef)]
        return f'CREATE TEMP TABLE "stage" ({", ".join(columns)})'

    def copy_stage(self, cur: Any, sql: str) -> None:
        import pyarrow.parquet as pq

        from consumers.warehouse.dialect import q
        from consumers.warehouse.local import arrow_to_csv

        found = _COPY.match(sql)
        if found is None:
            raise ValueError(f"not a COPY this stand-in serves (Parquet, a manifest): {sql[:120]}")
        entries = orjson.loads(self._get(found.group(1)))["entries"]
        cols = ", ".join(q(n) for n in self.stage)
        with cur.copy(f'COPY "stage" ({cols}) FROM STDIN (FORMAT csv)'.encode()) as copy:
            for entry in entries:
                data = pq.read_table(io.BytesIO(self._get(entry["url"])))
                if data.num_columns != len(self.stage):
                    raise ValueError(
                        f"COPY: {entry['url']} has {data.num_columns} columns, the table "
                        f"{len(self.stage)} (Parquet columns are matched by position)"
                    )
                copy.write(arrow_to_csv(data.rename_columns(self.stage)))

    def _get(self, url: str) -> bytes:
        bucket, key = url.removeprefix("s3://").split("/", 1)
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body


def _error_text(e: BaseException) -> str:
    sqlstate = getattr(e, "sqlstate", None)
    diag = getattr(e, "diag", None)
    message = (diag.message_primary if diag is not None else None) or str(e)
    message = " ".join(message.split())
    return f"ERROR: {message} (SQLSTATE {sqlstate})" if sqlstate else f"ERROR: {message}"


@functools.cache
def _s3() -> Any:
    """This server's own S3, over HTTP (boto3 clients are thread-safe)."""
    from consumers import aws

    return aws.client(
        "s3", endpoint_url=f"http://127.0.0.1:{os.environ['MOTO_PORT']}", region="us-east-1"
    )


def _execute_batch(statement: Any, dsn: str, sqls: list[str]) -> None:
    statement.status = "STARTED"
    began = time.monotonic()
    try:
        BatchRun(dsn, _s3()).run(sqls)
    except Exception as e:  # reported by DescribeStatement, as the Data API does
        statement.error = _error_text(e)
        statement.status = "FAILED"
    else:
        statement.status = "FINISHED"
    for sub in statement.sub_statements:
        sub["Status"] = statement.status
    statement.duration = int((time.monotonic() - began) * 1e9)  # nanoseconds, like the API


def patch_redshift_data() -> None:
    from moto.redshiftdata import models, responses

    statement_fields = models.Statement.__iter__

    def __iter__(self: Any) -> Any:
        yield from statement_fields(self)
        if getattr(self, "error", None):
            yield "Error", self.error
        if getattr(self, "workgroup_name", None):
            yield "WorkgroupName", self.workgroup_name

    def batch_execute_statement(self: Any) -> tuple[int, dict[str, str], str]:
        sqls = list(self._get_param("Sqls") or [])
        database = self._get_param("Database")
        if not sqls or not database:
            from moto.redshiftdata.exceptions import ValidationException

            raise ValidationException("Sqls and Database are required")
        statement = self.redshiftdata_backend.execute_statement(
            cluster_identifier=self._get_param("ClusterIdentifier"), database=database,
            db_user=self._get_param("DbUser"), parameters=None,
            secret_arn=self._get_param("SecretArn"), sql="",
        )  # fmt: skip
        # A batch's statements are its SubStatements, "<id>:<n>" (DescribeStatement's reference)
        statement.sub_statements = [
            {"Id": f"{statement.id}:{n}", "QueryString": sql, "Status": "SUBMITTED"}
            for n, sql in enumerate(sqls, 1)
        ]
        statement.workgroup_name = self._get_param("WorkgroupName")
        statement.status = "SUBMITTED"
        dsn = os.environ[WAREHOUSE_DSN_ENV].rstrip("/") + "/" + database
        threading.Thread(target=_execute_batch, args=(statement, dsn, sqls), daemon=True).start()
        body = {"Id": statement.id, "CreatedAt": statement.created_at, "Database": database,
                "WorkgroupName": statement.workgroup_name}  # fmt: skip
        return 200, {}, orjson.dumps({k: v for k, v in body.items() if v}).decode()

    models.Statement.__iter__ = __iter__  # type: ignore[method-assign]
    setattr(  # noqa: B010  # moto dispatches RedshiftData.BatchExecuteStatement by this name
        responses.RedshiftDataAPIServiceResponse, "batch_execute_statement", batch_execute_statement
    )


def patch_step_functions() -> None:
    """Execute state machines (moto's documented switch, POST /moto-api/config), so a
    StartExecution runs the definition instead of only recording it; and name the Redshift Data
    API as Step Functions does: `aws-sdk:redshiftdata:*` is boto's "redshift-data", and its
    errors are "RedshiftData.<exception>" (the names the definition's Retry lists; moto knows
    neither)."""
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
        state_task_service_aws_sdk,
    )

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    overrides = state_task_service.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES
    overrides["redshiftdata"] = "redshift-data"
    state_task_service_aws_sdk._SERVICE_ERROR_NAMES["redshiftdata"] = "RedshiftData"


def install() -> None:
    patch_step_functions()
    patch_lambda()
    if os.environ.get(WAREHOUSE_DSN_ENV):
        patch_redshift_data()
