"""Without a C compiler the extension is never built (setup.py marks it optional): the package
must import, and a batch asking for the fast path must come out of the Python decoder exactly
as it comes out of the C one. A subprocess in which the compiled module cannot be imported
stands for that machine; `make test-fresh` runs the whole pipeline on one (no compiler)."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys

from consumers.contracts.model import TableContract
from consumers.events import fast as fastpath
from consumers.settings import PROJECT_DIR
from tests.unit.events.test_fast import _resolved, workload

WITHOUT_EXTENSION = """
import pickle, pkgutil, random, sys
sys.modules["consumers.events._dmsjson"] = None  # import fails as when it was never built
import consumers
for m in pkgutil.walk_packages(consumers.__path__, "consumers."):
    if m.name not in ("consumers.__main__", "consumers.events._dmsjson"):  # runs the CLI; absent
        __import__(m.name)
from consumers.contracts.model import load_contracts
from consumers.events import fast
from tests.conftest import SCHEMAS
from tests.unit.events.test_fast import _resolved
from tests.unit.events.test_without_extension import batches
assert not fast.available()
contracts = load_contracts(SCHEMAS)
out = [_resolved(contracts, raws, True) for raws in batches(contracts)]
sys.stdout.buffer.write(pickle.dumps(out))
sys.stdout.flush()
# Skip interpreter teardown: once in a while a C++ library's thread dies at exit here
# ("terminate called without an active exception", SIGABRT, seen once in a fresh-clone CI run)
# after the batches were written; the test is about the batches.
import os
os._exit(0)
"""


def batches(contracts: list[TableContract]) -> list[list[bytes]]:
    """A clean batch (the C code types every table) and one with unchanged TOAST, primary-key
    changes and a few values that break the contract."""
    rng = random.Random(7)
    return [
        workload(contracts, rng, 300, bad=0.0, toast=0.0, moves=0.0),
        workload(contracts, rng, 300, bad=0.01, toast=0.01, moves=0.01),
    ]


def test_without_the_extension_the_python_decoder_writes_the_same_batch(contracts):
    assert fastpath.available()  # this process has it: the comparison below is C vs Python
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTENSION], capture_output=True, cwd=PROJECT_DIR,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    without_c = pickle.loads(done.stdout)
    with_c = [_resolved(contracts, raws, True) for raws in batches(contracts)]
    assert with_c[0]["typed"], "the C path typed no table: the comparison proves nothing"
    for without, with_ in zip(without_c, with_c, strict=True):
        assert without["typed"] == []
        for part in ("counts", "dead", "late_dead", "control", "files", "tables"):
            assert without[part] == with_[part], part
