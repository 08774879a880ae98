"""The load state machine (Amazon States Language), built in code; the infrastructure deploys
it as is.

  Plan (Lambda) ─▶ Pending? ─no─▶ Again?
                     │yes
                     ▼
  LoadTables (Map, one item per table, MaxConcurrency tables at a time):
      ExecuteBatch (redshiftdata:batchExecuteStatement: the table's plan, one transaction)
      ─▶ Wait ─▶ DescribeStatement ─▶ Finished? ─FINISHED─▶ Loaded
                      ▲                   │ FAILED/ABORTED ─▶ TableFailed (Fail)
                      └──── otherwise ────┘
  ─▶ Commit (Lambda: advance the watermark) ─▶ Again? ─▶ Wait ─▶ Plan   (until max_iterations)

Started with input {"prefix": "replays/<run>/"} it loads a replay's batches (`cdc replay
--stage-only` prints that input) with a watermark of their own.

Database credentials: with `secret_arn` the Data API signs in with that secret; without it
(what the deployment does) it uses IAM: the state machine's role becomes the database user
`IAMR:<role name>`, which the warehouse bootstrap grants the `cdc_loader` role.

Transient errors (Lambda throttling, Data API ActiveStatementsExceeded/InternalServer/
Throttling) are retried with backoff; anything else is caught, published to SNS, and fails the
execution. Within an execution each table is one Map item; across executions the plan's LOCK
serializes loads of a table, so no two loads of one table ever run at once.

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
    load_table = {
        "StartAt": "ExecuteBatch",
        "States": {
            "ExecuteBatch": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:redshiftdata:batchExecuteStatement",
                "Parameters": {
                    "WorkgroupName": workgroup,
                    "Database": database,
                    **({"SecretArn": secret_arn} if secret_arn else {}),
                    "Sqls.$": "$.sqls",
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
                "ResultSelector": {"Status.$": "$.Status", "Error.$": "States.JsonToString($)"},
                "ResultPath": "$.status",
                "Retry": _retry(DATA_API_TRANSIENT, 2, 6),
                "Next": "StatementDone",
            },
            "StatementDone": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.status.Status", "StringEquals": "FINISHED", "Next": "Loaded"},
                    {
                        "Or": [
                            {"Variable": "$.status.Status", "StringEquals": "FAILED"},
                            {"Variable": "$.status.Status", "StringEquals": "ABORTED"},
                        ],
                        "Next": "TableFailed",
                    },
                ],
                "Default": "WaitForStatement",
            },
            "TableFailed": {"Type": "Fail", "Error": "LoadFailed", "CausePath": "$.status.Error"},
            "Loaded": {"Type": "Succeed"},
        },
    }
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
                "ResultPath": None,
                "Catch": CATCH_ALL,
                "Next": "Commit",
            },
            "Commit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": commit_function_arn,
                    "Payload": {"watermark.$": "$.watermark", "prefix.$": "$.prefix"},
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
