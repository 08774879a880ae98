"""The load state machine (Amazon States Language), built in code; the infrastructure deploys
it as is.

  Plan (Lambda) ─▶ Pending? ─no─▶ Again?
                     │yes
                     ▼
  LoadTables (Map, one item per table, MaxConcurrency tables at a time):
      Render (Lambda: the table's load plan for Redshift)
      ─▶ ExecuteBatch (redshiftdata:batchExecuteStatement: the table's plan, one transaction)
      ─▶ Wait ─▶ DescribeStatement ─▶ Finished? ─FINISHED─▶ Loaded {table, failed: false}
                      ▲                   │ FAILED/ABORTED ─▶ StatementFailed/Aborted ─┐
                      └──── otherwise ────┘                                            ▼
      any task's error after its retries (Catch) ─────────────────────────────▶ TableFailed
      TableFailed {table, batches, failed: true, error} ─▶ NotifyTable (SNS) ─▶ Reported
  ─▶ Commit (Lambda: quarantine data failures, advance the watermark unless a table failed for
     another reason) ─▶ Again? ─▶ Wait ─▶ Plan   (until max_iterations)

State size: a state's input and output are limited to 256 KiB (Step Functions quotas), so the
SQL never travels through the top level: Plan returns each table's COPY manifest and batches,
and each Map item renders its own table's statements (Render, the plan Lambda again, ~5-35 kB
for the shipped contracts). With the SQL in Plan's output the 16 shipped tables took ~225 kB
and the Map's output over the limit: States.DataLimitExceeded, found by running this
definition in moto (`cdc run --loader stepfunctions`). For the same reason DescribeStatement's
response (which repeats every statement's text) stays inside the item: its `Error` field is read
only on FAILED, where the Data API sets it.

Started with input {"prefix": "replays/<run>/"} it loads a replay's batches (`cdc replay
--stage-only` prints that input) with a watermark of their own.

Database credentials: with `secret_arn` the Data API signs in with that secret; without it
(what the deployment does) it uses IAM: the state machine's role becomes the database user
`IAMR:<role name>`, which the warehouse bootstrap grants the `cdc_loader` role.

Transient errors (Lambda throttling, Data API ActiveStatementsExceeded/InternalServer/
Throttling) are retried with backoff. One table never fails the execution: a table whose load
fails (its statement FAILED, or a task's error after its retries) is caught inside its Map
item, published to SNS with the table and Redshift's error, and returned as a failed item,
while the other items load. The Commit Lambda classifies each failure (warehouse/failures.py
`classify_redshift`): a data failure quarantines that load's batches (records under
`quarantine/` in the batch bucket, which the planner then leaves out; metric
TotesCdc/QuarantinedBatches) and the watermark advances; any other failure holds the watermark,
so the next round plans the table's batches again (the other tables' applied batches are
skipped by the ledger) — retried every round, i.e. with the round's wait as backoff. Errors
outside a table (planning, commit) still notify and fail the execution. Within an execution
each table is one Map item; across executions the plan's LOCK serializes loads of a table, so
no two loads of one table ever run at once.

Freshness: an EventBridge schedule starts an execution every minute; each execution plans and
loads, then waits `loop_wait_seconds` and plans again, `max_iterations` times (about a minute),
so new batches wait at most ~loop_wait_seconds before a load starts.
"""

from __future__ import annotations

from typing import Any

LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
DATA_API_TRANSIENT = [
    "RedshiftData.ActiveStatementsExceededException",
    "RedshiftData.InternalServerException",
    "RedshiftData.ThrottlingException",
]


def _retry(errors: list[str], interval: int, attempts: int) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": errors,
            "IntervalSeconds": interval,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
        }
    ]


CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}]


