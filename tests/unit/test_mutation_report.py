"""scripts/mutation_report.py: how `make mutation` scores a module (killed / mutants, equivalent
ones left out, "no tests" counted as survived) and when it fails."""

from __future__ import annotations

import importlib.util
import json
import sys

from consumers.settings import PROJECT_DIR

_spec = importlib.util.spec_from_file_location(
    "mutation_report", PROJECT_DIR / "scripts" / "mutation_report.py"
)
report = importlib.util.module_from_spec(_spec)
sys.modules["mutation_report"] = report  # its dataclasses look their module up
_spec.loader.exec_module(report)  # type: ignore[union-attr]

D = "consumers.events.decode.x_f__mutmut_"
P = "consumers.kcl.processor.xǁRecordProcessorǁ_checkpoint__mutmut_"


def test_scores_leave_out_equivalent_mutants_and_count_untested_ones_as_alive():
    results = {
        "consumers/events/decode.py": {D + "1": 1, D + "2": 0, D + "3": 33, D + "4": 36},
        "consumers/kcl/processor.py": {P + "1": 1, P + "2": 0},
    }
    scores, stale = report.score(results, {D + "2": "same output", P + "2": "falsy"})
    decode = scores["events/decode.py"]
    assert (decode.total, decode.killed, decode.equivalent) == (4, 2, 1)  # a timeout kills
    assert decode.left == [(D + "3", "no tests")] and round(decode.percent, 1) == 66.7
    assert scores["  checkpointing (_flush, _checkpoint)"].percent == 100.0
    assert scores["kcl/processor.py"].percent == 100.0 and stale == []


def test_a_listed_mutant_that_is_killed_or_gone_is_stale():
    results = {"consumers/events/decode.py": {D + "1": 1}}
    _, stale = report.score(results, {D + "1": "x", D + "9": "y"})
    assert stale == [
        f"{D}1: listed as equivalent but killed",
        f"{D}9: listed as equivalent but no longer a mutant (code changed?)",
    ]


def test_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "ROOT", tmp_path)
    monkeypatch.setattr(report, "EQUIVALENT", tmp_path / "equivalent.toml")
    assert report.main() == 2  # no results yet
    meta = tmp_path / "mutants" / "consumers" / "events" / "decode.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": {D + "1": 1, D + "2": 0}}))
    assert report.main() == 1  # 50 % < 85 %
    assert "below 85 %: events/decode.py" in capsys.readouterr().out
    (tmp_path / "equivalent.toml").write_text(f'[[equivalent]]\nmutant = "{D}2"\nreason = "r"\n')
    assert report.main() == 0
