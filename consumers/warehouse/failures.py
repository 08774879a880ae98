"""Why a table's load failed, and what to do about it: one classifier per warehouse backend.

Three outcomes, keyed off SQLSTATE (PostgreSQL documentation, Appendix A "PostgreSQL Error
Codes"; Redshift reports the same codes), never off message text where a code exists:

- `DATA`: the batch holds a value the warehouse refuses. Class 22 (data exception: out of
  range, invalid text representation, string too long, NUL in text ...) and class 23 (integrity
  constraint violation: NOT NULL, CHECK, foreign key, unique). Retrying the same batch fails the
  same way for ever, so the batch is quarantined and the table goes on (`quarantine.py`).
- `TRANSIENT`: a retry may succeed: 40001 serialization failure, 40P01 deadlock, class 08
  (connection exception), 57P01/57P02/57P03 (admin or crash shutdown, cannot connect now),
  57014 query canceled (statement timeout), 55P03 lock not available, class 53 (insufficient
  resources: too many connections, out of memory or disk). Retried with backoff.
- `BLOCKED`: anything else (an undefined table or column, a privilege missing, a bug in a plan):
  not the batch's fault and not going away by itself. The table is retried with backoff and
  reported until a person fixes it; its batches stay pending and nothing is quarantined.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from consumers.errors import CdcError


class Outcome(enum.Enum):
    DATA = "data"
    TRANSIENT = "transient"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class LoadFailure:
    outcome: Outcome
    sqlstate: str | None
    reason: str  # one line


DATA_CLASSES = ("22", "23")
TRANSIENT_CLASSES = ("08", "53")
TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"})


def by_sqlstate(sqlstate: str | None) -> Outcome:
    if not sqlstate:
        return Outcome.BLOCKED
    if sqlstate[:2] in DATA_CLASSES:
        return Outcome.DATA
    if sqlstate in TRANSIENT_STATES or sqlstate[:2] in TRANSIENT_CLASSES:
        return Outcome.TRANSIENT
    return Outcome.BLOCKED


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def classify_postgres(e: BaseException) -> LoadFailure:
    """A local load's failure: psycopg errors by SQLSTATE; a Parquet file that cannot be read
    as its table's batch is a data problem of that batch; S3 and connection trouble is
    transient."""
    import psycopg  # here: the planner Lambda's image (Redshift only) has no psycopg

    if isinstance(e, CdcError) and isinstance(e.__context__, psycopg.OperationalError):
        return LoadFailure(Outcome.TRANSIENT, None, _one_line(str(e)))  # db.connect's
    if isinstance(e, psycopg.Error):
        state = e.sqlstate
        if state is None and isinstance(e, psycopg.OperationalError):
            # No SQLSTATE: the connection itself failed (refused, reset, server gone).
            return LoadFailure(Outcome.TRANSIENT, None, _one_line(str(e)))
        return LoadFailure(by_sqlstate(state), state, _one_line(str(e)))
    if isinstance(e, (pa.ArrowInvalid, pa.ArrowTypeError)):
        return LoadFailure(Outcome.DATA, None, f"unreadable batch file: {_one_line(str(e))}")
    if isinstance(e, (BotoCoreError, ClientError)):
        return LoadFailure(Outcome.TRANSIENT, None, f"S3: {_one_line(str(e))}")
    return LoadFailure(Outcome.BLOCKED, None, f"{type(e).__name__}: {_one_line(str(e))}")


# The Redshift Data API's DescribeStatement gives an error text, not a code. Redshift writes
# the SQLSTATE into it as "[SQLState 22001]" or "(SQLSTATE 23502)" in some messages, and a
# COPY that rejects rows says "Load into table ... failed. Check 'sys_load_error_detail'":
# rows of the batch do not fit their columns (Redshift COPY documentation, STL_LOAD_ERRORS).
_STATE = re.compile(r"SQL ?STATE[\s:=\]\[]*([0-9A-Z]{5})", re.IGNORECASE)
_REDSHIFT_DATA = (
    "check 'sys_load_error_detail'",
    "check 'stl_load_errors'",
    "value too long for type",
    "numeric field overflow",
    "invalid input syntax",
    "violates not-null constraint",
    "cannot be null",
    "spectrum scan error",
)
_REDSHIFT_TRANSIENT = (
    "serializable isolation violation",
    "deadlock detected",
    "connection",
    "timeout",
    "throttl",
    "concurrency scaling",
)


def classify_redshift(sqlstate: str | None, error: str) -> LoadFailure:
    """A Redshift load's failure, from redshift_connector's SQLSTATE or the Data API's text."""
    state = sqlstate
    if state is None:
        found = _STATE.search(error)
        state = found.group(1) if found else None
    if state is not None and by_sqlstate(state) is not Outcome.BLOCKED:
        return LoadFailure(by_sqlstate(state), state, _one_line(error))
    text = error.lower()
    if any(m in text for m in _REDSHIFT_DATA):
        return LoadFailure(Outcome.DATA, state, _one_line(error))
    if any(m in text for m in _REDSHIFT_TRANSIENT):
        return LoadFailure(Outcome.TRANSIENT, state, _one_line(error))
    return LoadFailure(Outcome.BLOCKED, state, _one_line(error))
