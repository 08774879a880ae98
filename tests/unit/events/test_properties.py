"""Property: whatever JSON sits in any envelope field or any column of any contract (type_zoo
included), the fast path and the reference resolve it to the same Parquet rows, dead letters
with their reasons, control records and counts, alone and among clean records; and the record's
own fate does not depend on its neighbours. Neither path may raise: any bytes become an event, a
control record or a dead letter.

Default run: 300 examples (~15 s) (CI: derandomized, so a run is reproducible). More:
  CDC_HYPOTHESIS_EXAMPLES=5000 .venv/bin/pytest -q tests/unit/events/test_properties.py
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC
from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from consumers.contracts.model import Column, TableContract, load_contracts
from consumers.contracts.types import Kind, char_length
from consumers.events.decode import CONTROL_OPERATIONS
from consumers.events.model import ChangeEvent, DeadLetter
from tests.conftest import SCHEMAS
from tests.unit.events.parity import Paths, outcome

CONTRACTS = load_contracts(SCHEMAS)
PATHS = Paths(CONTRACTS)
EXAMPLES = int(os.environ.get("CDC_HYPOTHESIS_EXAMPLES", "300"))
CLEAN_KEY = 10**6  # clean records' keys start here; the record's are small


class Raw(str):
    """A JSON number token written as is (1e400, a 310-digit integer, ...)."""


RAW_NUMBERS = ["1e400", "-1e400", "1" * 310, "1" * 308, "1.7976931348623159e308",
               "1.7976931348623157e308", "1e-400", "-0", "1E2", "123456789012345678901",
               "9223372036854775808", "-9223372036854775809", "0.0", "2147483648"]  # fmt: skip
STRINGS = ["", "\x00", "a\u0000b", "\ud800", "x\udfffy", "é", "🙂", "NaN", "Infinity", "-Infinity",
           "t", "true", "1", "0000-01-01", "2026-13-45", "1e1001", "00:00:00", "happy", "{a,b}",
           "{1,NULL}", '{"a": 1}', "\\x00ff", "AAEC", "  7", "+1.5", "1_000", "٣"]  # fmt: skip


def _dump(v: Any, ascii_only: bool) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, dict):
        items = (f"{_dump(k, ascii_only)}:{_dump(x, ascii_only)}" for k, x in v.items())
        return "{" + ",".join(items) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_dump(x, ascii_only) for x in v) + "]"
    return json.dumps(v, ensure_ascii=ascii_only)


def encode(doc: Any, ascii_only: bool) -> bytes:
    # surrogatepass: a lone surrogate written raw is invalid UTF-8, which both must refuse
    return _dump(doc, ascii_only).encode("utf-8", "surrogatepass")


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(STRINGS),
    st.sampled_from(RAW_NUMBERS).map(Raw),
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


def _valid(col: Column) -> st.SearchStrategy[Any]:
    """Values as DMS renders the column's type (consumers/capture/render.py), edges included."""
    k = col.kind
    if k in (Kind.INT2, Kind.INT4, Kind.INT8):
        bits = {Kind.INT2: 16, Kind.INT4: 32, Kind.INT8: 64}[k]
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return st.integers(lo, hi) | st.sampled_from([lo, hi, lo - 1, hi + 1])
    if k is Kind.DECIMAL:
        return st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str)
    if k is Kind.NUMERIC:
        return st.decimals(allow_nan=False, allow_infinity=False).map(str) | st.just("NaN")
    if k in (Kind.FLOAT4, Kind.FLOAT8):
        return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
            ["NaN", "Infinity"]
        )
    if k is Kind.BOOL:
        return st.booleans()
    if k is Kind.DATE:
        return st.dates().map(lambda d: d.isoformat())
    if k is Kind.TIME:
        return st.times().map(lambda t: t.isoformat())
    if k is Kind.TIMESTAMP:
        return st.datetimes().map(lambda d: d.isoformat(sep=" "))
    if k is Kind.TIMESTAMPTZ:
        return st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
    if k is Kind.UUID:
        return st.uuids().map(str)
    if k in (Kind.JSON, Kind.JSONB):
        return st.sampled_from(['{"a": 1}', "[1, 2]", '"s"', "null"])
    if k is Kind.BYTEA:
        return st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode())
    if k is Kind.TEXT_ARRAY:
        return st.lists(st.none() | st.text(max_size=4), max_size=3)
    if k is Kind.INT_ARRAY:
        return st.lists(st.none() | st.integers(-(2**31), 2**31 - 1), max_size=3)
    if k is Kind.ENUM:
        return st.sampled_from(col.enum_symbols)
    if k is Kind.INTERVAL:
        return st.sampled_from(["1 day 02:00:00", "00:00:01", "-3 mons"])
    limit = char_length(col.sql_type) or 12
    return st.text(max_size=limit + 1)


