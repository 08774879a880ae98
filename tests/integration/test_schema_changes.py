"""Schema changes at the source during a running workload (issue 18): a column added, two
widened (varchar length, integer → bigint), one renamed and one dropped. Each reaches its
documented outcome (README, "Schema changes"): dead letters with their reason, drift reported
by `cdc contracts diff`, the new column proposed into the contract (new_columns auto) and
withheld from analysts; after the contract update and a restart the warehouse follows it, and
`cdc deadletters redrive` re-applies every dead letter without overwriting a newer change:
`cdc verify` passes, and a second redrive changes nothing."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import orjson
import psycopg
import pytest

from consumers import deadletters
from consumers.contracts.drift import apply_auto, pending, source_drift
from consumers.contracts.model import load_contracts
from consumers.pipeline import Pipeline
from consumers.warehouse.local import LocalWarehouse
from consumers.warehouse.verify import verify
from tests.integration.imported import import_with_new_columns_auto, private_stack, sql
from tests.integration.test_load import _database, _drop

pytestmark = pytest.mark.integration

TABLE = "shop.items"


class Workload:
    """Steady row changes on columns no schema change touches (qty, inserts of item_id and
    name only), so it runs unchanged across every ALTER."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.stop = threading.Event()
        self.changes = 0
        self.errors: list[BaseException] = []
        self.next_id = 1000
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rnd = random.Random(18)
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.wait(0.02):
                    if rnd.random() < 0.3:
                        self.next_id += 1
                        conn.execute(
                            "INSERT INTO shop.items (item_id, name, qty) VALUES (%s, %s, 1)",
                            (self.next_id, f"new {self.next_id}"),
                        )
                    else:
                        conn.execute(
                            "UPDATE shop.items SET qty = qty + 1 WHERE item_id = %s",
                            (rnd.randint(1, 40),),
                        )
                    self.changes += 1
        except BaseException as e:
            self.errors.append(e)

    def __enter__(self) -> Workload:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        if self.errors:
            raise self.errors[0]


def _pipeline(settings: Any, state: Any, contracts: Any, source: str, wh: str, app: str) -> Any:
    pipeline = Pipeline(
        settings, state, contracts, source_dsn=source, warehouse_dsn=wh, application=app
    )
    pipeline.capture.cfg.slot = "slot_" + source.rsplit("/", 1)[1]
    return pipeline


def _cdc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers", *args], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def _snapshot(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT * FROM shop.items ORDER BY item_id").fetchall()
        ledger = conn.execute("SELECT batch_id, applied_at FROM cdc.load_ledger ORDER BY 1")
        return [*rows, *ledger.fetchall()]


