"""Test oracles: the source's current rows, and the table state a stream of DMS records
describes, both as rendered JSON values so they compare exactly."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg

from consumers.capture.dms_config import DmsConfig
from consumers.capture.messages import TableRenderer
from consumers.capture.render import CAPTURE_GUCS, copy_field, libpq_options
from consumers.contracts.ddl import quote_ident
from consumers.contracts.model import TableContract
from consumers.events.decode import version_of

Tables = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def source_rows(dsn: str, contracts: list[TableContract], dms: DmsConfig) -> Tables:
    out: Tables = {}
    with psycopg.connect(dsn, options=libpq_options(CAPTURE_GUCS)) as conn:
        for c in contracts:
            cols = [col.name for col in c.columns]
            r = TableRenderer(dms, c, cols)
            sql = (
                f"COPY (SELECT {', '.join(quote_ident(n) for n in cols)} FROM "
                f"{quote_ident(c.schema)}.{quote_ident(c.name)}) TO STDOUT"
            )
            rows: dict[tuple[Any, ...], dict[str, Any]] = {}
            buf = b""
            with conn.cursor().copy(sql.encode()) as copy:
                for chunk in copy:
                    buf += bytes(chunk)
            for line in buf.split(b"\n"):
                if line:
                    # as a consumer reads it back (numeric(p,s) is a JSON number)
                    data = orjson.loads(
                        orjson.dumps(r.data([copy_field(f) for f in line.split(b"\t")]))
                    )
                    rows[tuple(data[k] for k in c.primary_key)] = data
            out[c.qualified] = rows
    return out


def position(meta: dict[str, Any]) -> int:
    """The consumers' ordering version (events/decode.py)."""
    return version_of(meta)


def replay(records: list[dict[str, Any]], contracts: list[TableContract]) -> Tables:
    """Apply records as the warehouse must: full load first, then changes in source order."""
    keys = {c.qualified: c.primary_key for c in contracts}
    state: Tables = {c.qualified: {} for c in contracts}
    data = [r for r in records if r["metadata"]["record-type"] == "data"]
    loads = [r for r in data if r["metadata"]["operation"] == "load"]
    changes = sorted(
        (r for r in data if r["metadata"]["operation"] != "load"),
        key=lambda r: position(r["metadata"]),
    )
    for r in [*loads, *changes]:
        meta = r["metadata"]
        table = f"{meta['schema-name']}.{meta['table-name']}"
        pk = keys[table]
        rows = state[table]
        key = tuple(r["data"][k] for k in pk)
        op = meta["operation"]
        if op == "delete":
            rows.pop(key, None)
            continue
        previous = rows.get(key, {})
        before = r.get("before-image") or {}
        if before:
            old_key = tuple(before[k] for k in pk)
            previous = rows.pop(old_key, previous)
        rows[key] = {**previous, **r["data"]} if op == "update" else dict(r["data"])
    return state
