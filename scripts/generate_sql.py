"""Regenerate sql/bootstrap.<dialect>.sql and sql/analytics/star_schema.<dialect>.sql from the
contracts (`make sql`). A unit test fails when they drift."""

from __future__ import annotations

from consumers.contracts.model import load_contracts
from consumers.settings import PROJECT_DIR
from consumers.warehouse.analytics import star_schema
from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect

HEADERS = {
    "postgres": "-- The local loader runs it itself (idempotent).",
    "redshift": "-- Run once (Redshift Data API or Query Editor v2) before the first load.",
}


def main() -> None:
    contracts = load_contracts(PROJECT_DIR / "schemas")
    sql = PROJECT_DIR / "sql"
    for name, d in (("postgres", PostgresDialect()), ("redshift", RedshiftDialect())):
        star = star_schema(d, contracts)
        base = d.bootstrap(contracts)[: -len(star)]
        generated = (
            f"-- Generated from schemas/ by `make sql`; do not edit by hand.\n{HEADERS[name]}\n"
        )
        (sql / f"bootstrap.{name}.sql").write_text(generated + "".join(f"{x};\n" for x in base))
        (sql / "analytics" / f"star_schema.{name}.sql").write_text(
            "-- The Terrific Totes star schema (analytics: full; analyst: without PII).\n"
            + generated
            + "".join(f"{x};\n" for x in star)
        )


if __name__ == "__main__":
    main()
