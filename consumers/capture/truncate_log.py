"""TRUNCATE, made visible to AWS DMS: the source's truncate log.

AWS DMS does not capture TRUNCATE from a PostgreSQL source ("AWS DMS doesn't support change
processing of TRUNCATE operations", User Guide, PostgreSQL source limitations), so truncated
rows would stay in the warehouse for ever, silently. The truncate log turns each TRUNCATE of a
replicated table into an ordinary row change DMS does capture: a statement-level AFTER TRUNCATE
trigger on every replicated table inserts a row (schema, table, time) into
`cdc_meta.truncations`, which is itself a replicated table with a contract. In the warehouse,
that row's ordering version says: every change of that table older than this is gone
(warehouse/truncate.py applies it, whatever order the batches load in).

The marker is written inside the truncating transaction, after the TRUNCATE: everything the
table held before is older than it, everything written after it (in that transaction or
later, once the TRUNCATE's lock is released) is newer.

Install it with `cdc source truncate-log install` (or run the SQL of `cdc source truncate-log
sql` as the table owner), add the contract it writes, and regenerate the DMS table mappings.
Never delete rows from `cdc_meta.truncations`: one row per TRUNCATE, and the warehouse needs
them to refuse changes that arrive late from before a TRUNCATE.
"""

from __future__ import annotations

from typing import Any

from consumers.contracts.ddl import quote_ident, quote_literal
from consumers.contracts.model import TableContract

SCHEMA = "cdc_meta"
TABLE = "truncations"
QUALIFIED = f"{SCHEMA}.{TABLE}"
TRIGGER = "cdc_truncate_log"
FUNCTION = f"{quote_ident(SCHEMA)}.record_truncate"

CONTRACT: dict[str, Any] = {
    "type": "record",
    "name": TABLE,
    "namespace": SCHEMA,
    "doc": (
        "The truncate log: one row per TRUNCATE of a replicated table, written by its AFTER "
        "TRUNCATE trigger (consumers/capture/truncate_log.py), so TRUNCATE reaches the "
        "warehouse although DMS does not capture it. Never delete its rows."
    ),
    "primary_key": ["truncation_id"],
    "delete_mode": "hard",
    "fields": [
        {"name": "truncation_id", "type": "long", "sql_type": "bigint"},
        {"name": "schema_name", "type": "string", "sql_type": "text"},
        {"name": "table_name", "type": "string", "sql_type": "text"},
        {
            "name": "truncated_at",
            "type": {"type": "long", "logicalType": "timestamp-micros"},
            "sql_type": "timestamptz",
        },
    ],
}


def is_log(c: TableContract) -> bool:
    return (c.schema, c.name) == (SCHEMA, TABLE)


def install_sql(contracts: list[TableContract]) -> list[str]:
    """Idempotent: the log table, its id sequence, the trigger function, and one statement-level
    trigger per replicated table (PostgreSQL 14+ for CREATE OR REPLACE TRIGGER)."""
    log = f"{quote_ident(SCHEMA)}.{quote_ident(TABLE)}"
    ids = f"{quote_ident(SCHEMA)}.truncation_ids"
    out = [
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(SCHEMA)}",
        f"CREATE SEQUENCE IF NOT EXISTS {ids}",
        f"CREATE TABLE IF NOT EXISTS {log} (truncation_id bigint PRIMARY KEY, "
        "schema_name text NOT NULL, table_name text NOT NULL, truncated_at timestamptz NOT NULL)",
        f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        f"INSERT INTO {log} VALUES (nextval({quote_literal(ids)}), TG_TABLE_SCHEMA, "
        "TG_TABLE_NAME, clock_timestamp()); RETURN NULL; END $$",
    ]
    for c in contracts:
        if not is_log(c):
            out.append(
                f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER TRUNCATE ON "
                f"{quote_ident(c.schema)}.{quote_ident(c.name)} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
            )
    return out


def remove_sql(contracts: list[TableContract]) -> list[str]:
    """The triggers and the function; the log table stays (drop it by hand once nothing reads
    it: the warehouse's copy keeps working)."""
    out = [
        f"DROP TRIGGER IF EXISTS {TRIGGER} ON {quote_ident(c.schema)}.{quote_ident(c.name)}"
        for c in contracts
        if not is_log(c)
    ]
    return [*out, f"DROP FUNCTION IF EXISTS {FUNCTION}()"]
