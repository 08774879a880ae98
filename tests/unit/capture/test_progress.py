"""Rows/s and ETA of a full load (out of an estimate) and of a transaction (out of its WAL)."""

from __future__ import annotations

import logging

from consumers.capture import progress as progress_module
from consumers.capture.progress import Progress


def test_full_load_progress_out_of_the_row_estimate():
    p = Progress("full load of public.accounts", "rows", expected=1_000_000, started=100.0)
    p.done = 250_000
    assert p.fraction() == 0.25
    assert p.rate(now=110.0) == 25_000
    assert p.eta_seconds(now=110.0) == 30.0
    assert p.describe(now=110.0) == (
        "full load of public.accounts: 250,000 of ~1,000,000 rows (25%), 25,000 rows/s, ETA 0m30s"
    )


def test_transaction_progress_out_of_its_wal_and_no_eta_without_an_estimate():
    p = Progress("transaction 7", "changes", start_position=1000, end_position=5000, started=0.0)
    p.done, p.position = 40_000, 2000
    assert p.describe(now=20.0) == (
        "transaction 7: 40,000 changes (25% of its WAL), 2,000 changes/s, ETA 1m00s"
    )
    unknown = Progress("full load of public.t", "rows", expected=None, started=0.0)
    unknown.done = 10
    assert unknown.eta_seconds(now=5.0) is None
    assert unknown.describe(now=5.0) == "full load of public.t: 10 rows, 2 rows/s"


def test_tick_logs_at_most_every_log_seconds(monkeypatch, caplog):
    clock = iter([10.0, 11.0, 16.0])
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    p = Progress("transaction 7", "changes", started=0.0, logged=5.0)
    p.done = 10
    with caplog.at_level(logging.INFO, logger="consumers.capture.progress"):
        p.tick()  # 10.0: 5 s since the last line
        p.tick()  # 11.0: too soon
        p.tick()  # 16.0: 6 s after the first line
    assert len(caplog.records) == 2
