"""The security scans' own rules: every bandit suppression names its checks and says why, and
pip-audit's ignore list is dated and reasoned (make security; see the README)."""

from __future__ import annotations

import importlib.util
import re
from datetime import date
from types import ModuleType

import pytest

from consumers.settings import PROJECT_DIR

NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
WELL_FORMED = re.compile(r"^ (?P<ids>B\d{3}(, B\d{3})*)  # (?P<why>.+)$")


def test_every_bandit_suppression_names_its_checks_and_a_reason():
    found, bad = 0, []
    for path in sorted((PROJECT_DIR / "consumers").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = NOSEC.search(line)
            if m is None:
                continue
            found += 1
            form = WELL_FORMED.match(m["rest"])
            if form is None or len(form["why"].split()) < 3:
                bad.append(f"{path.relative_to(PROJECT_DIR)}:{n}: {line.strip()}")
    assert found > 0
    assert not bad, "want `# nosec BXXX  # why` (bandit reads ids up to the second #):\n" + (
        "\n".join(bad)
    )


@pytest.fixture
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "audit_dependencies", PROJECT_DIR / "scripts" / "audit_dependencies.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_ignore_list_is_valid_today(audit):
    assert isinstance(audit.ignored(date.today()), list)


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("PYSEC-2026-1", "want '<id>  <YYYY-MM-DD>  <reason>'"),
        ("PYSEC-2026-1  2026-11-30", "want '<id>  <YYYY-MM-DD>  <reason>'"),
        ("PYSEC-2026-1  yesterday  no fix released yet, unused code path", "want '<id>"),
        ("PYSEC-2026-1  2026-01-02  no fix released yet, unused code path", "review it"),
    ],
)
def test_ignore_entries_need_a_date_and_a_reason_and_expire(audit, tmp_path, entry, error):
    audit.IGNORE_FILE = tmp_path / "ignore.txt"
    audit.IGNORE_FILE.write_text(f"# comment\n\n{entry}\n")
    with pytest.raises(SystemExit) as raised:
        audit.ignored(date(2026, 11, 30))
    assert error in str(raised.value)


def test_a_dated_reasoned_entry_is_passed_to_pip_audit(audit, tmp_path):
    audit.IGNORE_FILE = tmp_path / "ignore.txt"
    audit.IGNORE_FILE.write_text("GHSA-xxxx-yyyy-zzzz  2026-11-01  no fix released; unused path\n")
    assert audit.ignored(date(2026, 11, 30)) == ["GHSA-xxxx-yyyy-zzzz"]


def test_own_package_is_left_out_and_third_party_ones_are_pinned(audit):
    pins = audit.installed()
    assert pins and all("==" in p for p in pins)
    assert not any(p.lower().startswith("totes-cdc==") for p in pins)
    assert any(p.lower().startswith("amazon-kclpy==") for p in pins)
