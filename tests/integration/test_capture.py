"""The local capture against a real PostgreSQL (pgoutput) and the moto Kinesis server."""

from __future__ import annotations

import json
import logging
import random
import threading
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from consumers.contracts.model import TableContract
from consumers.demo.data import more_edge_rows, split_more, toast_text
from consumers.demo.load import create_tables, load_demo, xml_values_supported
from consumers.demo.workload import Workload
from consumers.events.columns import column_array
from tests.conftest import read_raw, read_stream
from tests.oracle import replay, source_rows

pytestmark = pytest.mark.integration


def _by_op(records: list[dict[str, Any]], table: str, op: str) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["metadata"]["table-name"] == table and r["metadata"]["operation"] == op
    ]


def test_full_load_with_concurrent_writes_matches_the_source(
    local_stack, source_dsn, stream, contracts, dms, capture_factory
):
    load_demo(source_dsn, contracts)
    workload = Workload(source_dsn, seed=3)
    stop = threading.Event()
    writer = threading.Thread(target=workload.run, args=(400, stop, 6))
    writer.start()  # writes before, during and after the snapshot is taken
    h = capture_factory(source_dsn, stream, contracts)
    writer.join()
    h.drain()
    h.close()
    records = read_stream(local_stack, stream)
    assert replay(records, contracts) == source_rows(source_dsn, contracts, dms)
    loads = [r for r in records if r["metadata"]["operation"] == "load"]
    assert len(loads) == sum(h.capture.stats.loaded.values()) > 900
    assert sum(workload.written.values()) > 500


def test_each_change_operation_has_the_dms_shape(
    local_stack, source_dsn, stream, contracts, dms, capture_factory
):
    create_tables(source_dsn, contracts)
    h = capture_factory(source_dsn, stream, contracts)
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO address VALUES (1, '1 High St', NULL, NULL, 'Leeds', 'LS1', 'UK', "
            "'0113', '2024-01-01 10:00', '2024-01-01 10:00')"
        )
        conn.execute("UPDATE address SET address_line_2 = 'Flat 2' WHERE address_id = 1")
        conn.execute("UPDATE address SET address_line_2 = NULL WHERE address_id = 1")
        conn.execute("UPDATE address SET address_id = 2 WHERE address_id = 1")  # key change
        conn.execute("DELETE FROM address WHERE address_id = 2")
        with conn.transaction():  # one transaction, three rows
            for i in (10, 11, 12):
                conn.execute("INSERT INTO currency VALUES (%s, 'GBP', now(), now())", (i,))
    h.drain()
    h.close()
    records = read_stream(local_stack, stream)
    columns = [c.name for c in next(c for c in contracts if c.name == "address").columns]

    (insert,) = _by_op(records, "address", "insert")
    assert list(insert) == ["data", "metadata"]
    assert list(insert["data"]) == columns  # IncludeNullAndEmpty: every column, in order
    assert insert["data"]["address_line_2"] is None
    meta = insert["metadata"]
    assert list(meta) == [
        "timestamp",
        "record-type",
        "operation",
        "partition-key-type",
        "partition-key-value",
        "schema-name",
        "table-name",
        "transaction-id",
        "transaction-record-id",
        "commit-timestamp",
        "stream-position",
    ]  # fmt: skip  (the session's first record has no prev-transaction-*)
    assert meta["partition-key-value"] == "public.address.1"
    first, middle, change = meta["stream-position"].split(".")
    # As in published DMS output for a session's first insert: 00000002/7C007178.3.00000002/7C007178
    # (the middle number is not the transaction-record-id).
    assert meta["transaction-record-id"] == 1 and middle == "3"
    assert first == change and len(first) == 17 and first[8] == "/"

    updates = _by_op(records, "address", "update")
    assert [u["data"]["address_line_2"] for u in updates] == ["Flat 2", None, None]
    assert [u["before-image"] for u in updates] == [{}, {}, {"address_id": 1}]
    assert updates[2]["data"]["address_id"] == 2
    assert list(updates[0]) == ["data", "before-image", "metadata"]
    chained = updates[0]["metadata"]
    assert (chained["prev-transaction-id"], chained["prev-transaction-record-id"]) == (
        meta["transaction-id"],
        1,
    )
    assert list(chained).index("prev-transaction-id") == 9

    (delete,) = _by_op(records, "address", "delete")
    assert delete["data"]["address_id"] == 2
    assert {k for k, v in delete["data"].items() if v is not None} == {"address_id"}

    txn = _by_op(records, "currency", "insert")
    assert len({r["metadata"]["transaction-id"] for r in txn}) == 1
    assert sorted(r["metadata"]["transaction-record-id"] for r in txn) == [1, 2, 3]


