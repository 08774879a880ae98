"""The C fast path (consumers/events/_dmsjson.c, events/fast.py) against the reference
(events/decode.py + columns.py + batching/buffer.py): the same batch resolved both ways must write
the same rows, dead letters, control records and counts. Records come from the capture's own
message builder, over random workloads (duplicate keys, out-of-order versions, NULLs, escapes,
non-ASCII text, unchanged TOAST, key changes, values that break the contract), and from random
byte-level damage to them."""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
import pytest

from consumers.batching.buffer import FlushPolicy, ShardBatch
from consumers.batching.resolve import resolve
from consumers.capture import dms_config
from consumers.capture.messages import MessageBuilder, TableRenderer
from consumers.capture.pgoutput import UNCHANGED
from consumers.contracts.model import TableContract
from consumers.contracts.types import Kind, char_length
from consumers.events import fast as fastpath
from consumers.events.decode import Decoder
from consumers.events.fast import FastDecoder
from consumers.sink.writer import BatchManifest, BatchWriter
from tests.conftest import DMS_DIR
from tests.fakes import FakeS3
from tests.unit.events.parity import SHARD, Paths

TEXTS = ["plain", 'quote " here', "back\\slash", "new\nline\ttab", "é ü ß", "日本語", "emoji 🙂",
         "ctl \x01", "", "x" * 41]  # fmt: skip


def test_the_extension_is_built():
    """make test runs where the C compiler is: the fast path must be there, not silently off."""
    assert fastpath.available()


def _value(col: Any, rng: random.Random, bad: float) -> bytes | None:
    """A PostgreSQL text-format value for the column, sometimes NULL, sometimes invalid."""
    k = col.kind
    if rng.random() < 0.08 and col.nullable:
        return None
    broken = rng.random() < bad
    if k in (Kind.INT2, Kind.INT4, Kind.INT8):
        hi = {Kind.INT2: 2**15, Kind.INT4: 2**31, Kind.INT8: 2**63}[k]
        return str(rng.choice([0, -1, 7, hi - 1, -hi, rng.randrange(-999, 999)])).encode()
    if k is Kind.DECIMAL:
        return rng.choice([b"1.5", b"-0.25", b"1234.56"] + [b"1.1234567"] * broken)
    if k is Kind.NUMERIC:
        return rng.choice([b"12.5", b"-3", b"NaN", b"1e5", b"0.000001"])
    if k in (Kind.FLOAT4, Kind.FLOAT8):
        return rng.choice([None, None, b"1.5", b"-2.25e3"])
    if k is Kind.BOOL:
        return rng.choice([b"t", b"f"])
    if k is Kind.TEXT:
        limit = char_length(col.sql_type)
        text = rng.choice(TEXTS)
        if limit is not None and len(text) > limit and not broken:
            text = text[:limit]
        return text.encode()
    if k is Kind.DATE:
        return rng.choice([b"2026-01-02", b"1999-12-31"])
    if k is Kind.TIME:
        return rng.choice([None, b"12:00:01"])
    if k is Kind.TIMESTAMP:
        return rng.choice([b"2026-01-02 03:04:05.123456", b"2000-02-29 00:00:00"])
    if k is Kind.TIMESTAMPTZ:
        return rng.choice([b"2026-01-02 03:04:05.123456+00", b"2026-06-01 10:00:00+02"])
    if k is Kind.INTERVAL:
        return b"1 day 02:00:00"
    if k is Kind.UUID:
        return str(uuid.UUID(int=rng.getrandbits(128))).encode()
    if k in (Kind.JSON, Kind.JSONB):
        return rng.choice([b'{"a": 1}', b"[1, 2]", b'"s"'])
    if k is Kind.BYTEA:
        return rng.choice([None, b"\\x0102ff"])
    if k is Kind.TEXT_ARRAY:
        return rng.choice([None, b'{a,"b c"}'])
    if k is Kind.INT_ARRAY:
        return rng.choice([None, b"{1,2,NULL}"])
    if k is Kind.ENUM:
        return rng.choice([*col.enum_symbols, *(["nope"] * broken)]).encode()
    if k in _MORE:  # issue 13 types: the C code hands them to the reference path
        invalid = b"$1.005" if k is Kind.MONEY else b"not valid"  # PostgreSQL prints money
        return rng.choice(_MORE[k].get(col.sql_type, [b"?"]) + [invalid] * broken)
    raise AssertionError(k)


