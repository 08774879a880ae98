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
from consumers.errors import ContractError
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


def scenarios(contracts):
    by = {c.name: c for c in [*contracts, keyless(contracts)]}

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
            lambda d: d.bootstrap([*contracts, keyless(contracts)])
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


def test_names_that_would_break_sql_are_rejected(contracts):
    bad = 'a"; DROP TABLE x; --'
    doc = {
        "type": "record",
        "name": "x",
        "namespace": "public",
        "primary_key": ["id"],
        "fields": [
            {"name": "id", "type": "int", "sql_type": "integer"},
            {"name": bad, "type": "int", "sql_type": "integer"},
        ],
    }
    with pytest.raises(ContractError, match="not a plain lower-case SQL identifier"):
        parse_contract(doc, Path("schemas/public.x.avsc"))


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
