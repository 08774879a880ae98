"""Golden SQL: one scenario per file, a title line first, compared exactly, for both dialects;
every Redshift statement also parses with sqlglot's redshift dialect.

Regenerate after an intended change with CDC_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from consumers.contracts.model import parse_contract
from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect
from consumers.warehouse.plan import build_load
from consumers.warehouse.truncate import TruncationLog
from tests import golden_files

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "sql"
DIALECTS = {"postgres": PostgresDialect(), "redshift": RedshiftDialect()}
MANIFEST = "s3://totesys-cdc-batches/copy-manifests/public.address/run-1.json"
ROLE = "arn:aws:iam::123456789012:role/totes-cdc-redshift-copy"


def keyless(contracts):
    """type_zoo without its primary key, under REPLICA IDENTITY FULL: every type in a row hash."""
    zoo = next(c for c in contracts if c.name == "type_zoo")
    return dataclasses.replace(
        zoo, name="type_zoo_keyless", primary_key=(), full_row_identity=True, delete_mode="hard"
    )


# 63 bytes, PostgreSQL's longest name: "Spieler Größe " is 16 bytes in UTF-8.
LONG_NAME = "Spieler Größe " + "x" * 47


def real_names():
    """A table named as real databases name them: quoted mixed case, reserved words, non-ASCII
    letters, spaces, a 63-byte name; its tombstone table's name needs shortening."""
    return parse_contract(
        {
            "type": "record",
            "name": "Player_Stats",
            "sql_name": LONG_NAME,
            "namespace": "Sport",
            "primary_key": ["playerID", "year"],
            "delete_mode": "hard",
            "fields": [
                {"name": "playerID", "type": "string", "sql_type": "varchar(9)"},
                {"name": "year", "type": "int", "sql_type": "smallint"},
                {"name": "order", "type": ["null", "string"], "default": None,
                 "sql_type": "text"},
                {"name": "gr_e", "sql_name": "größe", "type": ["null", "string"],
                 "default": None, "sql_type": "text", "pii": True},
                {"name": "year_of_birth", "sql_name": "year of birth",
                 "type": ["null", {"type": "int", "logicalType": "date"}], "default": None,
                 "sql_type": "date"},
                {"name": "x", "sql_name": 'say "hi"', "type": ["null", "string"],
                 "default": None, "sql_type": "text"},
                {"name": "price", "sql_name": "price (€)", "type": ["null", "string"],
                 "default": None, "sql_type": "text"},
            ],
        },
        Path("schemas/Sport.names.avsc"),
    )  # fmt: skip


def scenarios(contracts):
    by = {c.name: c for c in [*contracts, keyless(contracts)]}
    names = real_names()
    by[names.name] = names

    def plan(table, truncations=False):
        log = TruncationLog.of({c.qualified: c for c in contracts}) if truncations else None
        return lambda d: (
            build_load(
                d, by[table], manifest_url=MANIFEST, iam_role=ROLE, truncations=log
            ).statements
        )

    return {
        "load-hard-delete-table": (
            "Load plan, hard deletes with tombstones, TOAST-able text (address)",
            plan("address"),
        ),
        "load-soft-delete-every-type": (
            "Load plan, soft deletes, every type (type_zoo)",
            plan("type_zoo"),
        ),
        "load-with-truncate-log": (
            "Load plan with the truncate log: staged changes older than the last TRUNCATE "
            "are dropped (currency)",
            plan("currency", truncations=True),
        ),
        "load-truncate-log": (
            "The truncate log's own plan: lock every table, merge the markers, remove what each "
            "TRUNCATE removed",
            plan("truncations", truncations=True),
        ),
        "load-more-types": (
            "Load plan, the types real databases use: money, network, bit, xml, citext, "
            "hstore (type_zoo_more)",
            plan("type_zoo_more"),
        ),
        "load-ranges": ("Load plan, every range type (type_zoo_ranges)", plan("type_zoo_ranges")),
        "load-arrays": (
            "Load plan, arrays of every scalar type (type_zoo_arrays)",
            plan("type_zoo_arrays"),
        ),
        "bootstrap-more-types": (
            "Bootstrap of every type added for real databases (type_zoo_more)",
            lambda d: [
                s for s in d.bootstrap([by["type_zoo_more"]], access=False) if "type_zoo_more" in s
            ],
        ),
        "load-keyless-every-type": (
            "Load plan, no primary key: a multiset by change identity and row hash, every type",
            plan("type_zoo_keyless"),
        ),
        "load-real-names": (
            "Load plan of a table named as real databases name them: mixed case, reserved "
            "words, non-ASCII, a space, a quote, 63 bytes (folded warehouse names, source "
            "names in the change metadata)",
            plan(LONG_NAME),
        ),
        "bootstrap-real-names": (
            "Bootstrap of that table: DDL, tombstones (name shortened), grants, analyst view",
            lambda d: [s for s in d.bootstrap([names]) if "spieler" in s],
        ),
        "bootstrap-keyless": (
            "Bootstrap of a table without a primary key: identity, hash, tombstones, indexes",
            lambda d: [
                s for s in d.bootstrap([keyless(contracts)], access=False) if "keyless" in s
            ],
        ),
    }  # bootstrap's golden files are sql/bootstrap.<dialect>.sql (see the last test)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_golden_sql(dialect, contracts):
    d = DIALECTS[dialect]
    for name, (title, build) in scenarios(contracts).items():
        text = f"-- {title}\n" + "".join(f"{s};\n" for s in build(d))
        path = GOLDEN / dialect / f"{name}.sql"
        golden_files.check(path, text, f"{dialect}/{name}")


