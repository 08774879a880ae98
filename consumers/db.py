"""PostgreSQL connections with one-line errors (psycopg 3; replication uses psycopg2)."""

from __future__ import annotations

from typing import Any

import psycopg

from consumers.errors import CdcError


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def connect(dsn: str, what: str = "source", **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """Connect to the source or the warehouse, or fail with one line naming the fix."""
    try:
        return psycopg.connect(dsn, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as e:
        raise CdcError(
            f"cannot connect to the {what} ({first_line(e)}): check --{what}-dsn, or start "
            "the local stack with `cdc local up`"
        ) from None
    except psycopg.ProgrammingError as e:  # the DSN itself does not parse
        raise CdcError(
            f"the {what} DSN is not a connection string ({first_line(e)}): fix --{what}-dsn, "
            "e.g. postgresql://user@host:5432/dbname"
        ) from None


Connection = psycopg.Connection[tuple[Any, ...]]