_MORE: dict[Kind, dict[str, list[bytes | None]]] = {
    Kind.ARRAY: {
        "bigint[]": [b"{1,NULL,-9223372036854775808}", b"{}"],
        "smallint[]": [b"{-32768,32767}"],
        "numeric[]": [b"{1.5,NaN}"],
        "numeric(10,2)[]": [b"{-1.25,NULL}"],
        "double precision[]": [b"{0.1,-Infinity}"],
        "real[]": [b"{2.2}"],
        "boolean[]": [b"{t,f,NULL}"],
        "varchar(8)[]": [b'{"a,b",NULL}'],
        "uuid[]": [b"{00000000-0000-0000-0000-000000000000}"],
        "date[]": [b"{2024-02-29}"],
        "timestamp[]": [b'{"2024-02-29 12:00:00"}'],
        "timestamptz[]": [b'{"2024-02-29 12:00:00+00"}'],
        "interval[]": [b'{"1 day 02:00:00"}'],
        "bytea[]": [b'{"\\\\x00ff"}'],
    },
    Kind.TIMETZ: {"timetz": [b"12:00:00+02", None]},
    Kind.MONEY: {"money": [b"-$1,234.56", b"$0.01", b"$92,233,720,368,547,758.07"]},
    Kind.INET: {"inet": [b"10.1.2.3/8"], "cidr": [b"10.0.0.0/8"]},
    Kind.MACADDR: {"macaddr": [b"08:00:2b:01:02:03"], "macaddr8": [b"08:00:2b:01:02:03:04:05"]},
    Kind.BIT: {"bit(4)": [b"0101"], "varbit(12)": [b"", b"1"]},
    Kind.XML: {"xml": [b"<a/>"]},
    Kind.CITEXT: {"citext": [b"MiXeD"]},
    Kind.HSTORE: {"hstore": [b'"a"=>"1", "b"=>NULL', b""]},
    Kind.RANGE: {
        t: [b"empty", b"[1,10)", b'["2024-01-01 00:00:00",)']
        for t in ("int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange")
    },
}


def workload(
    contracts: list[TableContract],
    rng: random.Random,
    n: int,
    *,
    bad: float = 0.0,
    toast: float = 0.1,
    moves: float = 0.05,
) -> list[bytes]:
    """n DMS records over a few tables with few keys, so keys repeat within a batch."""
    dms = dms_config.load(DMS_DIR)
    builder = MessageBuilder(dms, "test")
    by_name = {c.name: c for c in contracts}
    tables = [
        by_name[t]
        for t in ("type_zoo", "currency", "staff", "sales_order", "type_zoo_more",
                  "type_zoo_arrays", "type_zoo_ranges")
    ]  # fmt: skip
    renderers = {c.name: TableRenderer(dms, c, [col.name for col in c.columns]) for c in tables}
    out = []
    for i in range(n):
        c = rng.choice(tables)
        r = renderers[c.name]
        values: list[Any] = [_value(col, rng, bad) for col in c.columns]
        for k in c.primary_key:
            values[[col.name for col in c.columns].index(k)] = str(rng.randrange(1, 12)).encode()
        op = rng.choice(["load", "insert", "update", "update", "delete"])
        if op == "load":
            out.append(builder.load(r, values).data)
            continue
        old = None
        if op == "update":
            for j, col in enumerate(c.columns):  # unchanged TOAST, now and then
                if col.kind is Kind.TEXT and col.name not in c.primary_key and rng.random() < toast:
                    values[j] = UNCHANGED
            if rng.random() < moves:  # a primary-key change
                old = list(values)
                for k in c.primary_key:
                    old[[col.name for col in c.columns].index(k)] = b"99"
        lsn = rng.choice([0x5000 + i, rng.randrange(0x1000, 0x9000)])  # mostly in order
        out.append(
            builder.change(
                r, op, values, old, xid=i, record_id=rng.randrange(1, 4), position=(lsn, 2, lsn),
                commit_ts="2026-11-25T01:02:03.456789Z",
            ).data
        )  # fmt: skip
    return out


