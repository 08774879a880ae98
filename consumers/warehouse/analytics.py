"""The Terrific Totes star schema (../shared/TOTESYS.md) as views over the replicated tables.

Schema `analytics` holds the full views (engineers); schema `analyst` holds the same views
without the PII columns (analysts). Views read only live rows (`NOT _cdc_deleted`), so they stay
correct as rows are updated and deleted upstream. Date parts differ between PostgreSQL and
Redshift; the dialect renders them.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.contracts.model import TableContract
from consumers.warehouse.dialect import ANALYST, ANALYST_SCHEMA, PostgresDialect, q

ANALYTICS = "analytics"
NEEDED = {"sales_order", "staff", "department", "address", "currency", "design", "counterparty"}
CURRENCY_NAMES = {"GBP": "Pound Sterling", "USD": "US Dollar", "EUR": "Euro"}


@dataclass(frozen=True)
class View:
    name: str
    columns: list[tuple[str, str]]  # (output name, expression)
    source: str
    pii: frozenset[str] = frozenset()


def _live(table: str, alias: str) -> str:
    return f"{q('public')}.{q(table)} AS {alias}"


def views(d: PostgresDialect) -> list[View]:
    so = "so"
    dates = " UNION ".join(
        f"SELECT {expr} AS d FROM {_live('sales_order', 'so')} WHERE NOT so.\"_cdc_deleted\""  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        for expr in (
            'CAST(so."created_at" AS date)', 'CAST(so."last_updated" AS date)',
            'so."agreed_payment_date"', 'so."agreed_delivery_date"',
        )
    )  # fmt: skip
    currency = (
        'CASE c."currency_code" '
        + " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in CURRENCY_NAMES.items())
        + ' ELSE c."currency_code" END'
    )
    return [
        View("fact_sales_order", [
            ("sales_order_id", f'{so}."sales_order_id"'),
            ("created_date", f'CAST({so}."created_at" AS date)'),
            ("created_time", f'CAST({so}."created_at" AS time)'),
            ("last_updated_date", f'CAST({so}."last_updated" AS date)'),
            ("last_updated_time", f'CAST({so}."last_updated" AS time)'),
            ("sales_staff_id", f'{so}."staff_id"'),
            ("counterparty_id", f'{so}."counterparty_id"'),
            ("units_sold", f'{so}."units_sold"'),
            ("unit_price", f'{so}."unit_price"'),
            ("currency_id", f'{so}."currency_id"'),
            ("design_id", f'{so}."design_id"'),
            ("agreed_payment_date", f'{so}."agreed_payment_date"'),
            ("agreed_delivery_date", f'{so}."agreed_delivery_date"'),
            ("agreed_delivery_location_id", f'{so}."agreed_delivery_location_id"'),
        ], f'{_live("sales_order", so)} WHERE NOT {so}."_cdc_deleted"'),
        View("dim_date", [
            ("date_id", "x.d"),
            ("year", d.date_part("year", "x.d")),
            ("month", d.date_part("month", "x.d")),
            ("day", d.date_part("day", "x.d")),
            ("day_of_week", d.iso_day_of_week("x.d")),
            ("day_name", d.day_name("x.d")),
            ("month_name", d.month_name("x.d")),
            ("quarter", d.date_part("quarter", "x.d")),
        ], f"({dates}) AS x"),
        View("dim_staff", [
            ("staff_id", 's."staff_id"'), ("first_name", 's."first_name"'),
            ("last_name", 's."last_name"'), ("department_name", 'dp."department_name"'),
            ("location", 'dp."location"'), ("email_address", 's."email_address"'),
        ], f"{_live('staff', 's')} LEFT JOIN {_live('department', 'dp')} ON "
           'dp."department_id" = s."department_id" AND NOT dp."_cdc_deleted" '
           'WHERE NOT s."_cdc_deleted"',
           frozenset({"first_name", "last_name", "email_address"})),
        View("dim_location", [
            ("location_id", 'a."address_id"'), ("address_line_1", 'a."address_line_1"'),
            ("address_line_2", 'a."address_line_2"'), ("district", 'a."district"'),
            ("city", 'a."city"'), ("postal_code", 'a."postal_code"'), ("country", 'a."country"'),
            ("phone", 'a."phone"'),
        ], f'{_live("address", "a")} WHERE NOT a."_cdc_deleted"',
           frozenset({"address_line_1", "address_line_2", "postal_code", "phone"})),
        View("dim_currency", [
            ("currency_id", 'c."currency_id"'), ("currency_code", 'c."currency_code"'),
            ("currency_name", currency),
        ], f'{_live("currency", "c")} WHERE NOT c."_cdc_deleted"'),
        View("dim_design", [
            ("design_id", 'g."design_id"'), ("design_name", 'g."design_name"'),
            ("file_location", 'g."file_location"'), ("file_name", 'g."file_name"'),
        ], f'{_live("design", "g")} WHERE NOT g."_cdc_deleted"'),
        View("dim_counterparty", [
            ("counterparty_id", 'cp."counterparty_id"'),
            ("counterparty_legal_name", 'cp."counterparty_legal_name"'),
            ("address_line_1", 'a."address_line_1"'), ("address_line_2", 'a."address_line_2"'),
            ("district", 'a."district"'), ("city", 'a."city"'), ("postal_code", 'a."postal_code"'),
            ("country", 'a."country"'), ("phone_number", 'a."phone"'),
        ], f"{_live('counterparty', 'cp')} LEFT JOIN {_live('address', 'a')} ON "
           'a."address_id" = cp."legal_address_id" AND NOT a."_cdc_deleted" '
           'WHERE NOT cp."_cdc_deleted"',
           frozenset({"address_line_1", "address_line_2", "postal_code", "phone_number"})),
    ]  # fmt: skip


def star_schema(d: PostgresDialect, contracts: list[TableContract]) -> list[str]:
    """CREATE VIEW statements (full in `analytics`, PII-free in `analyst`) and their grants;
    nothing when the contracts are not the Terrific Totes tables."""
    if not {c.name for c in contracts if c.schema == "public"} >= NEEDED:
        return []
    out = [f"CREATE SCHEMA IF NOT EXISTS {q(ANALYTICS)}"]
    for v in views(d):
        for schema, withheld in ((ANALYTICS, frozenset[str]()), (ANALYST_SCHEMA, v.pii)):
            cols = ", ".join(
                f"{expr} AS {q(name)}" for name, expr in v.columns if name not in withheld
            )
            out.append(
                f"CREATE OR REPLACE VIEW {q(schema)}.{q(v.name)} AS SELECT {cols} FROM {v.source}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            )
    out.append(f"GRANT USAGE ON SCHEMA {q(ANALYTICS)} TO {d.grantee('cdc_engineer')}")
    out.append(
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {q(ANALYTICS)} TO {d.grantee('cdc_engineer')}"
    )
    out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {q(ANALYST_SCHEMA)} TO {d.grantee(ANALYST)}")
    return out
