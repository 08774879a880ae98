"""A load plan's steps by name, in order (the golden SQL files hold their statements). The names
are behaviour: the local loader streams the batches into the step named `stage-copy`, counts
unmatched removals at `cleanup-pairs`, reads commit times at `cleanup-latest`, reports each
step's time by name, and the plan's docstring explains failures step by step."""

from __future__ import annotations

import dataclasses

import pytest

from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect
from consumers.warehouse.plan import COPY_STEP, build_load
from consumers.warehouse.truncate import TruncationLog
from tests.unit.warehouse.test_golden_sql import keyless, real_names

STAGING = ["lock", "stage-drop", "stage-create", "stage-copy", "skip", "latest-drop", "latest"]
CLEANUP = ["ledger", "cleanup-stage", "cleanup-latest"]
HARD = ["delete", "tombstones-clear", "tombstones", "merge"]
KEYLESS = [
    *STAGING, "guard-stored", "guard-removed", "guard-removals", "pairs-drop", "pairs",
    "remove", "remove-staged", "tombstones", "insert", *CLEANUP, "cleanup-pairs",
]  # fmt: skip


def toast(*columns: str) -> list[str]:
    return [*(f"toast-stage-{c}" for c in columns), "toast", "toast-unknown"]


def late(*columns: str) -> list[str]:
    return [f"late-fill-{c}" for c in columns]


ADDRESS = ("address_line_1", "address_line_2", "district", "city", "postal_code", "country",
           "phone")  # fmt: skip
ZOO = ("c_numeric", "c_varchar", "c_text", "c_char", "c_json", "c_jsonb", "c_bytea",
       "c_text_array", "c_int_array")  # fmt: skip
NAMES = ("playerid", "order", "größe", 'say "hi"', "price (€)")


def expected(scenario: str, redshift: bool, contracts) -> list[str]:
    guard = ["guard"] if redshift else []  # PostgreSQL guards inside its MERGE
    tables = sorted(c.qualified for c in contracts if c.name != "truncations")
    return {
        "address": [*STAGING, *guard, "guard-tombstones", *toast(*ADDRESS), *HARD,
                    *late(*ADDRESS), *CLEANUP],
        "type_zoo": [*STAGING, *guard, *toast(*ZOO), "merge", *late(*ZOO), *CLEANUP],
        "currency-after-truncate": [*STAGING, "truncated", *guard, "guard-tombstones",
                                    *toast("currency_code"), *HARD, *late("currency_code"),
                                    *CLEANUP],
        "truncate-log": ["lock-truncated-tables", *STAGING, *guard, "guard-tombstones",
                         *toast("schema_name", "table_name"), *HARD,
                         *late("schema_name", "table_name"),
                         *(f"truncate-{t}" for t in tables), *CLEANUP],
        "keyless": KEYLESS,
        "keyless-after-truncate": [*STAGING, "truncated", *KEYLESS[len(STAGING):]],
        "real-names": [*STAGING, *guard, "guard-tombstones", *toast(*NAMES), *HARD,
                       *late(*NAMES), *CLEANUP],
    }[scenario]  # fmt: skip


def plans(contracts):
    by = {c.name: c for c in contracts}
    zoo = keyless(contracts)
    log = TruncationLog.of({c.qualified: c for c in contracts})
    with_zoo = TruncationLog.of({c.qualified: c for c in [*contracts, zoo]})
    return {
        "address": (by["address"], None),
        "type_zoo": (by["type_zoo"], None),
        "currency-after-truncate": (by["currency"], log),
        "truncate-log": (by["truncations"], log),
        "keyless": (zoo, None),
        "keyless-after-truncate": (zoo, with_zoo),
        "real-names": (real_names(), None),
    }


@pytest.mark.parametrize("dialect", [PostgresDialect(), RedshiftDialect()], ids=lambda d: d.name)
@pytest.mark.parametrize(
    "scenario",
    ["address", "type_zoo", "currency-after-truncate", "truncate-log", "keyless",
     "keyless-after-truncate", "real-names"],
)  # fmt: skip
def test_the_steps_of_each_plan_in_order(contracts, dialect, scenario):
    contract, log = plans(contracts)[scenario]
    plan = build_load(dialect, contract, truncations=log)
    assert [s.name for s in plan.steps] == expected(scenario, dialect.name == "redshift", contracts)
    assert (plan.table, plan.dialect) == (contract.qualified, dialect.name)
    assert plan.statements == [s.sql for s in plan.steps]


def test_the_truncated_step_of_a_keyless_table_names_it(contracts):
    zoo = keyless(contracts)
    log = TruncationLog.of({c.qualified: c for c in [*contracts, zoo]})
    plan = build_load(PostgresDialect(), zoo, truncations=log)
    (step,) = [s for s in plan.steps if s.name == "truncated"]
    assert "type_zoo_keyless" in step.sql and step.sql.startswith("DELETE FROM")


def test_the_copy_step_reads_the_manifest_given_and_nothing_else(contracts):
    address = next(c for c in contracts if c.name == "address")
    rs = RedshiftDialect()
    with_manifest = build_load(rs, address, manifest_url="s3://b/m.json", iam_role="arn:r")
    (copy,) = [s.sql for s in with_manifest.steps if s.name == COPY_STEP]
    assert "'s3://b/m.json'" in copy and "'arn:r'" in copy
    default = build_load(rs, address)
    (copy,) = [s.sql for s in default.steps if s.name == COPY_STEP]
    assert "FROM ''" in copy and "IAM_ROLE ''" in copy  # the caller must give both
    zoo = keyless(contracts)
    (copy,) = [
        s.sql for s in build_load(rs, zoo, manifest_url="s3://b/k.json").steps
        if s.name == COPY_STEP
    ]  # fmt: skip
    assert "'s3://b/k.json'" in copy
    (copy,) = [s.sql for s in build_load(rs, dataclasses.replace(zoo)).steps if s.name == COPY_STEP]
    assert "FROM ''" in copy
