"""`cdc run`'s periodic drift check: at most every interval, each difference once, and a
failing check never stops the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.contracts import drift
from consumers.contracts.drift import Drift, DriftCheck

ADDED = Drift("shop.items", "note", "added", "", "text", "records carrying it are dead letters")


def test_each_difference_is_reported_once_per_interval(monkeypatch, capsys):
    calls: list[str] = []
    found = [[ADDED], [ADDED], [ADDED, Drift("shop.items", "qty", "widened", "a", "b", "x")]]

    def fake(dsn, contracts, contracts_dir):
        calls.append(dsn)
        return found[len(calls) - 1], {}

    monkeypatch.setattr(drift, "source_drift", fake)
    check = DriftCheck("dsn", [], Path("schemas"), interval=60)
    assert check.poll(0.0) == [ADDED]
    assert check.poll(30.0) == []  # within the interval: no check
    assert check.poll(61.0) == []  # checked; nothing new
    assert [d.column for d in check.poll(130.0)] == ["qty"]
    assert len(calls) == 3
    err = capsys.readouterr().err
    assert err.count("schema drift: shop.items.note: added text") == 1


def test_a_failing_check_is_reported_and_retried(monkeypatch, capsys):
    def broken(*args):
        raise OSError("source down")

    monkeypatch.setattr(drift, "source_drift", broken)
    check = DriftCheck("dsn", [], Path("schemas"), interval=10)
    assert check.poll(0.0) == []
    assert "schema drift check failed: source down" in capsys.readouterr().err
    assert DriftCheck("dsn", [], Path("x"), interval=0).poll(1e9) == []  # 0: off


@pytest.mark.parametrize("change", ["added", "dropped", "table-dropped", "widened"])
def test_lines_name_the_change(change):
    d = Drift("shop.items", "qty", change, "integer", "bigint", "do this")
    assert d.line().endswith(": do this") and change in d.line()
