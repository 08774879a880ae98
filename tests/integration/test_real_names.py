"""A source named as real databases are (issue 13 items 2, 4, 6): a mixed-case schema, quoted
mixed-case and reserved names, non-ASCII letters, spaces, 63-byte names, a partitioned table
(rows in several partitions, an update that moves a row across them), a generated column.
Contracts from the import, DMS rules derived from them, the whole local pipeline, then
`cdc verify`; the import's refusals through the CLI."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from consumers.contracts.model import load_contracts
from consumers.warehouse.verify import verify
from tests.integration.imported import imported_pipeline, sql

pytestmark = pytest.mark.integration

LONG_TABLE = "Spieler Größe " + "x" * 47  # 63 bytes, PostgreSQL's longest name
LONG_COLUMN = "Größe des Spielers in Zentimetern " + "z" * 27  # 63 bytes
assert len(LONG_TABLE.encode()) == 63 and len(LONG_COLUMN.encode()) == 63
# 6400 hex characters: too big to stay in the row, so stored out of line (TOAST) and left out
# of the WAL by an update that does not touch it.
BIG = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i)"

DDL = (
    'CREATE SCHEMA "Sport"',
    'CREATE TABLE "Sport"."Player Stats" ("playerID" varchar(9), "year" smallint, '
    f'"order" text, "größe" integer, "year of birth" date, "{LONG_COLUMN}" text, '
    '"note (en)" text, '
    '"Ratio" numeric GENERATED ALWAYS AS ("größe" / 100.0) STORED, '
    'PRIMARY KEY ("playerID", "year"))',
    'CREATE TABLE "Sport"."table" ("ID" integer PRIMARY KEY, "select" text, "Where" boolean)',
    f'CREATE TABLE "Sport"."{LONG_TABLE}" (id integer PRIMARY KEY, "Wert" text)',
    # Partitioned by region, which the key must hold: a region change moves the row.
    'CREATE TABLE "Sport".scores (id integer, region text, points integer, '
    "PRIMARY KEY (id, region)) PARTITION BY LIST (region)",
    'CREATE TABLE "Sport".scores_eu PARTITION OF "Sport".scores FOR VALUES IN (\'eu\')',
    'CREATE TABLE "Sport".scores_us PARTITION OF "Sport".scores FOR VALUES IN (\'us\')',
    'CREATE TABLE "Sport".scores_rest PARTITION OF "Sport".scores DEFAULT',
    # Refused by the import: two columns with one warehouse name.
    'CREATE TABLE "Sport"."Clash" (id integer PRIMARY KEY, "Name" text, name text)',
    # Full-load rows.
    'INSERT INTO "Sport"."Player Stats" VALUES '
    "('aaronha01', 1954, 'first', 183, '1934-02-05', 'lang', NULL), "
    f"('ruthba01', 1927, {BIG}, 188, NULL, NULL, {BIG})",
    'INSERT INTO "Sport"."table" VALUES (1, \'one\', true), (2, NULL, NULL)',
    f'INSERT INTO "Sport"."{LONG_TABLE}" VALUES (1, \'eins\')',
    "INSERT INTO \"Sport\".scores VALUES (1, 'eu', 10), (2, 'us', 20), (3, 'apac', 30)",
)


def test_real_names_partitions_and_generated_columns_replicate_and_verify(
    local_stack, stack_settings, tmp_path
):
    with imported_pipeline(local_stack, stack_settings, tmp_path, *DDL, schema="Sport") as run:
        by = {c.name: c for c in run.contracts}
        # One contract per partitioned table, none for its partitions; the clash is refused.
        assert set(by) == {"Player Stats", "table", LONG_TABLE, "scores"}
        refusal = next(n for n in run.notes if n.startswith("refused: Sport.Clash"))
        assert "columns 'Name' and 'name' have the same warehouse name 'name'" in refusal
        stats = by["Player Stats"]
        assert [c.name for c in stats.columns] == [
            "playerID", "year", "order", "größe", "year of birth", LONG_COLUMN, "note (en)"
        ]  # fmt: skip
        assert stats.generated_columns == ("Ratio",)
        assert any("generated column(s) Ratio left out" in n for n in run.notes)

        run.pipeline.start()
        run.pipeline.drain()  # the full load is in the warehouse before the changes below
        sql(
            run.source,
            'INSERT INTO "Sport"."Player Stats" VALUES '
            "('mayswi01', 1954, 'third', 180, '1931-05-06', 'x', 'y')",
            # The TOASTed "order" is left untouched by this update; "größe" (and so the
            # generated "Ratio") changes.
            'UPDATE "Sport"."Player Stats" SET "größe" = 189 WHERE "playerID" = \'ruthba01\'',
            f'UPDATE "Sport"."Player Stats" SET "{LONG_COLUMN}" = \'länger\' '
            "WHERE \"playerID\" = 'aaronha01'",
            'DELETE FROM "Sport"."Player Stats" WHERE "playerID" = \'mayswi01\'',
            'INSERT INTO "Sport"."table" VALUES (3, \'three\', false)',
            'UPDATE "Sport"."table" SET "select" = \'zwei\', "Where" = true WHERE "ID" = 2',
            'DELETE FROM "Sport"."table" WHERE "ID" = 1',
            f'INSERT INTO "Sport"."{LONG_TABLE}" VALUES (2, \'zwei\')',
            f'DELETE FROM "Sport"."{LONG_TABLE}" WHERE id = 1',
            # Rows in every partition; one moves across partitions, one changes in place.
            "INSERT INTO \"Sport\".scores VALUES (4, 'eu', 40), (5, 'nz', 50)",
            "UPDATE \"Sport\".scores SET region = 'us' WHERE id = 1",
            'UPDATE "Sport".scores SET points = 31 WHERE id = 3',
            'DELETE FROM "Sport".scores WHERE id = 2',
        )
        run.pipeline.drain()
        diffs = {d.table: d for d in verify(run.source, run.warehouse, run.contracts)}
        assert all(d.ok for d in diffs.values()), diffs
        assert diffs["Sport.scores"].warehouse_rows == 4
        assert diffs["Sport.Player Stats"].warehouse_rows == 2
        with psycopg.connect(run.warehouse) as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sport'"
                )
            }
            assert tables == {"player stats", "table", LONG_TABLE.lower(), "scores"}
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "'sport' AND table_name = 'player stats' AND column_name NOT LIKE '\\_cdc%' "
                    "ORDER BY ordinal_position"
                )
            ]
            assert columns == [
                "playerid", "year", "order", "größe", "year of birth", LONG_COLUMN.lower(),
                "note (en)",
            ]  # fmt: skip
            moved = conn.execute("SELECT region FROM sport.scores WHERE id = 1").fetchall()
            assert moved == [("us",)]  # arrived under the root's name, one row
            (ruth,) = conn.execute(
                'SELECT length("order"), "größe", length("note (en)") FROM sport."player stats" '
                "WHERE playerid = 'ruthba01'"
            ).fetchall()
            assert ruth == (6400, 189, 6400)
            # The update left both out of the WAL (unchanged TOAST): their values came from an
            # earlier change, recorded under their source names in _cdc_unknown.
            (unknown,) = conn.execute(
                'SELECT "_cdc_unknown" FROM sport."player stats" WHERE playerid = \'ruthba01\''
            ).fetchone()
            assert ",order:" in unknown and ",note (en):" in unknown, unknown


def cdc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers", *args],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip


def test_import_refuses_what_the_pipeline_would_refuse_and_writes_the_rest(
    source_dsn, cli_env, tmp_path
):
    sql(
        source_dsn,
        'CREATE TABLE "Ok" (id integer PRIMARY KEY, "Name" text)',
        'CREATE TABLE "Clash" (id integer PRIMARY KEY, "ID" integer)',
        "CREATE TABLE meta (id integer PRIMARY KEY, _cdc_version integer)",
        "CREATE TABLE clash (id integer PRIMARY KEY)",  # the warehouse name of "Clash"
        "CREATE TABLE parts (id integer, d date, PRIMARY KEY (id, d)) PARTITION BY RANGE (d)",
        "CREATE TABLE parts_2026 PARTITION OF parts FOR VALUES FROM ('2026-01-01') "
        "TO ('2027-01-01')",
    )
    out = tmp_path / "contracts"
    proc = cdc("contracts", "import", "--source-dsn", source_dsn, "--out", str(out), env=cli_env)
    assert proc.returncode == 2, proc.stderr
    assert "refused: public.Clash is not imported" in proc.stderr
    assert "columns 'id' and 'ID' have the same warehouse name 'id'" in proc.stderr
    assert "refused: public.meta is not imported" in proc.stderr and "_cdc_" in proc.stderr
    assert "Traceback" not in proc.stderr
    written = sorted(p.name for p in out.glob("*.avsc"))
    # "Clash" is refused, so lower-case clash keeps the warehouse name; parts_2026 is skipped.
    assert written == ["public.Ok.avsc", "public.clash.avsc", "public.parts.avsc"]
    assert {c.name for c in load_contracts(out)} == {"Ok", "clash", "parts"}

    proc = cdc("contracts", "import", "--source-dsn", source_dsn, "--out", str(out),
               "--tables", "parts_2026", env=cli_env)  # fmt: skip
    assert proc.returncode == 2 and "partition of public.parts" in proc.stderr
    assert "choose parts instead" in proc.stderr
