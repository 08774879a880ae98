"""Coverage-guided fuzzer over the C decoder (consumers/events/_dmsjson.c), against the reference.

Run by `make fuzz [FUZZ_SECONDS=300]`: atheris (libFuzzer) drives the sanitizer build of the
extension (fuzz/build.sh: ASan + UBSan + edge coverage, in build/fuzz/), preloaded with atheris'
asan_with_fuzzer.so. Every input, alone and among clean records of the batch:
- the reference decoder must decide it (event, control record or dead letter), never raise;
- when the C code accepts it, both paths must write the same Parquet rows, dead letters with
  their reasons, control records and counts (tests/unit/events/parity.py);
- the record's own outcome must not depend on its neighbours;
- decoding it must not leak (sanitizer heap bytes after repeated calls; refcounts).
Seeds: the golden records (tests/golden/records) and the records the unit tests build. Findings
land in build/fuzz/artifacts/ and become regression tests in tests/unit/events/test_total.py.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _sanitizer_build() -> None:
    """consumers.events._dmsjson from build/fuzz/, before anything imports the normal .so."""
    build = Path(os.environ.get("FUZZ_BUILD", ROOT / "build" / "fuzz"))
    (so,) = (build / "lib" / "consumers" / "events").glob("_dmsjson*.so")
    spec = importlib.util.spec_from_file_location("consumers.events._dmsjson", so)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["consumers.events._dmsjson"] = module


def seeds(into: Path) -> int:
    """The golden records and the unit tests' records, as the starting corpus."""
    import random

    from consumers.contracts.model import load_contracts
    from tests.unit.events.test_fast import _zoo_record, workload

    contracts = load_contracts(ROOT / "schemas")
    into.mkdir(parents=True, exist_ok=True)
    records = [
        p.read_bytes() for p in sorted((ROOT / "tests" / "golden" / "records").glob("*.json"))
    ]
    records += workload(contracts, random.Random(1), 150)
    records += [_zoo_record(contracts), _zoo_record(contracts, **{"metadata__operation": "update"})]
    for i, raw in enumerate(records):
        (into / f"seed-{i:04d}.json").write_bytes(raw)
    return len(records)


if __name__ == "__main__" and sys.argv[1:2] == ["--seeds"]:
    print(f"{seeds(Path(sys.argv[2]))} seed records in {sys.argv[2]}")
    sys.exit(0)
_sanitizer_build()
with atheris.instrument_imports(include=["consumers.events.decode"]):
    from consumers.events import decode as _decode  # noqa: F401  (Python-side coverage too)
from consumers.contracts.model import load_contracts  # noqa: E402
from consumers.events import _dmsjson, fast  # type: ignore[attr-defined]  # noqa: E402
from consumers.events.columns import to_table  # noqa: E402
from consumers.events.model import ChangeEvent, DeadLetter  # noqa: E402
from tests.unit.events.parity import SHARD, Paths, outcome  # noqa: E402
from tests.unit.events.records import insert_record  # noqa: E402

assert "build/fuzz" in str(_dmsjson.__file__), _dmsjson.__file__  # the sanitizer build
CONTRACTS = load_contracts(ROOT / "schemas")
PATHS = Paths(CONTRACTS)
PLAN = PATHS.fast._plan
# Clean records of several tables around the input: the "mixed" batch.
GOLDEN = ROOT / "tests" / "golden" / "records"
CLEAN = [
    *(
        (GOLDEN / f"{n}.json").read_bytes().replace(b'"address_id": 7', b'"address_id": 70000')
        for n in ("load", "insert")
    ),
    insert_record(90001),
]
CLEAN_KEYS = {("public.address", (70000,)), ("public.currency", (90001,))}
_heap = ctypes.CDLL(None).__sanitizer_get_current_allocated_bytes
_heap.restype = ctypes.c_size_t


def _no_leak(data: bytes) -> None:
    """Repeated decodes of the input must not grow the heap nor keep references to it."""
    refs = sys.getrefcount(data)
    for _ in range(3):
        _dmsjson.decode(PLAN, [data])
    before = _heap()
    for _ in range(20):
        _dmsjson.decode(PLAN, [data])
    grown = _heap() - before
    if grown > 2048:
        raise AssertionError(f"_dmsjson.decode leaks: {grown} heap bytes over 20 calls")
    if sys.getrefcount(data) != refs:
        raise AssertionError("_dmsjson.decode leaks a reference to its input")


def _collides(data: bytes) -> bool:
    """The input changes a row of the clean records: then its outcome rightly differs."""
    try:
        e = PATHS.reference.decode(data, "0")
    except DeadLetter:
        return False
    return isinstance(e, ChangeEvent) and bool(
        {(e.table, e.key), (e.table, e.old_key)} & CLEAN_KEYS
    )


def _plan_from_iterables() -> None:
    """Regression: the plan's names are borrowed from PySequence_Fast's copies of iterables that
    are not lists; the old code released them first (heap-use-after-free under ASan)."""
    plan = (
        ((schema + "_")[:-1], (name + "_")[:-1], (((c[0] + "_")[:-1], *c[1:]) for c in columns))
        for schema, name, columns in PLAN
    )
    _status, outputs = _dmsjson.decode(plan, iter([CLEAN[2]]))
    assert sum(rows for rows, *_ in outputs) == 1


def one(data: bytes) -> None:
    _no_leak(data)
    # The reference must decide every input, typing included (the flush's to_table).
    try:
        event = PATHS.reference.decode(data, "1000")
    except DeadLetter:
        event = None
    if isinstance(event, ChangeEvent):
        to_table(PATHS.by_name[event.table], [event], SHARD)
    if PATHS.fast.split([data])[1]:
        return  # slow: the reference alone decides it, as just checked
    # Accepted by the C code: the same batch both ways, alone and among clean records, and its
    # own fate independent of its neighbours.
    alone, among = PATHS.same([data]), PATHS.same([*CLEAN[:2], data, CLEAN[2]])
    if outcome(alone, 0) != outcome(among, 2) and not _collides(data):
        raise AssertionError(f"depends on its batch: {outcome(alone, 0)} vs {outcome(among, 2)}")


if __name__ == "__main__":
    assert fast.available()
    _plan_from_iterables()
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