def test_rolled_back_transactions_emit_nothing(
    local_stack, source_dsn, stream, contracts, dms, capture_factory
):
    create_tables(source_dsn, contracts)
    h = capture_factory(source_dsn, stream, contracts)
    with psycopg.connect(source_dsn) as conn:
        conn.execute("INSERT INTO currency VALUES (1, 'GBP', now(), now())")
        conn.rollback()
        conn.execute("INSERT INTO currency VALUES (2, 'USD', now(), now())")
        conn.commit()
    h.drain()
    h.close()
    data = [r for r in read_stream(local_stack, stream) if r["metadata"]["record-type"] == "data"]
    assert [r["data"]["currency_id"] for r in data] == [2]


def test_toast_update_and_unchanged_toast(
    local_stack, source_dsn, stream, contracts, dms, capture_factory
):
    create_tables(source_dsn, contracts)
    big = toast_text(random.Random(1), 30_000)  # incompressible: stored out of line
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO type_zoo (id, c_text) VALUES (1, %s)", (big,))
    h = capture_factory(source_dsn, stream, contracts)
    bigger = big[::-1] + "tail"
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("UPDATE type_zoo SET c_text = %s WHERE id = 1", (bigger,))
        conn.execute("UPDATE type_zoo SET c_int = 5 WHERE id = 1")  # leaves c_text untouched
    h.drain()
    h.close()
    records = read_stream(local_stack, stream)
    (load,) = _by_op(records, "type_zoo", "load")
    assert load["data"]["c_text"] == big
    toast, untouched = _by_op(records, "type_zoo", "update")
    assert toast["data"]["c_text"] == bigger
    assert "c_text" not in untouched["data"] and untouched["data"]["c_int"] == 5
    assert replay(records, contracts) == source_rows(source_dsn, contracts, dms)


