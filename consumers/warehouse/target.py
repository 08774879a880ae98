"""Which warehouse a command talks to, and the one DB-API seam above both drivers.

`cdc verify`, `cdc status` and `cdc warehouse bootstrap` take `--warehouse` (or the setting
CDC_WAREHOUSE):
  postgresql://...                                 the local warehouse (any PostgreSQL): psycopg
  redshift://<workgroup>.<account>.<region>/<db>   Redshift Serverless: redshift-connector
  redshift://<cluster>.<region>/<db>               a provisioned cluster: redshift-connector
and the endpoint host names the Redshift console shows are accepted too
(`<workgroup>.<account>.<region>.redshift-serverless.amazonaws.com`,
`<cluster>.<id>.<region>.redshift.amazonaws.com`, with an optional `:port`).

Redshift sign-in is IAM only: no user or password in the URL or in settings. redshift-connector
(its `connect` and iam_helper.py, version 2.2.0) turns `iam=True` into temporary database
credentials with the caller's AWS identity (the default boto3 chain, or `?profile=NAME`):
  Serverless  `is_serverless`, `serverless_acct_id`, `serverless_work_group`: calls
              redshift-serverless GetCredentials; the database user is the IAM identity
              (`IAM:<user>` / `IAMR:<role>`), as with the Data API and Query Editor v2.
  provisioned `cluster_identifier`; with `?db_user=NAME` GetClusterCredentials for that user
              (`&auto_create=true` creates it), else `group_federation=True`:
              GetClusterCredentialsWithIAM, the user being the IAM identity.
`ssl=True` (IAM requires it), with the driver's default `sslmode` (verify-full in 2.2.0).

redshift-connector cannot talk to stock PostgreSQL (Redshift-only startup parameters, version
parsing), so the local warehouse stays on psycopg; `Database` is the seam both sit behind:
`rows(sql, params)` with `%s` parameters (both drivers' paramstyle is `format`/`pyformat`),
and `UndefinedTable` for SQLSTATE 42P01 whichever driver raised it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from consumers.errors import CdcError
from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect

REDSHIFT_PORT = 5439
# Redshift Serverless workgroup names: 3-64 of a-z, 0-9 and hyphens (CreateWorkgroup API);
# provisioned cluster identifiers: 1-63 of the same, starting with a letter (CreateCluster).
_NAME = r"[a-z0-9][a-z0-9-]{0,63}"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]+"
_SERVERLESS = re.compile(
    rf"(?P<workgroup>{_NAME})\.(?P<account>[0-9]{{12}})\.(?P<region>{_REGION})"
    r"(?:\.redshift-serverless\.amazonaws\.com)?"
)
_CLUSTER = re.compile(rf"(?P<cluster>{_NAME})\.(?P<region>{_REGION})")
_CLUSTER_ENDPOINT = re.compile(
    rf"(?P<cluster>{_NAME})\.[a-z0-9]+\.(?P<region>{_REGION})\.redshift\.amazonaws\.com"
)
# Query options a Redshift URL may carry, and nothing that is a secret.
_OPTIONS = {"profile", "db_user", "auto_create"}
_FORMS = (
    "redshift://<workgroup>.<account>.<region>/<database> (Serverless) or "
    "redshift://<cluster>.<region>/<database>[?db_user=NAME] (provisioned), optionally "
    "?profile=NAME"
)


class UndefinedTable(Exception):
    """A table the query names does not exist (SQLSTATE 42P01 undefined_table), from either
    driver."""


@dataclass(frozen=True)
class WarehouseTarget:
    """A warehouse to connect to: `dsn` for PostgreSQL, `connect_args` (redshift-connector's
    `connect` keyword arguments) for Redshift. `label` names it in messages (no secrets)."""

    kind: str  # "postgres" or "redshift"
    label: str
    dsn: str = ""
    connect_args: dict[str, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> PostgresDialect:
        return RedshiftDialect() if self.kind == "redshift" else PostgresDialect()


def parse_warehouse(value: str, source: str = "--warehouse") -> WarehouseTarget:
    """`--warehouse`'s value (or the setting `source` names) as a target, or a one-line error
    naming the accepted forms."""
    if not value.startswith("redshift://"):
        if "://" in value and not value.startswith(("postgresql://", "postgres://")):
            raise CdcError(
                f"{source} {value.split('://')[0]}://...: not a warehouse URL: use "
                f"postgresql://... (PostgreSQL) or {_FORMS}"
            )
        return WarehouseTarget("postgres", "the warehouse", dsn=value)
    return _redshift(value, source)


def _redshift(value: str, source: str) -> WarehouseTarget:
    def bad(problem: str) -> CdcError:
        return CdcError(f"{source} {_redacted(value)}: {problem}: use {_FORMS}")

    try:
        url = urlsplit(value)
        port = url.port or REDSHIFT_PORT
    except ValueError as e:
        raise bad(str(e)) from None
    if url.username is not None or url.password is not None:
        raise bad("no user or password here: Redshift sign-in is IAM only (your AWS identity)")
    database = url.path.strip("/")
    if not database or "/" in database:
        raise bad("name one database after the host")
    options = dict(parse_qsl(url.query, keep_blank_values=True))
    if unknown := sorted(set(options) - _OPTIONS):
        raise bad(f"unknown option {unknown[0]!r} (options: {', '.join(sorted(_OPTIONS))})")
    host = (url.hostname or "").lower()
    args: dict[str, Any] = {
        "iam": True,
        "database": database,
        "port": port,
        "ssl": True,  # required with IAM; sslmode stays the driver's verify-full
        "timeout": 30,
        "application_name": "cdc",
    }
    if options.get("profile"):
        args["profile"] = options["profile"]
    if endpoint := os.environ.get("CDC_AWS_ENDPOINT_URL"):
        args["endpoint_url"] = endpoint  # the API that issues the credentials (tests: moto)
    if m := _SERVERLESS.fullmatch(host):
        if {"db_user", "auto_create"} & set(options):
            raise bad("db_user and auto_create are for a provisioned cluster: Serverless signs "
                      "in as your IAM identity")  # fmt: skip
        wg, account, region = m["workgroup"], m["account"], m["region"]
        args |= {
            "host": f"{wg}.{account}.{region}.redshift-serverless.amazonaws.com",
            "region": region,
            "is_serverless": True,
            "serverless_acct_id": account,
            "serverless_work_group": wg,
        }
        label = f"Redshift Serverless {wg}/{database}"
        return WarehouseTarget("redshift", label, connect_args=args)
    if m := (_CLUSTER.fullmatch(host) or _CLUSTER_ENDPOINT.fullmatch(host)):
        args |= {"cluster_identifier": m["cluster"], "region": m["region"]}
        if m.re is _CLUSTER_ENDPOINT:  # else the driver looks it up (DescribeClusters)
            args["host"] = host
        if user := options.get("db_user"):
            args["db_user"] = user
            if options.get("auto_create", "false").lower() in ("1", "true", "yes"):
                args["auto_create"] = True
        else:
            args["group_federation"] = True
        return WarehouseTarget(
            "redshift", f"Redshift cluster {m['cluster']}/{database}", connect_args=args
        )
    raise bad(f"host {host!r} is neither a workgroup nor a cluster")


def _redacted(value: str) -> str:
    """The URL without a password, should one have been typed into it."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", value)


