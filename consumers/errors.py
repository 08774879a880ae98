"""Error classes. Retries and exit codes key off the class, never off message text.

`CdcError` is a user-facing problem: its message is one line that names the thing and the fix,
and the CLI prints it without a traceback and exits 2. `TransientError` may succeed when retried
(a throttled API, a connection reset); `TerminalError` will not (a bad contract, a missing table).
"""

from __future__ import annotations


class CdcError(Exception):
    """A problem the user can fix; the message says what and how, on one line."""


class TerminalError(CdcError):
    """Retrying will not help; a person has to change something."""


class TransientError(CdcError):
    """May succeed on retry (throttling, a dropped connection, a service still starting)."""


class ContractError(TerminalError):
    """A table contract in schemas/ is invalid or disagrees with the source."""


class StackError(TerminalError):
    """The local stack (PostgreSQL cluster, moto server) cannot start or is not running."""
