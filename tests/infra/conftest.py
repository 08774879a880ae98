"""The CDK app synthesized once per session, offline, by the same command `make synth` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from consumers.local.toolchain import find_node
from consumers.settings import PROJECT_DIR

INFRA = PROJECT_DIR / "infra"
VENV_BIN = Path(sys.executable).parent
# test_cdk.py imports aws_cdk in this process too, which starts jsii's $JSII_NODE (default `node`
# on PATH) at import: the Node.js that infra/app.py would choose (the machine's, else PyPI's).
os.environ["JSII_NODE"] = str(find_node())


def synth_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    return env


def synth(outdir: Path, *context: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(INFRA / "app.py"), "--outdir", str(outdir)]
    for c in context:
        args += ["-c", c]
    return subprocess.run(args, capture_output=True, text=True, env=synth_env(), timeout=300)


class Assembly:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.templates: dict[str, dict[str, Any]] = {
            p.name.removesuffix(".template.json"): json.loads(p.read_text())
            for p in sorted(outdir.glob("*.template.json"))
        }

    def template(self, concern: str) -> dict[str, Any]:
        (name,) = [n for n in self.templates if n.endswith(f"-{concern}")]
        return self.templates[name]

    def resources(self, rtype: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(stack, logical id, properties) of every resource of `rtype` in every stack."""
        return [
            (stack, rid, r.get("Properties", {}))
            for stack, t in self.templates.items()
            for rid, r in t["Resources"].items()
            if r["Type"] == rtype
        ]


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    out = tmp_path_factory.mktemp("cdk-dev")
    done = synth(out)
    assert done.returncode == 0, done.stderr
    return Assembly(out)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    out = tmp_path_factory.mktemp("cdk-prod")
    done = synth(out, "env=prod", "streamMode=on-demand", "retentionHours=336")
    assert done.returncode == 0, done.stderr
    return Assembly(out)
