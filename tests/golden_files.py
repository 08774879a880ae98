"""Golden files are compared, and rewritten only on request: CDC_UPDATE_GOLDEN=1 rewrites them
(then review the diff), and never under CI=true, where a test that wrote its own expectation
and compared against it could not fail."""

from __future__ import annotations

import os
from pathlib import Path


def updating() -> bool:
    if os.environ.get("CDC_UPDATE_GOLDEN") != "1":
        return False
    if os.environ.get("CI") == "true":
        raise RuntimeError(
            "CDC_UPDATE_GOLDEN=1 under CI=true: golden files are never rewritten in CI"
        )
    return True


def check(path: Path, text: str, what: str) -> None:
    """`text` must equal the golden file at `path` (written first when updating())."""
    if updating():
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with CDC_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), what
