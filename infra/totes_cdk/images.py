"""The two container images of infra/Dockerfile, built from the repository root at deploy time
(`cdk synth` only stages the context; no Docker is needed to synthesize)."""

from __future__ import annotations

from .config import REPO

DOCKERFILE = "infra/Dockerfile"
# Kept out of the build context: local state, caches, virtualenvs, synthesized templates.
EXCLUDE = [
    ".git",
    ".venv",
    ".cdc",
    "**/__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "infra/cdk.out",
    "bench",
    "tests",
]
CONTEXT = str(REPO)
