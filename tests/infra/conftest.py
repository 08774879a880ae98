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


def synth_args(outdir: Path, *context: str) -> list[str]:
    args = [sys.executable, str(INFRA / "app.py"), "--outdir", str(outdir)]
    for c in context:
        args += ["-c", c]
    return args


def synth(outdir: Path, *context: str) -> subprocess.CompletedProcess[str]:
    args = synth_args(outdir, *context)
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


PROD_CONTEXT = ("env=prod", "streamMode=on-demand", "retentionHours=336")


@pytest.fixture(scope="session")
def assemblies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Assembly]:
    """dev and prod synthesized at the same time: each synth is one Python process feeding one
    Node.js process through jsii pipes, about one core between them, so two take about the
    time of one on two cores (~20 s of the suite's 39 s for the pair, measured one after the
    other). Each is the same command as `make synth`, with its own output directory."""
    outs = {"dev": tmp_path_factory.mktemp("cdk-dev"), "prod": tmp_path_factory.mktemp("cdk-prod")}
    context = {"dev": (), "prod": PROD_CONTEXT}
    logs = tmp_path_factory.mktemp("cdk-logs")  # files, not pipes: neither waits on a reader
    procs = {}
    try:
        for name, out in outs.items():
            with (logs / f"{name}.log").open("wb") as log:
                procs[name] = subprocess.Popen(
                    synth_args(out, *context[name]), stdout=log, stderr=subprocess.STDOUT,
                    env=synth_env(),
                )  # fmt: skip
        for p in procs.values():
            p.wait(timeout=300)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, p in procs.items():
        assert p.returncode == 0, f"{name}: {(logs / f'{name}.log').read_text()}"
    return {name: Assembly(out) for name, out in outs.items()}


@pytest.fixture(scope="session")
def dev(assemblies: dict[str, Assembly]) -> Assembly:
    return assemblies["dev"]


@pytest.fixture(scope="session")
def prod(assemblies: dict[str, Assembly]) -> Assembly:
    return assemblies["prod"]
