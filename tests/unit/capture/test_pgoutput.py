"""pgoutput v1 messages built byte by byte from the PostgreSQL protocol docs."""

from __future__ import annotations

import struct

from consumers.capture import pgoutput
from consumers.capture.pgoutput import UNCHANGED, format_lsn, parse_lsn


def tuple_data(*values: bytes | object | None) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNCHANGED:
            out += b"u"
        else:
            assert isinstance(v, bytes)
            out += b"t" + struct.pack(">i", len(v)) + v
    return out


def test_begin_commit_relation():
    begin = pgoutput.decode(b"B" + struct.pack(">qqI", 0x1_0000_0010, 1_000_000, 42))
    assert begin == pgoutput.Begin(0x1_0000_0010, 1_000_000 + pgoutput.PG_EPOCH_US, 42)
    commit = pgoutput.decode(b"C" + struct.pack(">bqqq", 0, 100, 120, 5))
    assert commit == pgoutput.Commit(100, 120, 5 + pgoutput.PG_EPOCH_US)
    rel = pgoutput.decode(
        b"R" + struct.pack(">I", 16384) + b"public\0design\0" + b"d" + struct.pack(">h", 2)
        + b"\x01design_id\0" + struct.pack(">Ii", 23, -1)
        + b"\x00design_name\0" + struct.pack(">Ii", 25, -1)
    )  # fmt: skip
    assert rel == pgoutput.Relation(
        16384,
        "public",
        "design",
        "d",
        (
            pgoutput.RelationColumn("design_id", 23, True),
            pgoutput.RelationColumn("design_name", 25, False),
        ),
    )


def test_insert_update_delete_truncate():
    oid = struct.pack(">I", 7)
    ins = pgoutput.decode(b"I" + oid + b"N" + tuple_data(b"1", None, b"x"))
    assert ins == pgoutput.Insert(7, [b"1", None, b"x"])
    upd = pgoutput.decode(b"U" + oid + b"N" + tuple_data(b"1", UNCHANGED))
    assert upd == pgoutput.Update(7, None, [b"1", UNCHANGED])
    keyed = pgoutput.decode(
        b"U" + oid + b"K" + tuple_data(b"1", None) + b"N" + tuple_data(b"2", b"y")
    )
    assert keyed == pgoutput.Update(7, [b"1", None], [b"2", b"y"])
    full = pgoutput.decode(
        b"U" + oid + b"O" + tuple_data(b"1", b"a") + b"N" + tuple_data(b"1", b"b")
    )
    assert full == pgoutput.Update(7, [b"1", b"a"], [b"1", b"b"])
    dele = pgoutput.decode(b"D" + oid + b"K" + tuple_data(b"1", None))
    assert dele == pgoutput.Delete(7, [b"1", None])
    trunc = pgoutput.decode(b"T" + struct.pack(">ib", 2, 0) + struct.pack(">II", 7, 8))
    assert trunc == pgoutput.Truncate((7, 8))
    assert pgoutput.decode(b"O" + b"\0" * 9) is None  # origin: ignored


def test_lsn_text_round_trip():
    assert format_lsn(0x2_7C007178) == "00000002/7C007178"
    assert parse_lsn("2/7C007178") == 0x2_7C007178