ABSENT = object()
ENVELOPE = ["timestamp", "record-type", "operation", "schema-name", "table-name", "transaction-id",
            "transaction-record-id", "commit-timestamp", "stream-position"]  # fmt: skip


@st.composite
def records(draw: st.DrawFn, clean: bool = False) -> bytes:
    """A record DMS could send for a contract table; unless `clean`, then up to three of its
    parts (an envelope field, a column, before-image, control, the whole document) replaced by
    arbitrary JSON or removed."""
    contract: TableContract = draw(st.sampled_from(CONTRACTS))
    data: dict[str, Any] = {}
    for col in contract.columns:
        if col.name in contract.primary_key:
            low = CLEAN_KEY if clean else 1
            data[col.name] = draw(st.integers(low, low + 50))
        elif col.nullable and draw(st.integers(0, 9)) == 0:
            data[col.name] = None
        else:
            data[col.name] = draw(_valid(col))
    hi, lo = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
    rec = draw(st.integers(1, 9))
    control = not clean and draw(st.integers(0, 9)) == 0
    operations = sorted(CONTROL_OPERATIONS) if control else ["load", "insert", "update", "delete"]
    op = draw(st.sampled_from(operations))
    meta: dict[str, Any] = {
        "timestamp": "2026-11-25T01:02:03.456789Z",
        "record-type": "control" if control else "data",
        "operation": op,
        "partition-key-type": "primary-key",
        "schema-name": contract.schema,
        "table-name": contract.name,
        "transaction-id": draw(st.integers(1, 10**6)),
        "transaction-record-id": rec,
        "commit-timestamp": draw(st.datetimes(timezones=st.just(UTC))).isoformat(),
        "stream-position": draw(
            st.sampled_from([f"{hi:08X}/{lo:08X}.{rec}.{hi:08X}/{lo:08X}", f"{hi:X}/{lo:X}.{rec}"])
        ),
    }
    doc: dict[str, Any] = {"data": data, "metadata": meta}
    if op == "update" and draw(st.booleans()):
        key = contract.primary_key[0]
        doc["before-image"] = draw(st.sampled_from([{}, {key: data[key]}, {key: data[key] + 1}]))
    if control:
        doc["control"] = {"table-def": {"columns": {c.name: {} for c in contract.columns}}}
    if not clean:
        columns = [("data", c.name) for c in contract.columns]
        whole = [(None, "before-image"), (None, "control"), (None, "data"), (None, "metadata")]
        parts = [*(("metadata", f) for f in ENVELOPE), *columns, ("data", "extra"), *whole]
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
            part, name = draw(st.sampled_from(parts))
            node = doc if part is None else doc.get(part)
            if isinstance(node, dict):
                value = draw(anything | st.just(ABSENT))
                if value is ABSENT:
                    node.pop(name, None)
                else:
                    node[name] = value
        if draw(st.integers(0, 29)) == 0:
            doc = draw(anything)  # not even an object
    return encode(doc, ascii_only=clean or draw(st.booleans()))


def _collides(raw: bytes) -> bool:
    """The record changes a row of a clean record: then its fate rightly depends on them."""
    try:
        e = PATHS.reference.decode(raw, "0")
    except DeadLetter:
        return False
    return isinstance(e, ChangeEvent) and any(
        isinstance(k, int) and k >= CLEAN_KEY for k in (*e.key, *(e.old_key or ()))
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    record=records(),
    clean=st.lists(records(clean=True), min_size=1, max_size=4),
    at=st.integers(0, 4),
)
def test_both_paths_write_the_same_whatever_the_record(record, clean, at):
    assume(not _collides(record))
    at = min(at, len(clean))
    alone = PATHS.same([record])
    among = PATHS.same([*clean[:at], record, *clean[at:]])
    fate = outcome(alone, 0)
    assert fate == outcome(among, at)
    event(f"fast path: {bool(alone['typed'])}")
    event(fate[0] if fate[0] == "dead" else f"rows: {len(fate[1])}, control: {len(fate[2])}")
    if fate[0] == "dead":
        event(f"reason: {fate[1].split(':')[0][:40]}")
