"""Load failures classified by SQLSTATE (PostgreSQL Appendix A; Redshift uses the same codes)."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest
from botocore.exceptions import EndpointConnectionError

from consumers.errors import CdcError
from consumers.warehouse.failures import Outcome, by_sqlstate, classify_postgres, classify_redshift


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("22001", Outcome.DATA),  # string_data_right_truncation
        ("22003", Outcome.DATA),  # numeric_value_out_of_range
        ("22P05", Outcome.DATA),  # untranslatable_character (NUL in text)
        ("23502", Outcome.DATA),  # not_null_violation
        ("23514", Outcome.DATA),  # check_violation
        ("40001", Outcome.TRANSIENT),  # serialization_failure
        ("40P01", Outcome.TRANSIENT),  # deadlock_detected
        ("08006", Outcome.TRANSIENT),  # connection_failure
        ("57P01", Outcome.TRANSIENT),  # admin_shutdown
        ("55P03", Outcome.TRANSIENT),  # lock_not_available
        ("53300", Outcome.TRANSIENT),  # too_many_connections
        ("42P01", Outcome.BLOCKED),  # undefined_table: a person must act; no quarantine
        ("42501", Outcome.BLOCKED),  # insufficient_privilege
        (None, Outcome.BLOCKED),
    ],
)
def test_sqlstates(state, outcome):
    assert by_sqlstate(state) is outcome


def test_postgres_errors_other_than_sql():
    assert classify_postgres(pa.ArrowInvalid("bad parquet")).outcome is Outcome.DATA
    s3 = EndpointConnectionError(endpoint_url="http://x")
    assert classify_postgres(s3).outcome is Outcome.TRANSIENT
    try:
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.OperationalError:
            raise CdcError("cannot connect to the warehouse") from None
    except CdcError as e:
        assert classify_postgres(e).outcome is Outcome.TRANSIENT
    assert classify_postgres(RuntimeError("bug")).outcome is Outcome.BLOCKED


def test_psycopg_error_classes_carry_their_sqlstate():
    e = psycopg.errors.CheckViolation("new row violates check constraint")
    assert classify_postgres(e).outcome is Outcome.DATA


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ("ERROR: value too long for type character varying(5) [SQLState 22001]", Outcome.DATA),
        ("Load into table 'orders' failed. Check 'sys_load_error_detail' for details.",
         Outcome.DATA),
        ("ERROR: 1023 DETAIL: Serializable isolation violation on table - 123", Outcome.TRANSIENT),
        ("ERROR: deadlock detected", Outcome.TRANSIENT),
        ('ERROR: relation "public.orders" does not exist', Outcome.BLOCKED),
    ],
)  # fmt: skip
def test_redshift_data_api_errors(error, outcome):
    assert classify_redshift(None, error).outcome is outcome


def test_redshift_connector_sqlstate_wins():
    assert classify_redshift("23502", "anything").outcome is Outcome.DATA
