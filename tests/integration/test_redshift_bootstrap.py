"""`cdc warehouse bootstrap --workgroup`, the command line. The moto server has no
BatchExecuteStatement (it answers 500), so the chunking and polling are tested with a scripted
Data API in tests/unit/warehouse/test_data_api.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CDC = str(Path(sys.executable).parent / "cdc")


def test_a_bad_loader_user_is_one_line_and_exit_2(local_stack, cli_env) -> None:
    done = subprocess.run(
        [CDC, "warehouse", "bootstrap", "--workgroup", "wg", "--loader-user", "admin"],
        env={**cli_env, "CDC_AWS_ENDPOINT_URL": local_stack.aws_endpoint_url},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: --loader-user 'admin': use the load stack's")