def test_every_statement_parses_in_its_dialect(contracts):
    for dialect, d in DIALECTS.items():
        builds = [b for _, b in scenarios(contracts).values()] + [
            lambda d: d.bootstrap([*contracts, keyless(contracts), real_names()])
        ]
        for build in builds:
            for statement in build(d):
                if statement.startswith("LOCK"):
                    continue  # sqlglot keeps LOCK as an opaque command in both dialects
                sqlglot.parse_one(statement, read=dialect, error_level=ErrorLevel.RAISE)


def test_redshift_merge_has_one_matched_and_one_not_matched(contracts):
    plan = build_load(RedshiftDialect(), next(c for c in contracts if c.name == "address"))
    (merge,) = [s.sql for s in plan.steps if s.name == "merge"]
    assert merge.count("WHEN MATCHED") == 1 and merge.count("WHEN NOT MATCHED") == 1
    assert "WHEN MATCHED AND" not in merge  # Redshift allows no extra condition
    names = [s.name for s in plan.steps]
    assert names.index("ledger") > names.index("merge") > names.index("guard")


def test_postgres_merges_with_conditions_in_one_statement(contracts):
    plan = build_load(PostgresDialect(), next(c for c in contracts if c.name == "address"))
    (merge,) = [s.sql for s in plan.steps if s.name == "merge"]
    assert "THEN DO NOTHING" in merge and "THEN DELETE" in merge
    assert "guard" not in [s.name for s in plan.steps]


def test_redshift_types_and_copy(contracts):
    zoo = next(c for c in contracts if c.name == "type_zoo")
    ddl = RedshiftDialect().create_table(zoo)
    assert '"c_text_array" super' in ddl and '"c_numeric" varchar(256)' in ddl
    copy = RedshiftDialect().copy_stage(zoo, MANIFEST, ROLE)
    assert "FORMAT AS PARQUET" in copy and "MANIFEST" in copy and ROLE in copy