def test_every_type_zoo_value_round_trips_losslessly(
    local_stack, source_dsn, stream, contracts, dms, capture_factory
):
    create_tables(source_dsn, contracts)
    h = capture_factory(source_dsn, stream, contracts)
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO type_zoo VALUES (1, -32768, 2147483647, 9223372036854775807, "
            "'-123456789012.000001', '12345678901234567890.123456789012345678901234567890', "
            "'3.4028235e38', '1.7976931348623157e308', true, 'ünï ✓', %s, 'ab', "
            "'0001-01-01', '23:59:59.999999', '2024-02-29 12:00:00.000001', "
            "'2024-02-29 23:59:59.5+05:30', '1 year 2 mons 3 days 04:05:06.789', "
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1,  \"a\": 2}', "
            "'{\"b\": [1, 2.50]}', '\\x00ff10', ARRAY['a', 'b c', NULL, '\"q\"', 'x\\y'], "
            "ARRAY[1, NULL, -2147483648], 'sad')",
            ("tab\there\nnewline\\backslash",),
        )
        conn.execute(
            "INSERT INTO type_zoo (id, c_bigint, c_real, c_double, c_numeric, c_timestamp) "
            "VALUES (2, 9007199254740993, 'NaN', '-Infinity', 'NaN', 'infinity')"
        )
        conn.execute("INSERT INTO type_zoo (id) VALUES (3)")
    h.drain()
    h.close()
    exact = [  # every digit, as the consumers read a record with an exact number in it
        json.loads(r, parse_float=Decimal) for r in read_raw(local_stack, stream)
    ]
    rows = {r["data"]["id"]: r["data"] for r in _by_op(exact, "type_zoo", "insert")}
    one = rows[1]
    assert one["c_smallint"] == -32768 and one["c_int"] == 2147483647
    assert one["c_bigint"] == 9223372036854775807
    # numeric(p,s) is a JSON number with PostgreSQL's exact digits (DMS type NUMERIC)
    assert one["c_numeric_ps"] == Decimal("-123456789012.000001")
    assert one["c_numeric"] == "12345678901234567890.123456789012345678901234567890"
    assert one["c_real"] == Decimal("3.40282347e+38")  # DMS: 9 significant digits
    assert one["c_double"] == Decimal("1.7976931348623157e+308")
    assert one["c_bool"] is True and one["c_varchar"] == "ünï ✓"
    assert one["c_text"] == "tab\there\nnewline\\backslash"
    assert one["c_char"] == "ab   "  # char(5) keeps its padding
    assert one["c_date"] == "0001-01-01"
    assert one["c_time"] == "23:59:59.999999"
    assert one["c_timestamp"] == "2024-02-29T12:00:00.000001Z"  # DMS: a `Z`, wall clock
    assert one["c_timestamptz"] == "2024-02-29T18:29:59.500000Z"
    assert one["c_interval"] == "1 year 2 mons 3 days 04:05:06.789"  # PostgreSQL's text
    assert one["c_uuid"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert one["c_json"] == '{"a": 1,  "a": 2}'  # json keeps its text exactly
    assert one["c_jsonb"] == '{"b": [1, 2.50]}'
    assert one["c_bytea"] == "00ff10"  # hex, NoHexPrefix
    assert one["c_text_array"] == '{a,"b c",NULL,"\\"q\\"","x\\\\y"}'
    assert one["c_int_array"] == "{1,NULL,-2147483648}"
    assert one["c_mood"] == "sad"
    two = rows[2]
    assert two["c_bigint"] == 2**53 + 1  # beyond a double's exact range
    assert two["c_real"] == "NaN" and two["c_double"] == "-Infinity"
    assert two["c_numeric"] == "NaN" and two["c_timestamp"] == "infinity"
    three = rows[3]
    assert all(v is None for k, v in three.items() if k != "id")
    assert not any(isinstance(v, float | Decimal) and v != v for v in two.values())


@pytest.mark.parametrize("emit_truncate", [True, False])
def test_added_column_and_truncate_are_control_records(
    local_stack, source_dsn, stream, contracts, dms, capture_factory, monkeypatch, emit_truncate
):
    """TRUNCATE is a control record only when asked (CDC_CAPTURE_TRUNCATE=1): DMS does not
    capture it from PostgreSQL, and by default neither does the local capture."""
    monkeypatch.setenv("CDC_CAPTURE_TRUNCATE", "1" if emit_truncate else "0")
    create_tables(source_dsn, contracts)
    h = capture_factory(source_dsn, stream, contracts)
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO currency VALUES (1, 'GBP', now(), now())")
        conn.execute("ALTER TABLE currency ADD COLUMN currency_name text")
        conn.execute("INSERT INTO currency VALUES (2, 'USD', now(), now(), 'US dollar')")
        conn.execute("TRUNCATE payment_type")
    h.drain()
    h.close()
    records = read_stream(local_stack, stream)
    (added,) = _by_op(records, "currency", "add-column")
    assert added["metadata"]["record-type"] == "control"
    assert added["control"]["columns"] == ["currency_name"]
    assert "currency_name" in added["control"]["table-def"]["columns"]
    (second,) = [r for r in _by_op(records, "currency", "insert") if r["data"]["currency_id"] == 2]
    assert second["data"]["currency_name"] == "US dollar"  # passed on, not dropped
    assert bool(_by_op(records, "payment_type", "truncate-table")) is emit_truncate


def test_control_records_describe_each_table_at_full_load(
    local_stack, source_dsn, stream, contracts: list[TableContract], dms, capture_factory
):
    create_tables(source_dsn, contracts)
    h = capture_factory(source_dsn, stream, contracts)
    h.drain()
    h.close()
    creates = [
        r for r in read_stream(local_stack, stream) if r["metadata"]["operation"] == "create-table"
    ]
    assert {r["metadata"]["table-name"] for r in creates} == {c.name for c in contracts}
    sales = next(r for r in creates if r["metadata"]["table-name"] == "sales_order")
    assert sales["control"]["table-def"]["columns"]["unit_price"] == {
        "type": "NUMERIC", "nullable": False, "precision": 10, "scale": 2,
    }  # fmt: skip
    assert sales["control"]["table-def"]["primary-key"] == ["sales_order_id"]
    assert sales["metadata"]["partition-key-type"] == "task-id"


def test_the_types_real_databases_use_are_rendered_as_dms_does(
    local_stack, source_dsn, stream, contracts, dms, capture_factory
):
    """type_zoo_more, _arrays and _ranges through the capture: each value in the spelling DMS
    documents for it (arrays, hstore, xml: the text of a LOB; money: NUMERIC(38,4), a number;
    network, range and bit types: their text), then typed by the consumers, no dead letter."""
    create_tables(source_dsn, contracts)
    h = capture_factory(source_dsn, stream, contracts)
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        xml = xml_values_supported(conn)  # the PyPI server (make test-fresh) has no libxml
        for full in more_edge_rows(random.Random(1), start_id=1):
            if not xml:
                full = {**full, "c_xml": None}
            for table, row in split_more(full).items():
                cols = ", ".join(f'"{k}"' for k in row)
                marks = ", ".join(["%s"] * len(row))
                sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
                conn.execute(sql.encode(), list(row.values()))
    h.drain()
    h.close()
    exact = [json.loads(r, parse_float=Decimal) for r in read_raw(local_stack, stream)]
    rows = {r["data"]["id"]: r["data"] for r in _by_op(exact, "type_zoo_more", "insert")}
    for table in ("type_zoo_arrays", "type_zoo_ranges"):
        for r in _by_op(exact, table, "insert"):
            rows[r["data"]["id"]].update(r["data"])
    one, two, three = rows[1], rows[2], rows[3]
    assert one["c_bigint_array"] == "{-9223372036854775808,9223372036854775807,NULL,0}"
    assert one["c_double_array"] == ("{-1.7976931348623157e+308,5e-324,0.1,NaN,Infinity,-Infinity}")
    assert one["c_bool_array"] == "{t,f,NULL}"
    assert one["c_varchar_array"] == '{"","a,b","q\\"uote",NULL,"NULL",ünï✓🚀}'
    assert one["c_timestamptz_array"] == ('{"1970-01-01 00:00:00+00","2024-02-29 18:29:59.5+00"}')
    assert one["c_bytea_array"] == '{"\\\\x00ff",NULL,"\\\\x"}'
    assert one["c_interval_hm"] == "-838:59:00"  # PostgreSQL's text (IntervalStyle postgres)
    assert one["c_timestamp3"] == "2024-02-29T12:00:00.123000Z"
    assert one["c_timetz"] == "23:59:59.999999-15:59"
    # money: a number with every digit and its sign, whatever the source's lc_monetary
    assert one["c_money"] == Decimal("-12345678901234567.89")
    assert two["c_money"] == Decimal("12345678901234567.89")
    assert three["c_money"] == Decimal("0.01")
    assert one["c_inet"] == "2001:db8::1/64" and one["c_cidr"] == "10.0.0.0/8"
    assert one["c_macaddr"] == "08:00:2b:01:02:03" and one["c_bit"] == "1010"
    assert one["c_xml"] == ('<a x="1">tëxt &amp; <b/></a>' if xml else None)
    assert one["c_citext"] == "MiXeD Case ✓"
    assert one["c_hstore"] == '"a"=>"1", "q\\"k"=>NULL, "ünï"=>"✓", "back\\\\slash"=>""'
    assert one["c_tsrange"] == '["2024-01-01 00:00:00","2024-01-02 00:00:00.5")'
    assert one["c_daterange"] == "empty" and one["c_int8range"] == "(,1)"
    assert all(v is None for k, v in rows[4].items() if k != "id")
    more = next(c for c in contracts if c.name == "type_zoo_more")
    others = [c for c in contracts if c.name in ("type_zoo_arrays", "type_zoo_ranges")]
    for col in more.columns + tuple(
        col for c in others for col in c.columns
    ):  # the consumers type every value: no dead letter
        values = [r[col.name] for r in rows.values()]
        bad = column_array(col, values)[1]
        assert bad == {}, (col.name, bad)
    typed = column_array(more.column("c_hstore"), [one["c_hstore"]])[0][0].as_py()
    assert json.loads(typed) == {"a": "1", 'q"k': None, "back\\slash": "", "ünï": "✓"}


def test_a_large_transaction_and_a_large_full_load_report_their_progress(
    local_stack, source_dsn, stream, contracts, capture_factory, monkeypatch, caplog
):
    """Rows/s and ETA in the logs (and so in the live view, which shows the same text), for a
    full load of 12k rows and one transaction of 25k changes."""
    from consumers.capture import progress

    monkeypatch.setattr(progress, "LOG_SECONDS", 0.0)
    create_tables(source_dsn, contracts)
    insert = (
        "INSERT INTO sales_order SELECT i, 1 + i % 50, 1 + i % 20, 1 + i % 12, 1000, 2.5, 1, "
        "current_date, current_date + 3, 1 + i % 30, now(), now() FROM generate_series({}) i"
    )
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(insert.format("1, 12000").encode())
        conn.execute(b"ANALYZE sales_order")
    with caplog.at_level(logging.INFO, logger="consumers.capture"):
        h = capture_factory(source_dsn, stream, contracts)
        with psycopg.connect(source_dsn) as conn:  # one transaction
            conn.execute(insert.format("100001, 125000").encode())
        h.drain()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("consumers.capture")]
    full_load = [x for x in lines if x.startswith("full load of public.sales_order: ")]
    assert full_load[0].startswith("full load of public.sales_order: 10,000 of ~12,000 rows (83%)")
    assert "rows/s, ETA " in full_load[0]
    assert full_load[-1].startswith("full load of public.sales_order: 12,000 of ~12,000 rows")
    assert full_load[-1].endswith(", done")
    big = [x for x in lines if x.startswith("transaction ")]
    assert [x.split(":")[1].split(" changes")[0] for x in big] == [" 10,000", " 20,000", " 20,000"]
    assert "% of its WAL), " in big[0] and "changes/s, ETA " in big[0]
    assert big[-1].endswith(", committed")
    assert h.capture.stats.progress is None


