"""`make audit`: pip-audit over every third-party package installed in .venv, failing on any
known vulnerability not in security/pip-audit-ignore.txt, and failing (never passing silently)
when a package cannot be audited, e.g. because PyPI's vulnerability data cannot be reached.

pip-audit's default source is PyPI's JSON API per release (/pypi/<name>/<version>/json, whose
`vulnerabilities` come from the PyPA advisory database). Our own package (editable, not on
PyPI) is left out; a third-party package installed editable (amazon-kclpy from its sdist, see
scripts/bootstrap.sh) is audited by name and version like the others.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE_FILE = ROOT / "security" / "pip-audit-ignore.txt"
OWN = {"totes-cdc"}
MAX_AGE = timedelta(days=90)
ENTRY = re.compile(r"^(?P<id>\S+)\s+(?P<date>\d{4}-\d{2}-\d{2})\s+(?P<reason>\S.{9,})$")


def ignored(today: date) -> list[str]:
    ids, problems = [], []
    for n, raw in enumerate(IGNORE_FILE.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = ENTRY.match(line)
        if m is None:
            problems.append(f"{IGNORE_FILE.name}:{n}: want '<id>  <YYYY-MM-DD>  <reason>'")
            continue
        if today - date.fromisoformat(m["date"]) > MAX_AGE:
            problems.append(
                f"{IGNORE_FILE.name}:{n}: {m['id']} ignored since {m['date']}: "
                "review it (fixed now? still harmless?) and move the date or remove it"
            )
        ids.append(m["id"])
    if problems:
        sys.exit("audit: " + "\n audit: ".join(problems))
    return ids


def installed() -> list[str]:
    python = str(ROOT / ".venv" / "bin" / "python")
    out = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(
        f"{name(p['name'])}=={p['version']}" for p in json.loads(out) if name(p["name"]) not in OWN
    )


def name(project: str) -> str:
    """The normalized project name (PEP 503): amazon_kclpy and amazon-kclpy are one project."""
    return re.sub(r"[-_.]+", "-", project).lower()


def main() -> int:
    ignores = ignored(date.today())
    pins = installed()
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as reqs:
        reqs.write("\n".join(pins) + "\n")
        reqs.flush()
        cmd = [
            str(ROOT / ".venv" / "bin" / "pip-audit"),
            "--strict",
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "-r",
            reqs.name,
        ]
        for vuln in ignores:
            cmd += ["--ignore-vuln", vuln]
        print(
            f"audit: {len(pins)} installed packages, {len(ignores)} ignored vulnerabilities",
            flush=True,
        )
        code = subprocess.run(cmd, check=False).returncode
    if code != 0:
        print(
            "audit: FAILED: a known vulnerability (see above: upgrade the package, or add a "
            f"dated entry to {IGNORE_FILE.relative_to(ROOT)} if no fix exists), or a package "
            "could not be audited (is PyPI's JSON API reachable?)",
            file=sys.stderr,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
