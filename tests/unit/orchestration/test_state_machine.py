from __future__ import annotations

from consumers.orchestration.state_machine import DATA_API_TRANSIENT, definition

ARGS = dict(
    plan_function_arn="arn:aws:lambda:eu-west-2:123456789012:function:plan",
    commit_function_arn="arn:aws:lambda:eu-west-2:123456789012:function:commit",
    workgroup="totes", database="dev",
    secret_arn="arn:aws:secretsmanager:eu-west-2:123456789012:secret:rs",
    failure_topic_arn="arn:aws:sns:eu-west-2:123456789012:load-failures",
)  # fmt: skip


def _states():
    d = definition(**ARGS)
    return d, d["States"], d["States"]["LoadTables"]["ItemProcessor"]["States"]


def test_one_batch_execute_statement_per_table_with_a_polling_loop():
    d, top, inner = _states()
    assert d["StartAt"] == "Plan" and top["LoadTables"]["ItemsPath"] == "$.tables"
    assert inner["Render"]["Next"] == "ExecuteBatch"
    batch = inner["ExecuteBatch"]
    assert batch["Resource"].endswith("redshiftdata:batchExecuteStatement")
    assert batch["Parameters"]["Sqls.$"] == "$.plan.sqls"
    assert inner["WaitForStatement"]["Next"] == "DescribeStatement"
    choices = inner["StatementDone"]
    assert choices["Default"] == "WaitForStatement"
    assert choices["Choices"][0]["Next"] == "Loaded"
    assert choices["Choices"][1]["Next"] == "StatementFailed"
    assert choices["Choices"][2]["Next"] == "StatementAborted"


def test_no_state_carries_every_tables_sql():
    """A state's input and output are limited to 256 KiB: Plan returns no SQL, each item
    renders its own table's, and no item's result carries it."""
    _, _, inner = _states()
    render = inner["Render"]
    assert render["Parameters"]["FunctionName"] == ARGS["plan_function_arn"]
    assert render["Parameters"]["Payload"]["render"] == {
        "table.$": "$.table", "manifest_url.$": "$.manifest_url"
    }  # fmt: skip
    assert render["ResultSelector"] == {"sqls.$": "$.Payload.sqls"}
    assert "ResultSelector" not in inner["DescribeStatement"]  # Error only read on FAILED
    assert inner["StatementFailed"]["Parameters"]["Cause.$"] == "$.status.Error"
    for name in ("TableFailed", "Loaded"):
        assert not any("sql" in str(v) or "status" in str(v)
                       for v in inner[name]["Parameters"].values())  # fmt: skip


def test_one_table_failing_never_fails_the_execution():
    _, top, inner = _states()
    for state in (inner["Render"], inner["ExecuteBatch"], inner["DescribeStatement"]):
        (catch,) = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "TableFailed"
    assert inner["StatementFailed"]["Next"] == inner["StatementAborted"]["Next"] == "TableFailed"
    assert not [n for n, s in inner.items() if s["Type"] == "Fail"]  # no item ends in Fail
    failed = inner["TableFailed"]
    assert failed["Parameters"]["failed"] is True and failed["Next"] == "NotifyTable"
    assert inner["NotifyTable"]["Resource"] == "arn:aws:states:::sns:publish"
    assert inner["NotifyTable"]["ResultPath"] is None  # the item's result stays the failure
    assert inner["Loaded"]["Parameters"] == {"table.$": "$.table", "failed": False}
    # every item's result reaches the Commit Lambda, which quarantines or holds the watermark
    assert top["LoadTables"]["ResultPath"] == "$.results"
    assert top["Commit"]["Parameters"]["Payload"]["results.$"] == "$.results"


def test_transient_errors_are_retried_and_terminal_ones_notify_and_fail():
    _, top, inner = _states()
    for state in (inner["ExecuteBatch"], inner["DescribeStatement"]):
        assert state["Retry"][0]["ErrorEquals"] == DATA_API_TRANSIENT
    for name in ("Plan", "LoadTables", "Commit"):
        assert top[name]["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        assert top[name]["Catch"][0]["Next"] == "NotifyFailure"
    assert top["NotifyFailure"]["Resource"] == "arn:aws:states:::sns:publish"
    assert top["NotifyFailure"]["Next"] == "Failed" and top["Failed"]["Type"] == "Fail"


def test_the_watermark_advances_only_after_every_table_loaded():
    _, top, _ = _states()
    assert top["LoadTables"]["Next"] == "Commit"
    assert top["Commit"]["Next"] == "Again"
    assert top["Pending"]["Default"] == "Again"  # nothing pending: no commit needed


def test_every_transition_targets_a_state():
    _, top, inner = _states()

    def targets(states):
        for s in states.values():
            yield from [s.get("Next"), s.get("Default")]
            yield from (c["Next"] for c in s.get("Choices", []))
            yield from (c["Next"] for c in s.get("Catch", []))

    assert {t for t in targets(top) if t} <= set(top)
    assert {t for t in targets(inner) if t} <= set(inner)


def test_a_replay_prefix_travels_through_every_round():
    _, top, _ = _states()
    assert top["NextRound"]["Parameters"]["prefix.$"] == "$.prefix"
    assert top["Commit"]["Parameters"]["Payload"]["prefix.$"] == "$.prefix"
