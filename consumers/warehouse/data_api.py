"""Running SQL on Redshift Serverless through the Redshift Data API: what `cdc warehouse
bootstrap --workgroup` uses for the one-time bootstrap on AWS.

BatchExecuteStatement runs up to 40 statements as one transaction (Redshift Data API
reference), so the statements go in chunks of 40, in order, each polled with
DescribeStatement until it finishes; a failed chunk stops the run with Redshift's error.
Signing in: with no secret the Data API uses the caller's IAM identity (for a role,
database user `IAMR:<role name>`); with `secret_arn`, that secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from consumers.errors import CdcError

MAX_STATEMENTS = 40  # BatchExecuteStatement's limit
DONE = {"FINISHED"}
FAILED = {"FAILED", "ABORTED"}


def loader_user_grants(user: str) -> list[str]:
    """The database user the load state machine signs in as, member of `cdc_loader`."""
    if not user.startswith("IAMR:") or '"' in user:
        raise CdcError(
            f"--loader-user {user!r}: use the load stack's output LoaderDatabaseUser "
            "(IAMR:<role name>)"
        )
    return [f'CREATE USER "{user}" PASSWORD DISABLE', f'GRANT ROLE "cdc_loader" TO "{user}"']


def run(
    client: Any,
    statements: Sequence[str],
    *,
    workgroup: str,
    database: str,
    secret_arn: str | None = None,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 600.0,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Run `statements` in order; returns how many ran. Raises CdcError on a failed chunk."""
    chunks = [statements[i : i + MAX_STATEMENTS] for i in range(0, len(statements), MAX_STATEMENTS)]
    for n, chunk in enumerate(chunks, 1):
        kw: dict[str, Any] = {"WorkgroupName": workgroup, "Database": database}
        if secret_arn:
            kw["SecretArn"] = secret_arn
        sid = client.batch_execute_statement(Sqls=list(chunk), StatementName="cdc-bootstrap", **kw)[
            "Id"
        ]
        deadline = time.monotonic() + timeout_seconds
        while True:
            d = client.describe_statement(Id=sid)
            if d["Status"] in DONE:
                break
            if d["Status"] in FAILED:
                raise CdcError(
                    f"warehouse bootstrap chunk {n}/{len(chunks)} failed: {d.get('Error', '?')}; "
                    "fix it (see sql/bootstrap.redshift.sql) and run again"
                )
            if time.monotonic() > deadline:
                raise CdcError(
                    f"warehouse bootstrap chunk {n}/{len(chunks)} still {d['Status']} after "
                    f"{timeout_seconds:.0f} s (statement {sid}): check it in the Redshift console"
                )
            time.sleep(poll_seconds)
        if progress:
            progress(n, len(chunks))
    return len(statements)
