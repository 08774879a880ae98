"""`cdc run` applies `"new_columns": "auto"` by itself (issue 18, local/autoevolve.py): a
nullable column added at the source during a running workload, with values written into it
before and after the run notices, reaches the warehouse with no other command: the contract
file gets the column (pending, withheld from analysts), the warehouse table and grants follow,
the consumers restart on the new contract, and the dead letters written before are redriven.

The periodic drift check is set longer than the test, so what brings the change in is the
first dead letter (DriftCheck brought forward): dead letters exist before the evolution, so the
redrive is exercised every time, and rows written after it must be decoded by restarted
consumers (without the reload they would be dead letters no one redrives)."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import threading
import time
import uuid
from typing import Any

import orjson
import psycopg
import pytest

from consumers import deadletters
from consumers.contracts.model import load_contracts
from consumers.local.run import _run
from consumers.warehouse.verify import verify
from tests.integration.imported import import_with_new_columns_auto, private_stack, sql
from tests.integration.test_load import _database, _drop

pytestmark = pytest.mark.integration


class Writer:
    """Row changes at the source: some before the column exists, then ALTER TABLE ADD COLUMN,
    then changes with values in it until the run has redriven and some seconds after; then it
    stops the run (SIGINT, as Ctrl-C would)."""

    def __init__(self, source: str, warehouse: str, contract: Any, dead_bucket: str, s3: Any):
        self.source, self.warehouse, self.contract = source, warehouse, contract
        self.dead_bucket, self.s3 = dead_bucket, s3
        self.errors: list[BaseException] = []
        self.after_redrive = 0  # changes with a note written after the redrive
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _wait(self, what: str, done: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {timeout:.0f} s")
            time.sleep(0.2)

    def _loaded(self) -> bool:
        try:
            with psycopg.connect(self.warehouse) as conn:
                row = conn.execute("SELECT count(*) FROM evo.items").fetchone()
                return bool(row and row[0] >= 40)
        except psycopg.errors.UndefinedTable:
            return False

    def _redriven(self) -> bool:
        return deadletters.counts(self.s3, self.dead_bucket)["redriven"] > 0

    def _run(self) -> None:
        try:
            self._wait("the full load in the warehouse", self._loaded, 60)
            with psycopg.connect(self.source, autocommit=True) as conn:
                for i in range(20):
                    conn.execute("UPDATE evo.items SET qty = qty + 1 WHERE item_id = %s", (i + 1,))
                conn.execute("ALTER TABLE evo.items ADD COLUMN note text")
                n = 1000

                def changes(count: int) -> None:
                    nonlocal n
                    for _ in range(count):
                        n += 1
                        conn.execute(
                            "INSERT INTO evo.items (item_id, name, qty, note) "
                            "VALUES (%s, %s, 1, %s)",
                            (n, f"new {n}", f"note {n}"),
                        )
                        conn.execute(
                            "UPDATE evo.items SET note = %s WHERE item_id = %s",
                            (f"noted {n}", n % 40 + 1),
                        )
                        time.sleep(0.02)

                # Until the run has evolved and redriven, then as many again.
                deadline = time.monotonic() + 45
                while not self._redriven():
                    changes(10)
                    if time.monotonic() > deadline:
                        raise AssertionError("no redrive within 45 s")
                changes(60)
                self.after_redrive = 120
        except BaseException as e:
            self.errors.append(e)
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # the run's handler: stop, drain, verify


def test_cdc_run_evolves_a_new_nullable_column_and_redrives_by_itself(
    local_stack, stack_settings, tmp_path, capsys
):
    src, wh = _database(local_stack, "src"), _database(local_stack, "wh")
    source, warehouse = local_stack.dsn(src), local_stack.dsn(wh)
    s3 = local_stack.client("s3")
    tag = uuid.uuid4().hex[:8]
    stream, batches, dead = f"evo-{tag}", f"batches-{tag}", f"dead-{tag}"
    try:
        sql(
            source,
            "CREATE SCHEMA evo",
            "CREATE TABLE evo.items (item_id bigint PRIMARY KEY, name text NOT NULL, qty integer)",
            "INSERT INTO evo.items SELECT g, 'item ' || g, g FROM generate_series(1, 40) g",
        )
        out = tmp_path / "contracts"
        path, contracts = import_with_new_columns_auto(source, "evo", "items", out)
        # CDC_DRIFT_CHECK_SECONDS longer than the test: the first dead letter brings the check.
        settings = private_stack(
            local_stack,
            stack_settings,
            tmp_path,
            contracts,
            stream,
            batches,
            dead,
            drift_check_seconds=300,
        )
        state = dataclasses.replace(local_stack, stream_name=stream)
        writer = Writer(source, warehouse, contracts[0], dead, s3)
        writer.thread.start()
        code = _run(
            settings, state, source, 120, None, "local", warehouse_dsn=warehouse,
            application=f"app-{tag}", slot=f"slot_{src}",
        )  # fmt: skip
        writer.thread.join(30)
        printed = capsys.readouterr()
        assert not writer.errors, (writer.errors, printed.out[-3000:], printed.err[-3000:])
        assert code == 0, (printed.out[-3000:], printed.err[-3000:])
        assert writer.after_redrive > 0

        # The contract file has the column, pending; one line said so and how to classify it.
        field = next(f for f in orjson.loads(path.read_bytes())["fields"] if f["name"] == "note")
        assert field["classification"] == "pending"
        assert f"evo.items.note added at the source: written into {path}" in printed.out
        assert 'set "pii": true or false there' in printed.out

        # The warehouse has the values, and verify passes; analysts cannot read the column.
        evolved = load_contracts(out)
        assert all(d.ok for d in verify(source, warehouse, evolved))
        with psycopg.connect(warehouse) as conn:
            noted = conn.execute("SELECT count(note) FROM evo.items").fetchone()
            assert noted is not None and noted[0] >= 40
            readable = conn.execute(
                "SELECT has_column_privilege('cdc_analyst', 'evo.items', 'note', 'SELECT'), "
                "has_column_privilege('cdc_analyst', 'evo.items', 'qty', 'SELECT')"
            ).fetchone()
            assert readable == (False, True)

        # Exact accounting: every record consumed was batched or dead-lettered, and every dead
        # letter was redriven (and moved: none pending).
        m = re.search(
            r"(\d+) consumed \((\d+) batched \+ (\d+) dead-lettered\).*dead letters \d+ "
            r"\(redriven (\d+), pending (\d+)\)",
            printed.out,
        )
        assert m, printed.out[-3000:]
        consumed, batched, dead_lettered, redriven, pending = map(int, m.groups())
        assert consumed == batched + dead_lettered
        assert dead_lettered == redriven > 0 and pending == 0
        assert deadletters.counts(s3, dead) == {"pending": 0, "redriven": redriven}
        assert re.search(rf"schema: {redriven} dead letters of evo.items redriven", printed.out)
    finally:
        _drop(local_stack, src)
        _drop(local_stack, wh)