def test_a_drain_marker_older_than_the_slot_is_covered_by_the_full_load(
    local_stack, source_dsn, stream, contracts, dms, tmp_path
):
    """A drain asked for before the capture created its slot (its marker is inside the
    slot's snapshot, so it is never streamed) ends once the full load is put, without
    waiting for a later commit such as the next heartbeat (60 s by default)."""
    from consumers.capture.kinesis_sink import KinesisSink
    from consumers.capture.runner import DRAIN_PREFIX, Capture, CaptureConfig, emit_marker

    load_demo(source_dsn, contracts)
    marker = emit_marker(source_dsn, DRAIN_PREFIX)
    cfg = CaptureConfig(
        source_dsn=source_dsn, contracts=contracts, dms=dms, state_dir=tmp_path,
        slot="slot_" + source_dsn.rsplit("/", 1)[1], stream=stream, heartbeat_seconds=3600,
    )  # fmt: skip
    capture = Capture(cfg, KinesisSink(local_stack.client("kinesis"), stream))
    stop = threading.Event()
    done = threading.Thread(target=capture.run, args=(stop,), kwargs={"until_lsn": marker})
    done.start()
    done.join(30)
    ended = not done.is_alive()
    stop.set()
    done.join(30)
    assert ended, "run(until_lsn=...) waited for a commit after the slot"
    assert capture.stats.acked_lsn >= marker
    loads = [r for r in read_stream(local_stack, stream) if r["metadata"]["operation"] == "load"]
    assert len(loads) == sum(capture.stats.loaded.values()) > 900
