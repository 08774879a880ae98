"""The one shape every bench/results/*.json file follows."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def private_stack() -> Iterator[tuple[Any, Any]]:
    """A local stack of the benchmark's own (state dir, ports, processes), always torn down."""
    from consumers.local import stack
    from consumers.settings import Settings

    settings = Settings(state_dir=Path(tempfile.mkdtemp(prefix="cdc-bench-")))
    try:
        yield settings, stack.up(settings)
    finally:
        stack.down(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def result(
    name: str,
    value: float,
    unit: str,
    limit: float | None,
    *,
    baseline: float | None = None,
    target: str = "",
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "value": round(value, 1), "unit": unit}
    out["limit"] = round(limit, 1) if limit else None
    out["ratio_to_limit"] = round(value / limit, 3) if limit else None
    if baseline is not None:
        out["baseline"] = round(baseline, 1)
        out["ratio_to_baseline"] = round(value / baseline, 3)
    if target:
        out["target"] = target
    out.update(extra)
    out["machine"] = machine()
    out["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out


def write(filename: str, doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / filename
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return path
