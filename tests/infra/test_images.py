"""What the container images need, checked without Docker (none runs here): the planner image
installs every distribution the Lambda handlers import, and the consumer image's entrypoint
renders the KCL properties for its deployment and starts the MultiLangDaemon."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from consumers.settings import PROJECT_DIR

from .conftest import INFRA, VENV_BIN

DOCKERFILE = (INFRA / "Dockerfile").read_text()

IMPORTED_DISTRIBUTIONS = """
import importlib.metadata as md, sys
import consumers.orchestration.handlers  # noqa: F401
dists = md.packages_distributions()
top = {m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names) - {"consumers"}
print("\\n".join(sorted({d.lower() for m in top for d in dists.get(m, [])})))
"""


def test_the_planner_image_installs_what_the_handlers_import() -> None:
    (line,) = re.findall(r"^# planner-requirements: (.+)$", DOCKERFILE, re.M)
    listed = set(line.split())
    assert f'install --no-cache-dir --target "${{LAMBDA_TASK_ROOT}}" {line}' in DOCKERFILE
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED_DISTRIBUTIONS], capture_output=True, text=True, check=True
    )
    imported = set(done.stdout.split())
    direct = {"boto3", "fastavro", "orjson", "pyarrow", "tenacity"}
    assert imported >= direct, "the handlers no longer import what the test assumes"
    missing = {d for d in imported if d not in listed} - {
        # dependencies of what is listed (boto3's, pyarrow's)
        "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3", "numpy",
        # optional imports botocore tries, and setuptools' own import hook in a virtualenv
        "certifi", "setuptools",
    }  # fmt: skip
    assert missing == set(), f"add to the planner image: {missing}"


def _entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "CDC_KCL_PROPERTIES": str(INFRA / "kcl" / "consumer.properties"),
        "CDC_KCL_RENDERED": str(tmp_path / "kcl" / "consumer.properties"),
        **env,
    }
    return subprocess.run(
        ["sh", str(INFRA / "kcl" / "entrypoint.sh"), "--dry-run"],
        capture_output=True, text=True, env=environ, timeout=60,
    )  # fmt: skip


def test_the_consumer_entrypoint_renders_the_properties_of_its_deployment(tmp_path: Path) -> None:
    done = _entrypoint(
        tmp_path, CDC_STREAM="totes-cdc-prod-changes", CDC_REGION="eu-west-1",
        CDC_KCL_APPLICATION="totes-cdc-prod-consumer",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    props = dict(
        line.split(" = ", 1)
        for line in done.stdout.splitlines()
        if " = " in line and line[0] != "#"
    )
    assert props["streamName"] == "totes-cdc-prod-changes"
    assert props["applicationName"] == "totes-cdc-prod-consumer"
    assert props["regionName"] == "eu-west-1"
    assert props["executableName"] == "cdc-kcl-processor"
    assert props["initialPositionInStream"] == "TRIM_HORIZON"
    (command,) = [line for line in done.stdout.splitlines() if line.startswith("command: ")]
    assert "software.amazon.kinesis.multilang.MultiLangDaemon --properties-file" in command
    assert command.rstrip().endswith(str(tmp_path / "kcl" / "consumer.properties"))


def test_the_consumer_entrypoint_names_a_missing_setting(tmp_path: Path) -> None:
    done = _entrypoint(tmp_path, CDC_STREAM="s", CDC_REGION="eu-west-2")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "entrypoint: CDC_KCL_APPLICATION is not set: set it in the task definition"
    )


def test_the_images_context_leaves_out_local_state() -> None:
    from_infra = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, 'infra');"
         "from totes_cdk import images; print(images.EXCLUDE)"],
        capture_output=True, text=True, cwd=PROJECT_DIR, check=True,
    ).stdout  # fmt: skip
    for path in (".venv", ".cdc", ".git", "infra/cdk.out"):
        assert repr(path) in from_infra


def test_the_consumer_image_compiles_the_fast_decoder_and_ships_nothing_local() -> None:
    consumer = DOCKERFILE.split("FROM ")[1]
    assert "COPY pyproject.toml setup.py" in consumer
    assert "fast.available()" in consumer, "an image without the fast path must not build"
    ignored = (PROJECT_DIR / ".dockerignore").read_text().split()
    assert {"**/*.so", ".venv", "build"} <= set(ignored)
