"""The local Step Functions loader's own bookkeeping (its executions run in the integration
tests, against moto's interpreter)."""

from __future__ import annotations

from typing import Any

from consumers.local import stepfunctions
from consumers.local.stepfunctions import StepFunctionsLoader


class _Sfn:
    """start_execution/describe_execution, every execution done at once."""

    def __init__(self) -> None:
        self.started = 0

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started += 1
        return {"executionArn": f"arn:run-{self.started}"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"executionArn": executionArn, "status": "SUCCEEDED", "output": "{}"}


def test_a_long_run_keeps_only_its_latest_executions():
    sfn = _Sfn()
    loader = StepFunctionsLoader(
        "postgresql://u@127.0.0.1:1/wh", [], lambda service: sfn, "bucket",
        endpoint_url="http://127.0.0.1:1", region="us-east-1", contracts_dir="schemas",
    )  # fmt: skip
    loader.state_machine_arn = "arn:machine"
    runs = stepfunctions.KEEP_EXECUTIONS * 3
    for _ in range(runs):
        loader.execute()
    assert sfn.started == runs
    assert len(loader.executions) == stepfunctions.KEEP_EXECUTIONS
    assert loader.executions[-1]["executionArn"] == f"arn:run-{runs}"
    assert (
        loader.executions[0]["executionArn"]
        == f"arn:run-{runs - stepfunctions.KEEP_EXECUTIONS + 1}"
    )