def test_types_for_real_databases_in_both_warehouses(contracts):
    """PostgreSQL keeps the source's own type (so `cdc verify` compares values); Redshift gets
    SUPER for arrays and hstore, sized VARCHAR for the text forms, DECIMAL for money."""
    by = {c.name: c for c in contracts}
    extra = by["type_zoo_arrays"].columns[1:] + by["type_zoo_ranges"].columns[1:]
    more = dataclasses.replace(by["type_zoo_more"], columns=by["type_zoo_more"].columns + extra)
    pg, rs = PostgresDialect(), RedshiftDialect()
    expect = {
        "c_bigint_array": ("bigint[]", "super"),
        "c_timestamptz_array": ("timestamptz[]", "super"),
        "c_interval_hm": ("interval hour to minute", "varchar(64)"),
        "c_timestamp3": ("timestamp(3)", "timestamp"),
        "c_timetz": ("timetz", "varchar(32)"),
        "c_money": ("money", "decimal(19,2)"),
        "c_cidr": ("cidr", "varchar(50)"),
        "c_macaddr8": ("macaddr8", "varchar(23)"),
        "c_bit": ("bit(4)", "varchar(4)"),
        "c_varbit": ("varbit(12)", "varchar(12)"),
        "c_xml": ("xml", "varchar(65535)"),
        "c_citext": ("text", "varchar(65535)"),
        "c_hstore": ("jsonb", "super"),
        "c_tstzrange": ("tstzrange", "varchar(255)"),
    }
    got = {n: (pg.column_type(more.column(n)), rs.column_type(more.column(n))) for n in expect}
    assert got == expect


def test_names_that_would_break_sql_are_quoted():
    """A column named like an injection is a name like any other: one statement, quoted."""
    bad = 'a"; DROP TABLE x; --'
    c = parse_contract(
        {
            "type": "record",
            "name": "x",
            "namespace": "public",
            "primary_key": ["id"],
            "fields": [
                {"name": "id", "type": "int", "sql_type": "integer"},
                {"name": "a", "sql_name": bad, "type": "int", "sql_type": "integer"},
            ],
        },
        Path("schemas/public.x.avsc"),
    )
    for dialect, d in DIALECTS.items():
        (statement,) = sqlglot.parse(d.create_table(c), read=dialect)
        assert statement is not None and '"a""; drop table x; --"' in d.create_table(c)


def test_warehouse_names_fold_ascii_letters_only():
    """Redshift folds ASCII letters (Names and identifiers); the warehouse uses those names."""
    c = real_names()
    assert c.warehouse_schema == "sport"
    assert [col.warehouse_name for col in c.columns] == [
        "playerid", "year", "order", "größe", "year of birth", 'say "hi"', "price (€)"
    ]  # fmt: skip
    assert c.warehouse_key == ("playerid", "year")
    for d in DIALECTS.values():
        ddl = d.create_table(c)
        assert '"playerid"' in ddl and '"playerID"' not in ddl
        assert d.tombstones(c).encode().__len__() <= len('"cdc".""') + 63


def test_change_metadata_keeps_source_names_identifiers_use_warehouse_names():
    """`_cdc_unchanged` lists the names DMS gives (the source's); identifiers are folded."""
    plan = build_load(RedshiftDialect(), real_names())
    sql = {s.name: s.sql for s in plan.steps}
    assert "',order,'" in sql["toast-stage-order"] and "',größe,'" in sql["toast-stage-größe"]
    assert 'SET "order" = f."order"' in sql["toast-stage-order"]
    assert 'PARTITION BY s."playerid", s."year"' in sql["toast-stage-order"]


def test_provenance_patterns_match_a_column_name_literally():
    """A name's regex metacharacters are escaped; Redshift's literals take one more backslash."""
    pg = PostgresDialect().provenance("u", "price (€)")
    rs = RedshiftDialect().provenance("u", "price (€)")
    assert r"',price \(€\):(-?[0-9]+),'" in pg
    assert r"',price \\(€\\):(-?[0-9]+),'" in rs


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_bootstrap_files_in_sql_are_generated_from_the_contracts(dialect, contracts):
    """sql/bootstrap.<dialect>.sql + sql/analytics/star_schema.<dialect>.sql = the bootstrap."""
    from consumers.warehouse.analytics import star_schema

    sql = Path(__file__).resolve().parents[3] / "sql"
    d = DIALECTS[dialect]
    star = star_schema(d, contracts)
    everything = d.bootstrap(contracts)
    assert everything[-len(star) :] == star
    for path, statements in (
        (sql / f"bootstrap.{dialect}.sql", everything[: -len(star)]),
        (sql / "analytics" / f"star_schema.{dialect}.sql", star),
    ):
        body = [line for line in path.read_text().splitlines() if not line.startswith("--")]
        expected = "".join(f"{x};\n" for x in statements).splitlines()
        assert body == expected, f"regenerate {path} with `make sql`"
