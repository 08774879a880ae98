"""The local capture: what a DMS full-load-and-cdc task does, from the same configuration files.

Hand-off with no gap and no overlap, as DMS does it for PostgreSQL:
1. create the publication (the selected tables) and the logical replication slot (pgoutput),
   exporting the slot's snapshot;
2. full load: every selected table read inside that exported snapshot (operation `load`);
3. stream from the slot: every change committed after the snapshot, in commit order.

Durability: the slot is acknowledged (flush LSN) only up to the end of the last transaction
whose records Kinesis has accepted, so a kill -9 at any moment loses nothing: on restart the slot
replays from the last acknowledged commit (records after it may be put twice: at-least-once).
A full load that did not finish is redone (see `Capture.full_load`). A rolled-back transaction never
reaches the slot (pgoutput decodes committed transactions only), so it emits nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
import psycopg2
import psycopg2.errors
import psycopg2.extras

from consumers.capture import pgoutput, truncate_log
from consumers.capture.dms_config import DmsConfig
from consumers.capture.kinesis_sink import Sink
from consumers.capture.messages import MessageBuilder, TableRenderer, iso_utc, now_iso
from consumers.capture.progress import CHECK_EVERY, Progress
from consumers.capture.render import CAPTURE_GUCS, copy_field, libpq_options
from consumers.contracts.ddl import quote_ident, quote_literal
from consumers.contracts.model import TableContract
from consumers.db import connect, first_line
from consumers.errors import CdcError, TerminalError

log = logging.getLogger(__name__)

ACK_EVERY_MESSAGES = 5000
ACK_EVERY_SECONDS = 0.2
HEARTBEAT_PREFIX = "cdc_heartbeat"
DRAIN_PREFIX = "cdc_drain"


def emit_marker(dsn: str, prefix: str) -> int:
    """Commit a transaction holding only a logical decoding message; returns its LSN.

    It travels through the slot like any transaction, so once the capture has acknowledged a
    commit at or past this LSN, every transaction committed before it has been put to Kinesis.
    The heartbeat (DMS's HeartbeatEnable writes to a heartbeat table for the same reason) keeps
    the slot advancing, so it does not hold WAL, while the captured tables are idle.
    """
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT pg_logical_emit_message(true, %s, '')::text", (prefix,)
        ).fetchone()
    assert row is not None  # nosec B101  # narrows a type for mypy; it checks no input
    return pgoutput.parse_lsn(row[0])


@dataclass
class CaptureConfig:
    source_dsn: str
    contracts: list[TableContract]
    dms: DmsConfig
    state_dir: Path
    slot: str = "totesys_cdc"
    stream: str = ""
    heartbeat_seconds: float = 60.0
    # DMS does not capture TRUNCATE from PostgreSQL ("AWS DMS doesn't support change
    # processing of TRUNCATE operations", PostgreSQL source limitations); neither does this
    # capture unless asked (CDC_CAPTURE_TRUNCATE=1: a `truncate-table` control record, which
    # only the local capture can send).
    emit_truncate: bool = field(
        default_factory=lambda: os.environ.get("CDC_CAPTURE_TRUNCATE", "") in ("1", "true")
    )

    @property
    def publication(self) -> str:
        return f"{self.slot}_pub"

    @property
    def insert_publication(self) -> str:
        return f"{self.slot}_pub_inserts"

    @property
    def publications(self) -> str:
        names = [self.publication]
        if any(c.append_only and self.dms.selected(c.schema, c.name) for c in self.contracts):
            names.append(self.insert_publication)
        return ",".join(names)

    @property
    def task_id(self) -> str:
        return f"local-{self.slot}"

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"capture-{self.slot}.json"


@dataclass
class CaptureStats:
    loaded: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    acked_lsn: int = 0
    full_load_done: bool = False
    # The long piece of work under way, if any (a table's full load, a transaction of more
    # than CHECK_EVERY changes): rows/s and ETA for the logs and the live view.
    progress: Progress | None = None


class Capture:
    def __init__(self, cfg: CaptureConfig, sink: Sink) -> None:
        self.cfg = cfg
        self.sink = sink
        self.stats = CaptureStats()
        # Set once the slot exists: every transaction committed after it will be streamed.
        self.slot_ready = threading.Event()
        self.builder = MessageBuilder(cfg.dms, cfg.task_id)
        self.tables = [c for c in cfg.contracts if cfg.dms.selected(c.schema, c.name)]
        if not self.tables:
            raise TerminalError(
                "no contract table is selected by infra/dms/table-mappings.json: regenerate it "
                "with `cdc dms mappings --write`"
            )
        self.by_name = {(c.schema, c.name): c for c in self.tables}

    # ------------------------------------------------------------------ setup

    def _sql(self) -> psycopg.Connection[tuple[Any, ...]]:
        return connect(self.cfg.source_dsn, autocommit=True, options=libpq_options(CAPTURE_GUCS))

    def _replication(self) -> Any:
        try:
            return psycopg2.connect(
                self.cfg.source_dsn,
                connection_factory=psycopg2.extras.LogicalReplicationConnection,
                options=libpq_options(CAPTURE_GUCS),
                connect_timeout=5,
            )
        except psycopg2.OperationalError as e:
            raise CdcError(
                f"cannot open a replication connection to the source ({first_line(e)}): "
                "the user needs the REPLICATION attribute and pg_hba.conf a replication entry"
            ) from None

    def prepare(self) -> dict[str, list[str]]:
        """Check the source against the contracts; create or refresh the publication.
        Returns each table's column layout (attnum order), as pgoutput will send it."""
        layouts: dict[str, list[str]] = {}
        with self._sql() as conn:
            wal_level = conn.execute("SHOW wal_level").fetchone()
            if wal_level is None or wal_level[0] != "logical":
                raise TerminalError(
                    f"the source has wal_level={wal_level[0] if wal_level else '?'}: set "
                    "wal_level=logical and restart it (RDS: rds.logical_replication=1)"
                )
            for c in self.tables:
                rows = conn.execute(
                    # Generated columns are not sent by pgoutput (PostgreSQL "Logical
                    # Replication Restrictions"): the full load leaves them out as well.
                    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) "
                    "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
                    "ORDER BY a.attnum",
                    (f"{quote_ident(c.schema)}.{quote_ident(c.name)}",),
                ).fetchall()
                if not rows:
                    raise TerminalError(
                        f"table {c.qualified} (contract {c.file_name}) does not "
                        "exist in the source: create it (`cdc demo load` creates the demo "
                        "tables) or remove its contract"
                    )
                cols = [r[0] for r in rows]
                missing = [col.name for col in c.columns if col.name not in cols]
                if missing:
                    raise TerminalError(
                        f"table {c.qualified} lacks contract column(s) {', '.join(missing)}: "
                        "fix the contract or re-import it with `cdc contracts import`"
                    )
                layouts[c.qualified] = cols
            for c in self.tables:
                if c.full_row_identity:
                    row = conn.execute(
                        "SELECT relreplident FROM pg_class WHERE oid = to_regclass(%s)",
                        (f"{quote_ident(c.schema)}.{quote_ident(c.name)}",),
                    ).fetchone()
                    if row is None or row[0] != "f":
                        raise TerminalError(
                            f"table {c.qualified} has no REPLICA IDENTITY FULL, which its "
                            f'contract ("replica_identity": "full") needs: run ALTER TABLE '
                            f"{c.qualified} REPLICA IDENTITY FULL, or re-import the contract"
                        )
            # An append-only table (no key, no REPLICA IDENTITY FULL) is published for inserts
            # (and TRUNCATE) only: a publication that publishes its updates would make the
            # source refuse them ("cannot update table ... because it does not have a replica
            # identity and publishes updates"). DMS with pglogical puts such tables in an
            # insert-only replication set, and ignores their updates and deletes.
            keyed = [c for c in self.tables if not c.append_only]
            inserts = [c for c in self.tables if c.append_only]
            # A partitioned table replicates as one table: its partitions' changes are
            # published under the root's name and columns (CREATE PUBLICATION,
            # publish_via_partition_root), as its contract names it.
            self._publish(conn, self.cfg.publication, keyed, {})
            if inserts or self._exists(conn, self.cfg.insert_publication):
                self._publish(
                    conn, self.cfg.insert_publication, inserts, {"publish": "insert, truncate"}
                )
        return layouts

    @staticmethod
    def _exists(conn: Any, publication: str) -> bool:
        row = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,))
        return row.fetchone() is not None

    def _publish(
        self, conn: Any, name: str, tables: list[TableContract], options: dict[str, str]
    ) -> None:
        """Create the publication, or make its tables exactly `tables` (possibly none)."""
        pub = quote_ident(name)
        listed = ", ".join(f"{quote_ident(c.schema)}.{quote_ident(c.name)}" for c in tables)
        settings = ", ".join(
            f"{k} = {quote_literal(v)}"
            for k, v in {**options, "publish_via_partition_root": "true"}.items()
        )
        if not self._exists(conn, name):
            scope = f" FOR TABLE {listed}" if listed else ""
            conn.execute(f"CREATE PUBLICATION {pub}{scope} WITH ({settings})".encode())
            return
        conn.execute(f"ALTER PUBLICATION {pub} SET ({settings})".encode())
        if listed:
            conn.execute(f"ALTER PUBLICATION {pub} SET TABLE {listed}".encode())
        else:
            for schema, table in conn.execute(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                (name,),
            ).fetchall():
                gone = f"{quote_ident(schema)}.{quote_ident(table)}"
                conn.execute(f"ALTER PUBLICATION {pub} DROP TABLE {gone}".encode())

    def _state(self) -> dict[str, Any]:
        try:
            value: dict[str, Any] = orjson.loads(self.cfg.state_file.read_bytes())
            return value
        except FileNotFoundError:
            return {}

    def _save_state(self, **values: Any) -> None:
        self.cfg.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cfg.state_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({**self._state(), **values}))
        tmp.replace(self.cfg.state_file)

    def _slot_exists(self, conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
        row = conn.execute(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (self.cfg.slot,)
        ).fetchone()
        if row is None:
            return False
        if row[0] is not None:
            raise CdcError(
                f"replication slot {self.cfg.slot} is in use by process {row[0]}: another "
                "capture is running against this source; stop it first"
            )
        return True

    def _confirmed_lsn(self) -> int:
        """The slot's confirmed_flush_lsn. Every transaction that committed before it is in
        Kinesis already (inside the slot's snapshot, put by the full load and flushed, or
        acknowledged by an earlier run after its flush) and is never streamed again, so it
        counts as acknowledged. Without it a drain marker written before the slot existed (a
        drain asked for while the full load ran) waited for the next heartbeat's commit: 60 s."""
        with self._sql() as conn:
            row = conn.execute(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                (self.cfg.slot,),
            ).fetchone()
        return pgoutput.parse_lsn(row[0]) if row is not None and row[0] is not None else 0

    # ------------------------------------------------------------------ full load

    def full_load(self, layouts: dict[str, list[str]]) -> None:
        """Create the slot, exporting its snapshot, and load every table inside it.

        A full load that was interrupted (the slot exists, the load never finished) is redone
        from a fresh snapshot while the slot is kept: the slot still streams every change since
        the first attempt's consistent point, and `load` rows rank below every change, so the
        warehouse converges (load rows of the first attempt for since-deleted rows are removed
        by the streamed deletes)."""
        with self._sql() as conn:
            resume = self._slot_exists(conn)
        self._save_state(full_load_complete=False)
        repl = None
        snapshot = None
        try:
            if not resume:
                repl = self._replication()
                cur = repl.cursor()
                cur.execute(
                    f"CREATE_REPLICATION_SLOT {quote_ident(self.cfg.slot)} LOGICAL pgoutput "
                    "EXPORT_SNAPSHOT"
                )
                _, _, snapshot, _ = cur.fetchone()
            self.slot_ready.set()
            with self._sql() as conn:
                conn.autocommit = False
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                if snapshot is not None:
                    conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'".encode())
                for c in self.tables:
                    self._load_table(conn, c, layouts[c.qualified])
                conn.rollback()
        finally:
            if repl is not None:
                repl.close()
        self.sink.flush()
        self._save_state(full_load_complete=True)
        self.stats.full_load_done = True

    def _load_table(
        self, conn: psycopg.Connection[tuple[Any, ...]], c: TableContract, columns: list[str]
    ) -> None:
        renderer = TableRenderer(self.cfg.dms, c, columns)
        self.builder.timestamp = now_iso()
        if self.cfg.dms.include_control_details:
            self.sink.add(self.builder.control(renderer, "create-table"))
        cols = ", ".join(quote_ident(n) for n in columns)
        table = f"{quote_ident(c.schema)}.{quote_ident(c.name)}"
        sql = f"COPY (SELECT {cols} FROM {table}) TO STDOUT"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        estimate = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", (table,)
        ).fetchone()
        progress = Progress(
            f"full load of {c.qualified}", "rows",
            expected=int(estimate[0]) if estimate and estimate[0] > 0 else None,
        )  # fmt: skip
        self.stats.progress = progress
        rest = b""
        with conn.cursor() as cur, cur.copy(sql.encode()) as copy:
            for chunk in copy:
                lines = (rest + bytes(chunk)).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    values = [copy_field(f) for f in line.split(b"\t")]
                    self.sink.add(self.builder.load(renderer, values))
                    self.stats.loaded[c.qualified] += 1
                    progress.done += 1
                    if progress.done % CHECK_EVERY == 0:
                        progress.tick()
        if rest:
            raise TerminalError(f"COPY of {c.qualified} ended mid-row: retry the capture")
        self.stats.progress = None
        if progress.done >= CHECK_EVERY:
            log.info("%s, done", progress.describe())

    # ------------------------------------------------------------------ CDC

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        until_lsn: int | None = None,
    ) -> None:
        """Full load if needed, then stream changes until `stop` is set (or, with `until_lsn`,
        until everything up to that WAL position has been put and acknowledged)."""
        stop = stop or threading.Event()
        layouts = self.prepare()
        with self._sql() as conn:
            slot_ok = self._slot_exists(conn)
        if slot_ok and self._state().get("full_load_complete"):
            self.slot_ready.set()
        else:
            self.full_load(layouts)
        self.stats.full_load_done = True
        self.stream(stop, until_lsn=until_lsn)

    def stream(self, stop: threading.Event, *, until_lsn: int | None = None) -> None:
        self.stats.acked_lsn = max(self.stats.acked_lsn, self._confirmed_lsn())
        repl = self._replication()
        cur = repl.cursor()
        try:
            cur.start_replication(
                slot_name=self.cfg.slot,
                decode=False,
                options={
                    "proto_version": "1",
                    "publication_names": self.cfg.publications,
                    # Logical messages carry the heartbeat and drain markers (PostgreSQL 14+).
                    "messages": "true",
                },
                status_interval=5,
            )
        except psycopg2.errors.ObjectInUse:
            raise CdcError(
                f"replication slot {self.cfg.slot} is in use: another capture is running "
                "against this source; stop it first"
            ) from None
        try:
            self._loop(repl, cur, stop, until_lsn)
        finally:
            with contextlib.suppress(Exception):
                repl.close()

    def _loop(self, repl: Any, cur: Any, stop: threading.Event, until_lsn: int | None) -> None:
        renderers: dict[int, TableRenderer] = {}
        # stream-position, as DMS writes it: <LSN>.<n>.<LSN>. Ours: the transaction's first
        # change LSN, the change's place among the transaction's decoded messages (BEGIN is 1,
        # RELATION messages count: 3 for the first insert after a start, 2 for a lone update,
        # as in published DMS output), and the change's own LSN. Consumers use only the LSNs
        # (events/decode.py), never the middle number.
        xid = record_id = messages = first_lsn = final_lsn = 0
        began = 0.0
        commit_ts = ""
        last_commit_end = 0
        unacked = 0
        last_ack = time.monotonic()
        b = self.builder

        def ack(lsn: int) -> None:
            nonlocal unacked, last_ack
            self.sink.flush()
            if lsn > self.stats.acked_lsn:
                cur.send_feedback(flush_lsn=lsn, reply=True)
                self.stats.acked_lsn = lsn
            unacked = 0
            last_ack = time.monotonic()

        last_heartbeat = time.monotonic()
        while not stop.is_set():
            msg = cur.read_message()
            if msg is None:
                if last_commit_end:
                    ack(last_commit_end)
                if until_lsn is not None and self.stats.acked_lsn >= until_lsn:
                    return
                if (
                    self.cfg.dms.heartbeat
                    and time.monotonic() - last_heartbeat >= self.cfg.heartbeat_seconds
                ):
                    # Never acknowledge the server's wal_end instead: it can be ahead of a
                    # commit not yet decoded, which a restart would then skip.
                    emit_marker(self.cfg.source_dsn, HEARTBEAT_PREFIX)
                    last_heartbeat = time.monotonic()
                select.select([repl], [], [], 0.2)
                continue
            m = pgoutput.decode(msg.payload)
            messages += 1
            if isinstance(m, pgoutput.Insert | pgoutput.Update | pgoutput.Delete):
                r = renderers[m.oid]
                record_id += 1
                first_lsn = first_lsn or msg.data_start
                if isinstance(m, pgoutput.Insert):
                    op, values, old = "insert", m.new, None
                elif isinstance(m, pgoutput.Update):
                    op, values, old = "update", m.new, m.old
                else:
                    op, values, old = "delete", m.old, None
                self.sink.add(
                    b.change(
                        r,
                        op,
                        values,
                        old,
                        xid=xid,
                        record_id=record_id,
                        position=(first_lsn, messages, msg.data_start),
                        commit_ts=commit_ts,
                    )
                )
                self.stats.changes[r.qualified] += 1
                unacked += 1
                if record_id % CHECK_EVERY == 0:
                    self._transaction_progress(xid, record_id, began, first_lsn, final_lsn, msg)
            elif isinstance(m, pgoutput.Begin):
                xid, record_id, messages, first_lsn = m.xid, 0, 1, 0
                final_lsn, began = m.final_lsn, time.monotonic()
                commit_ts = iso_utc(m.commit_ts_us)
                b.timestamp = now_iso()
            elif isinstance(m, pgoutput.Commit):
                if self.stats.progress is not None:
                    log.info("%s, committed", self.stats.progress.describe())
                    self.stats.progress = None
                last_commit_end = m.end_lsn
                self.stats.transactions += 1
                # Flush at most every ACK_EVERY_SECONDS, and no more often than twice the last
                # put took: when puts slow down (a throttled stream, or moto, whose PutRecords
                # cost grows with the stream), fewer and fuller calls keep the capture ahead.
                every = max(ACK_EVERY_SECONDS, 2 * self.sink.last_put_seconds)
                if unacked >= ACK_EVERY_MESSAGES or time.monotonic() - last_ack >= every:
                    ack(last_commit_end)
            elif isinstance(m, pgoutput.Relation):
                self._relation(renderers, m)
            elif isinstance(m, pgoutput.Truncate):
                for oid in m.oids:
                    if self.cfg.emit_truncate:
                        self.sink.add(b.control(renderers[oid], "truncate-table"))
                    elif not any(truncate_log.is_log(c) for c in self.tables):
                        log.warning(
                            "TRUNCATE of %s is not captured, as AWS DMS does not capture it: "
                            'install the truncate triggers (README, "TRUNCATE") or set '
                            "CDC_CAPTURE_TRUNCATE=1 locally",
                            renderers[oid].contract.qualified,
                        )
        if last_commit_end:
            ack(last_commit_end)

    def _transaction_progress(
        self, xid: int, changes: int, began: float, first_lsn: int, final_lsn: int, msg: Any
    ) -> None:
        """A transaction of more than CHECK_EVERY changes: its progress through its WAL."""
        progress = self.stats.progress
        if progress is None:
            progress = self.stats.progress = Progress(
                f"transaction {xid}", "changes", start_position=first_lsn,
                end_position=final_lsn, started=began,
            )  # fmt: skip
        progress.done, progress.position = changes, msg.data_start
        progress.tick()

    def _relation(self, renderers: dict[int, TableRenderer], m: pgoutput.Relation) -> None:
        contract = self.by_name.get((m.schema, m.name))
        if contract is None:  # not ours (a publication edited by hand): nothing will use it
            return
        columns = [c.name for c in m.columns]
        previous = renderers.get(m.oid)
        r = TableRenderer(self.cfg.dms, contract, columns)
        renderers[m.oid] = r
        if previous is None or previous.columns == r.columns:
            return
        if not self.cfg.dms.include_table_alter_operations:
            return
        added = [c for c in r.columns if c not in previous.columns]
        dropped = [c for c in previous.columns if c not in r.columns]
        for op, names in (("add-column", added), ("drop-column", dropped)):
            if names:
                self.sink.add(self.builder.control(r, op, {"columns": names}))
                log.warning("%s: %s %s at the source", contract.qualified, op, ", ".join(names))
