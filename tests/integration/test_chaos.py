"""kill -9 anywhere: the short chaos run (`make chaos` does 100 kills), and the regressions it
found, against the real services."""

from __future__ import annotations

import dataclasses

import pytest

from consumers.capture.runner import DRAIN_PREFIX, emit_marker
from consumers.pipeline import Pipeline
from consumers.warehouse.verify import verify
from tests.integration.test_load import _drop, _new_pipeline

pytestmark = pytest.mark.integration


def test_drain_after_a_restart_waits_for_what_an_earlier_run_put(
    local_stack, stack_settings, contracts
):
    """Regression (found by `make chaos`): a run killed while its consumers lagged behind its
    capture leaves records in Kinesis that nobody consumed; the next run's drain waited only
    for what that run put itself (nothing), stopped the loader at once, and verify differed."""
    src, wh, stream, settings, first = _new_pipeline(local_stack, stack_settings, contracts)
    source, warehouse = local_stack.dsn(src), local_stack.dsn(wh)
    # The first run's capture does the full load and acknowledges it; its consumers never
    # read a record (they lag, then the run dies).
    first.capture.run(until_lsn=emit_marker(source, DRAIN_PREFIX))
    assert sum(first.sink.put.values()) > 500
    state = dataclasses.replace(local_stack, stream_name=stream)
    second = Pipeline(
        settings, state, contracts, source_dsn=source, warehouse_dsn=warehouse,
        application=first.driver.config.application,
    )  # fmt: skip
    second.capture.cfg.slot = first.capture.cfg.slot
    try:
        second.start()
        second.drain()
    finally:
        second.stop()
    assert sum(second.sink.put.values()) == 0  # nothing of its own to wait for
    diffs = verify(source, warehouse, contracts)
    assert all(d.ok for d in diffs), [d for d in diffs if not d.ok]
    _drop(local_stack, src)
    _drop(local_stack, wh)


@pytest.mark.timeout(900)
def test_short_chaos_run_verifies(chaos_run):
    """10 SIGKILLs of `cdc run`, record processors, the loader mid-transaction and the capture
    mid-PutRecords under the demo workload; then drain and verify (a stack of its own). It was
    started beside the other tests (tests/conftest.py, pytest_runtest_setup)."""
    code = chaos_run.wait(850)
    out = chaos_run.output.read_text()
    log = chaos_run.log.read_text()[-5000:] if chaos_run.log.exists() else "(none)"
    assert code == 0, out + "\n--- cdc run:\n" + log
    assert "chaos: 10 kills" in out
    assert "final drain (cdc run) exit 0; cdc verify exit 0; dead letters 0" in out