def _resolved(contracts: list[TableContract], raws: list[bytes], fast: bool) -> dict[str, Any]:
    """The batch resolved and written with the fast path on or off: what landed in S3."""
    return Paths(contracts).resolved(raws, fast)


def _keys(contracts: list[TableContract]) -> Any:
    index = {c.qualified: c.primary_key for c in contracts}
    return index.__getitem__


def _same(contracts: list[TableContract], raws: list[bytes]) -> dict[str, Any]:
    return Paths(contracts).same(raws)


@pytest.mark.parametrize("seed", range(6))
def test_fast_and_reference_write_the_same_batch(contracts, seed):
    rng = random.Random(seed)
    raws = workload(contracts, rng, 400, bad=0.02)  # every table goes to the reference
    _same(contracts, raws)
    raws = workload(contracts, rng, 200, bad=0.01, toast=0.01, moves=0.01)
    fast = _same(contracts, raws)
    assert fast["typed"], "the fast path typed no table: the comparison proves nothing"


def test_a_clean_batch_takes_the_fast_path_for_every_table(contracts):
    rng = random.Random(42)
    raws = [
        r for r in workload(contracts, rng, 300) if b'"update"' not in r and b"type_zoo" not in r
    ]
    fast = _same(contracts, raws)
    assert fast["typed"] == sorted(fast["tables"])
    assert fast["dead"] == [] and fast["late_dead"] == []


def test_control_records_dead_letters_and_changes_mixed(contracts):
    dms = dms_config.load(DMS_DIR)
    currency = next(c for c in contracts if c.name == "currency")
    r = TableRenderer(dms, currency, [col.name for col in currency.columns])
    control = MessageBuilder(dms, "t").control(r, "create-table").data
    raws = workload(contracts, random.Random(7), 100)
    unknown = raws[0].replace(b'"table-name": "', b'"table-name": "nope_')
    raws[10:10] = [control, b"{not json", unknown, b"\xff\xfe", b"[]", b'{"metadata": 1}']
    fast = _same(contracts, raws)
    assert len(fast["dead"]) == 5 and len(fast["control"]) == 1


@pytest.mark.parametrize("seed", range(10))
def test_damaged_records_are_decided_the_same_way(contracts, seed):
    """Random byte edits: whatever the C code accepts, the reference accepts identically."""
    rng = random.Random(seed)
    raws = workload(contracts, rng, 300)
    alphabet = b'{}[]:,"\\ 0123456789.-eEtrufalsn\n\xc3\xa9\xff\x00'
    for i in rng.sample(range(len(raws)), 150):
        b = bytearray(raws[i])
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(b))
            edit = rng.randrange(3)
            if edit == 0:
                del b[at]
            elif edit == 1:
                b.insert(at, rng.choice(alphabet))
            else:
                b[at] = rng.choice(alphabet)
        raws[i] = bytes(b)
    _same(contracts, raws)