def definition(
    *,
    plan_function_arn: str,
    commit_function_arn: str,
    workgroup: str,
    database: str,
    secret_arn: str | None = None,
    failure_topic_arn: str,
    poll_seconds: int = 3,
    loop_wait_seconds: int = 10,
    max_iterations: int = 5,
    max_concurrency: int = 4,
) -> dict[str, Any]:
    load_table: dict[str, Any] = {
        "StartAt": "Render",
        "States": {
            "Render": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": plan_function_arn,
                    "Payload": {
                        "render": {"table.$": "$.table", "manifest_url.$": "$.manifest_url"},
                        "prefix.$": "$.prefix",
                    },
                },
                "ResultSelector": {"sqls.$": "$.Payload.sqls"},
                "ResultPath": "$.plan",
                "Retry": _retry(LAMBDA_TRANSIENT, 2, 4),
                "Next": "ExecuteBatch",
            },
            "ExecuteBatch": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:redshiftdata:batchExecuteStatement",
                "Parameters": {
                    "WorkgroupName": workgroup,
                    "Database": database,
                    **({"SecretArn": secret_arn} if secret_arn else {}),
                    "Sqls.$": "$.plan.sqls",
                    "StatementName.$": "$.table",
                },
                "ResultSelector": {"Id.$": "$.Id"},
                "ResultPath": "$.statement",
                "Retry": _retry(DATA_API_TRANSIENT, 5, 6),
                "Next": "WaitForStatement",
            },
            "WaitForStatement": {
                "Type": "Wait",
                "Seconds": poll_seconds,
                "Next": "DescribeStatement",
            },
            "DescribeStatement": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:redshiftdata:describeStatement",
                "Parameters": {"Id.$": "$.statement.Id"},
                "ResultPath": "$.status",
                "Retry": _retry(DATA_API_TRANSIENT, 2, 6),
                "Next": "StatementDone",
            },
            "StatementDone": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.status.Status", "StringEquals": "FINISHED", "Next": "Loaded"},
                    {
                        "Variable": "$.status.Status",
                        "StringEquals": "FAILED",
                        "Next": "StatementFailed",
                    },
                    {
                        "Variable": "$.status.Status",
                        "StringEquals": "ABORTED",
                        "Next": "StatementAborted",
                    },
                ],
                "Default": "WaitForStatement",
            },
            "StatementFailed": {
                "Type": "Pass",
                "Parameters": {"Error": "LoadFailed", "Cause.$": "$.status.Error"},
                "ResultPath": "$.error",
                "Next": "TableFailed",
            },
            "StatementAborted": {
                "Type": "Pass",
                "Parameters": {"Error": "LoadAborted", "Cause": "the statement was cancelled"},
                "ResultPath": "$.error",
                "Next": "TableFailed",
            },
            # The item's result: small (no SQL), so every table's fits in the Map's output.
            "TableFailed": {
                "Type": "Pass",
                "Parameters": {
                    "table.$": "$.table",
                    "batches.$": "$.batches",
                    "failed": True,
                    "error.$": "$.error",
                },
                "Next": "NotifyTable",
            },
            "NotifyTable": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": failure_topic_arn,
                    "Subject": "totes-cdc: a table's warehouse load failed",
                    "Message.$": "States.JsonToString($)",
                },
                "ResultPath": None,
                "Retry": _retry(["States.ALL"], 2, 3),
                "Next": "Reported",
            },
            "Reported": {"Type": "Succeed"},
            "Loaded": {
                "Type": "Pass",
                "Parameters": {"table.$": "$.table", "failed": False},
                "End": True,
            },
        },
    }
    item_catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "TableFailed"}]
    for name in ("Render", "ExecuteBatch", "DescribeStatement"):
        load_table["States"][name]["Catch"] = item_catch
    return {
        "Comment": "totes-cdc: load pending batches into Redshift (COPY + version-guarded MERGE)",
        "StartAt": "Plan",
        "States": {
            "Plan": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": plan_function_arn, "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Retry": _retry(LAMBDA_TRANSIENT, 2, 4),
                "Catch": CATCH_ALL,
                "Next": "Pending",
            },
            "Pending": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.pending", "BooleanEquals": True, "Next": "LoadTables"}],
                "Default": "Again",
            },
            "LoadTables": {
                "Type": "Map",
                "ItemsPath": "$.tables",
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    **load_table,
                },
                "ResultPath": "$.results",
                "Catch": CATCH_ALL,
                "Next": "Commit",
            },
            "Commit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": commit_function_arn,
                    "Payload": {
                        "watermark.$": "$.watermark",
                        "prefix.$": "$.prefix",
                        "results.$": "$.results",
                    },
                },
                "ResultPath": None,
                "Retry": _retry(LAMBDA_TRANSIENT, 2, 4),
                "Catch": CATCH_ALL,
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.iteration",
                        "NumericLessThan": max_iterations,
                        "Next": "LoopWait",
                    }
                ],
                "Default": "Done",
            },
            "LoopWait": {
                "Type": "Wait",
                "Seconds": loop_wait_seconds,
                "Next": "NextRound",
            },
            "NextRound": {
                "Type": "Pass",
                "Parameters": {
                    "run_id.$": "$.run_id",
                    "iteration.$": "$.iteration",
                    "prefix.$": "$.prefix",
                },
                "Next": "Plan",
            },
            "NotifyFailure": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": failure_topic_arn,
                    "Subject": "totes-cdc: warehouse load failed",
                    "Message.$": "States.JsonToString($.error)",
                },
                "Next": "Failed",
            },
            "Failed": {"Type": "Fail", "Error": "LoadFailed", "Cause": "see the SNS message"},
            "Done": {"Type": "Succeed"},
        },
    }