# ---------------------------------------------------------------- the seam


class Database:
    """A DB-API connection behind the one interface verify, status and bootstrap use."""

    def __init__(self, conn: Any, dialect: PostgresDialect, sqlstate: Any) -> None:
        self.conn, self.dialect, self._sqlstate = conn, dialect, sqlstate

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params) if params else None)
            return [tuple(r) for r in cur.fetchall()]
        except Exception as e:
            if self._sqlstate(e) == "42P01":
                self.conn.rollback()
                raise UndefinedTable(_first_line(e)) from None
            raise
        finally:
            cur.close()

    def run(self, statements: Sequence[str]) -> int:
        """Every statement in one transaction (as the Data API's BatchExecuteStatement)."""
        cur = self.conn.cursor()
        try:
            for statement in statements:
                try:
                    cur.execute(statement)
                except Exception as e:  # the warehouse refused it: one line, nothing applied
                    self.conn.rollback()
                    if self._sqlstate(e) is None:
                        raise
                    raise CdcError(
                        f"the warehouse refused {statement[:120]!r} ({_first_line(e)}); nothing "
                        "of this step was applied: fix what the error names (a privilege, a "
                        "view of your own over a changed column) and run again"
                    ) from None
            self.conn.commit()
        finally:
            cur.close()
        return len(statements)


def _first_line(e: BaseException) -> str:
    if e.args and isinstance(e.args[0], dict):  # redshift-connector: the server's fields
        return str(e.args[0].get("M", e))
    if len(e.args) == 2 and isinstance(e.args[1], BaseException):  # ("communication error", e)
        return f"{e.args[0]}: {_first_line(e.args[1])}"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _psycopg_sqlstate(e: BaseException) -> str | None:
    return getattr(e, "sqlstate", None)


def _redshift_sqlstate(e: BaseException) -> str | None:
    """redshift-connector raises ProgrammingError(dict of the server's ErrorResponse fields);
    `C` is the SQLSTATE (PostgreSQL protocol, "Error and Notice Message Fields")."""
    if e.args and isinstance(e.args[0], dict):
        code = e.args[0].get("C")
        return str(code) if code else None
    return None


@contextmanager
def connect(target: WarehouseTarget, what: str = "warehouse") -> Iterator[Database]:
    """The warehouse (or, `what="source"`, the source database), or a one-line error naming
    the fix. PostgreSQL sessions get the capture's settings (UTC, ISO dates, exact floats),
    so values read from either side render the same way."""
    if target.kind == "postgres":
        from consumers.capture.render import libpq_options
        from consumers.db import connect as pg_connect

        with pg_connect(target.dsn, what, options=libpq_options()) as conn:
            yield Database(conn, target.dialect, _psycopg_sqlstate)
        return
    conn = connect_redshift(target)
    try:
        yield Database(conn, target.dialect, _redshift_sqlstate)
    finally:
        conn.close()


def connect_redshift(target: WarehouseTarget) -> Any:
    import redshift_connector
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError
    from redshift_connector.error import Error as DriverError

    try:
        conn = redshift_connector.connect(**target.connect_args)
    # ResponseParserError: what answers at the API endpoint is not the Redshift API (a wrong
    # CDC_AWS_ENDPOINT_URL; moto answers GetClusterCredentialsWithIAM with an HTML 500).
    except (DriverError, BotoCoreError, ClientError, ResponseParserError, OSError) as e:
        raise CdcError(
            f"cannot connect to {target.label} ({_first_line(e)}): check --warehouse, your AWS "
            "credentials (AWS_PROFILE or ?profile=, region) and that your IAM identity may call "
            "redshift-serverless:GetCredentials (Serverless) or "
            "redshift:GetClusterCredentials[WithIAM] (provisioned)"
        ) from None
    # The session settings verify's text renderings assume (as libpq_options locally).
    cur = conn.cursor()
    cur.execute("SET timezone TO 'UTC'")
    cur.close()
    return conn