def _zoo_record(contracts: list[TableContract], **changes: Any) -> bytes:
    raws = [r for r in workload(contracts, random.Random(3), 200) if b'"type_zoo"' in r]
    doc = orjson.loads(next(r for r in raws if b'"insert"' in r))
    for kind_typed_by_the_reference in ("c_real", "c_double", "c_time", "c_bytea",
                                        "c_text_array", "c_int_array", "c_interval"):  # fmt: skip
        doc["data"][kind_typed_by_the_reference] = None
    for path, value in changes.items():
        part, field = path.split("__")
        if value is ...:
            doc[part].pop(field, None)
        else:
            doc[part][field] = value
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("changes", "fast"),
    [
        ({}, True),
        ({"data__c_real": 1.5}, False),  # a kind the reference types
        ({"data__c_int": "7"}, False),  # an integer spelled as a string
        ({"data__c_int": 2**31}, False),  # out of range
        ({"data__c_int": -(2**31)}, True),
        ({"data__c_bigint": 2**63 - 1}, True),
        ({"data__c_bigint": -(2**63)}, True),
        ({"data__c_bigint": 2**63}, False),
        ({"data__c_smallint": -32769}, False),
        ({"data__c_bool": "t"}, False),
        ({"data__c_text": 5}, False),
        ({"data__c_extra": 1}, False),  # not in the contract
        ({"data__id": None}, False),  # NULL key
        ({"data__id": ...}, False),  # missing key
        ({"metadata__stream-position": "1/2.3"}, False),  # not the fixed-width form
        ({"metadata__stream-position": "00000002/7C007178.NOW"}, False),
        ({"metadata__transaction-record-id": ...}, False),
        ({"metadata__transaction-record-id": 2**32}, False),
        ({"metadata__transaction-record-id": 1.0}, False),
        ({"metadata__transaction-record-id": 2**32 - 1}, True),
        ({"data__c_numeric_ps": 12.5}, True),  # numeric(p,s) as a JSON number (DMS may)
        ({"data__c_numeric_ps": "12.5"}, True),
        ({"data__c_numeric": 12.5}, False),  # unconstrained numeric: the reference, exactly
        ({"metadata__stream-position": ...}, False),
        ({"metadata__record-type": "control"}, False),
        ({"metadata__operation": "upsert"}, False),
        ({"metadata__commit-timestamp": 5}, False),
        ({"metadata__commit-timestamp": None}, True),
        ({"metadata__table-name": "nope"}, False),
        ({"data__c_text": 'a "quoted" \\ value \u00e9 \U0001f642'}, True),
    ],
)
def test_what_the_c_code_accepts(contracts, changes, fast):
    raw = _zoo_record(contracts, **changes)
    tables, slow = FastDecoder(contracts).split([raw])
    assert (slow == []) is fast
    assert bool(tables) is fast


def test_unchanged_toast_and_key_changes_go_to_the_reference(contracts):
    raws = workload(contracts, random.Random(11), 400)
    decoder = Decoder(contracts)
    tables, slow = FastDecoder(contracts).split(raws)
    for i in slow:
        e = decoder.decode(raws[i], str(i))
        assert (
            getattr(e, "unchanged", ())
            or getattr(e, "old_key", None)
            or e.table.startswith("public.type_zoo")  # types only the reference decodes
        )  # the zoo's time/bytea/array/float values are typed by the reference
    fast_positions = {i for t in tables.values() for i in t.index.to_pylist()}
    for i in fast_positions:
        e = decoder.decode(raws[i], str(i))
        assert not e.unchanged and e.old_key is None


def test_large_batches_and_empty_ones(contracts):
    raws = workload(contracts, random.Random(5), 3000)
    _same(contracts, raws)
    assert FastDecoder(contracts).split([]) == ({}, [])


def test_manifest_round_trips_for_fast_tables(contracts):
    rng = random.Random(9)
    raws = [r for r in workload(contracts, rng, 200, toast=0, moves=0) if b'"currency"' in r]
    batch = ShardBatch(FlushPolicy(), _keys(contracts))
    sequences = [str(i) for i in range(1, len(raws) + 1)]
    batch.stage(raws, sequences, ["k"] * len(raws), [1_764_000_000_000] * len(raws))
    resolve(batch, Decoder(contracts), FastDecoder(contracts), SHARD, lambda i, r: None)
    assert "public.currency" in batch.typed
    s3 = FakeS3()
    BatchWriter(s3, "b", "d", {c.qualified: c for c in contracts}).write(SHARD, batch, "age")
    manifest = BatchManifest.from_json(s3.objects[("b", f"manifests/{SHARD}/1-{len(raws)}.json")])
    assert manifest.records == len(raws)
    (f,) = manifest.files
    assert f.rows == batch.typed["public.currency"].num_rows


def test_a_damaged_commit_timestamp_is_a_dead_letter_not_a_failed_flush(contracts):
    """Found by the damage test: the flush used to fail on it, for ever (a poison record)."""
    raws = workload(contracts, random.Random(13), 50, toast=0, moves=0)
    raws.append(_zoo_record(contracts, **{"metadata__commit-timestamp": "2026-13-45T99:00:00Z"}))
    fast = _same(contracts, raws)
    (late,) = fast["late_dead"]
    assert late[0] == str(1000 + len(raws) - 1) and "commit-timestamp" in late[1]