def test_schema_changes_during_a_workload_end_verified_after_redrive(
    local_stack, stack_settings, tmp_path
):
    src, wh = _database(local_stack, "src"), _database(local_stack, "wh")
    source, warehouse = local_stack.dsn(src), local_stack.dsn(wh)
    s3 = local_stack.client("s3")
    tag = uuid.uuid4().hex[:8]
    stream, app = f"schema-{tag}", f"app-{tag}"
    batches, dead = f"batches-{tag}", f"dead-{tag}"
    pipeline = None
    try:
        sql(
            source,
            "CREATE SCHEMA shop",
            "CREATE TABLE shop.items (item_id bigint PRIMARY KEY, name varchar(20) NOT NULL, "
            "qty integer, price numeric(9,2), seen timestamp)",
            "INSERT INTO shop.items SELECT g, 'item ' || g, g, g * 1.5, "
            "timestamp '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 40) g",
        )
        out = tmp_path / "contracts"
        path, contracts = import_with_new_columns_auto(source, "shop", "items", out)
        settings = private_stack(
            local_stack, stack_settings, tmp_path, contracts, stream, batches, dead
        )
        state = dataclasses.replace(local_stack, stream_name=stream)

        # 1. The schema changes, during a running workload.
        pipeline = _pipeline(settings, state, contracts, source, warehouse, app)
        pipeline.start()
        with Workload(source):
            time.sleep(0.5)
            sql(
                source,
                "ALTER TABLE shop.items ALTER COLUMN name TYPE varchar(100)",
                "UPDATE shop.items SET name = repeat('long name ', 6) WHERE item_id IN (6, 7)",
                "ALTER TABLE shop.items ALTER COLUMN qty TYPE bigint",
                "UPDATE shop.items SET qty = 5000000000 WHERE item_id = 8",
            )
            time.sleep(0.3)
            sql(source, "ALTER TABLE shop.items DROP COLUMN price")
            time.sleep(0.3)
            sql(
                source,
                "ALTER TABLE shop.items RENAME COLUMN seen TO seen_at",
                "UPDATE shop.items SET seen_at = timestamp '2026-06-01' WHERE item_id = 9",
            )
            time.sleep(0.3)
            sql(
                source,
                "ALTER TABLE shop.items ADD COLUMN note text",
                "UPDATE shop.items SET note = 'noted ' || item_id WHERE item_id <= 5",
            )
            time.sleep(0.5)
        pipeline.drain()
        pipeline.stop()
        dead_counted = sum(v.dead_letters for v in pipeline.driver.views.values())
        records = sum(v.records for v in pipeline.driver.views.values())
        batched = sum(v.batched for v in pipeline.driver.views.values())
        assert records == batched + dead_counted  # the consumers' accounting, exact
        pipeline = None

        # 2. Each change's documented outcome, before anyone touches the contract.
        drifts, sources = source_drift(source, contracts, out)
        assert {(d.column, d.change) for d in drifts} == {
            ("note", "added"), ("name", "widened"), ("qty", "widened"),
            ("seen", "dropped"), ("seen_at", "added"), ("price", "dropped"),
        }  # fmt: skip
        assert "renamed to seen_at?" in next(d.line() for d in drifts if d.column == "seen")
        letters = deadletters.find(s3, dead, deadletters.Filters(table=TABLE))
        assert len(letters) == dead_counted > 0
        reasons = " | ".join(d.reason for d in letters)
        for expected in (
            "characters, over varchar(20)",  # widened varchar: a longer value
            "qty",  # widened integer: a value beyond integer
            "price of shop.items absent from an update record",  # dropped
            "seen_at of shop.items are not in the contract",  # renamed (the new name)
            "note, seen_at of shop.items are not in the contract",  # added
            "drop-column: contract column(s) price",  # the local capture's control records
        ):
            assert expected in reasons, (expected, reasons)
        assert deadletters.find(s3, dead, deadletters.Filters(reason="over varchar(20)"))
        env = {**os.environ, "CDC_STATE_DIR": str(stack_settings.state_dir),
               "CDC_DEAD_LETTER_BUCKET": dead, "CDC_BATCH_BUCKET": batches}  # fmt: skip
        diff = _cdc(env, "contracts", "diff", "--source-dsn", source, "--contracts", str(out),
                    "--json")  # fmt: skip
        assert diff.returncode == 1, diff.stderr  # drift: exit 1
        assert len(orjson.loads(diff.stdout)["drift"]) == len(drifts)
        listed = _cdc(env, "deadletters", "list", "--table", TABLE, "--json")
        assert listed.returncode == 0, listed.stderr
        assert [d["key"] for d in orjson.loads(listed.stdout)] == [d.key for d in letters]
        shown = _cdc(env, "deadletters", "show", f"{letters[0].shard}/{letters[0].sequence}",
                     "--json")  # fmt: skip
        assert orjson.loads(shown.stdout)["record"]["metadata"]["table-name"] == "items"

        # 3. The contract update: `diff --apply` proposes the new column (auto), withheld from
        # analysts; the user widens, renames and drops by hand.
        written = apply_auto(contracts, drifts, sources, out)
        assert sorted(c for _, c in written) == ["note", "seen_at"]
        doc = orjson.loads(path.read_bytes())
        fields = [f for f in doc["fields"] if f["name"] not in ("price", "seen_at")]
        for f in fields:
            if f["name"] == "name":
                f["sql_type"] = "varchar(100)"
            if f["name"] == "qty":
                f["type"], f["sql_type"] = ["null", "long"], "bigint"
            if f["name"] == "seen":
                f["name"], f["renamed_from"] = "seen_at", "seen"
        doc["fields"] = fields
        assert sorted(doc["added_columns"]) == ["note", "seen_at"]  # written by --apply
        doc["added_columns"], doc["dropped_columns"] = ["note"], ["price"]
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        evolved = load_contracts(out)
        assert pending(evolved) and "shop.items.note: withheld" in pending(evolved)[0]
        assert source_drift(source, evolved, out)[0] == []

        # 4. Restart with the new contract: the warehouse follows it; new changes load directly,
        # among them a newer change of a row whose older change is a dead letter.
        pipeline = _pipeline(
            dataclasses.replace(settings, contracts_dir=out), state, evolved, source, warehouse,
            app,
        )  # fmt: skip
        pipeline.start()
        sql(source, "UPDATE shop.items SET name = 'fresh', note = 'newer' WHERE item_id = 6")
        pipeline.drain()
        pipeline.stop()
        pipeline = None
        assert deadletters.counts(s3, dead)["pending"] == len(letters)  # no new dead letters
        assert any(not d.ok for d in verify(source, warehouse, evolved))  # not yet: dead letters

        # 5. Redrive: everything applies, nothing newer is overwritten, verify passes. One
        # shard's dead letters as on AWS (--stage-only: batches under a prefix, then loaded from
        # it as the load state machine would), the other's loaded by the redrive itself.
        first = [d for d in letters if d.shard == letters[0].shard]
        staged = deadletters.redrive(settings, s3, evolved, first, None)
        assert staged.loads == 0 and staged.redriven == len(first) and staged.batches
        assert staged.prefix.startswith("redrives/")
        LocalWarehouse(warehouse, evolved, s3, batches, prefix=staged.prefix).run_once()
        rest = [d for d in letters if d not in first]
        result = deadletters.redrive(settings, s3, evolved, rest, warehouse)
        assert result.still_dead == [] and staged.still_dead == []
        assert result.selected == result.redriven == len(rest) > 0
        assert deadletters.counts(s3, dead) == {"pending": 0, "redriven": len(letters)}
        diffs = verify(source, warehouse, evolved)
        assert all(d.ok for d in diffs), diffs
        with psycopg.connect(warehouse) as conn:
            row = conn.execute("SELECT name, note FROM shop.items WHERE item_id = 6").fetchone()
            assert row == ("fresh", "newer")
            withheld = conn.execute(
                "SELECT has_column_privilege('cdc_analyst', 'shop.items', 'note', 'SELECT'), "
                "has_column_privilege('cdc_analyst', 'shop.items', 'seen_at', 'SELECT')"
            ).fetchone()
            assert withheld == (False, True)

        # 6. A second redrive changes nothing: none left to select, and the same records
        # forced through again are skipped by the ledger (same batch ids).
        before = _snapshot(warehouse)
        assert deadletters.find(s3, dead, deadletters.Filters()) == []
        again = deadletters.redrive(settings, s3, evolved, letters, warehouse)
        assert again.redriven == len(letters) and again.rows_staged == 0
        assert _snapshot(warehouse) == before
        cli = _cdc(env, "deadletters", "redrive", "--contracts", str(out), "--warehouse-dsn",
                   warehouse)  # fmt: skip
        assert cli.returncode == 0 and "0 selected, 0 redriven" in cli.stdout, cli.stdout
        assert _snapshot(warehouse) == before
        status = _cdc(env, "status", "--contracts", str(out), "--source-dsn", source,
                      "--warehouse-dsn", warehouse)  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert f"(redriven: {len(letters)})" in status.stdout
        assert "shop.items.note: withheld from analysts until classified" in status.stdout
        assert "schema drift" not in status.stdout
    finally:
        if pipeline is not None:
            pipeline.stop()
        _drop(local_stack, src)
        _drop(local_stack, wh)
