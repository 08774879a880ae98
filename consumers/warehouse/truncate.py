"""TRUNCATE in the warehouse, from the source's truncate log (capture/truncate_log.py).

A row of `cdc_meta.truncations` with ordering version W says: every change of its table older
than W was truncated away at the source. Two kinds of steps apply that, whatever order the
batches load in:

  truncated  in every table's plan, right after `latest`: a key whose newest staged change is
             older than the table's last truncation is dropped (a change that arrives after
             the TRUNCATE was applied, from a lagging shard or a replay, must not bring a
             truncated row back). From `latest`, not `stage`: the ledger records every staged
             batch, applied or truncated away, so none stays pending for ever.
  truncate   in the log's own plan, after its MERGE: each table's rows older than its last
             truncation are deleted.

Soft-delete tables too: a TRUNCATE is not a row delete, and the table's rows before it are gone
at the source. Flagging them instead would leave different rows behind depending on whether a
change was loaded before or after its truncation; deleting converges in any order.

Races: the log's plan locks every table before its own (sorted, one statement), and a table's
plan reads the log only after taking its own lock, so a load either runs before a truncation
is applied (and its rows are then removed by it) or after (and sees its watermark). Full-load
marker rows have version 0 and truncate nothing: a TRUNCATE before the snapshot is already in
the snapshot. Failure of any step rolls back the whole plan, like every other step.

Limits, written down: the log's plan has one statement per replicated table (Redshift's
BatchExecuteStatement takes 40, so up to about 25 tables on AWS; the planner refuses more with
the reason); the watermark is the newest marker's version, so rows of `cdc_meta.truncations`
must never be deleted at the source.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.capture import truncate_log
from consumers.contracts.model import TableContract
from consumers.warehouse.dialect import PostgresDialect, lit


@dataclass(frozen=True)
class TruncationLog:
    """The warehouse's copy of the truncate log and the tables it speaks of: `tables` maps
    each source table (schema.table, as the log names it) to its warehouse contract (which
    may live in another schema, for a replay into one)."""

    log: TableContract
    tables: dict[str, TableContract]

    @classmethod
    def of(cls, targets: dict[str, TableContract]) -> TruncationLog | None:
        """From a loader's contracts (source name → warehouse contract); None without a log."""
        log = targets.get(truncate_log.QUALIFIED)
        if log is None:
            return None
        others = {name: c for name, c in targets.items() if name != truncate_log.QUALIFIED}
        return cls(log, others)

    def watermark(self, d: PostgresDialect, source: str) -> str:
        schema, _, name = source.partition(".")
        return (
            f'(SELECT COALESCE(MAX(l."_cdc_version"), 0) FROM {d.table(self.log)} AS l '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'WHERE l."schema_name" = {lit(schema)} AND l."table_name" = {lit(name)})'
        )

    def drop_truncated(self, d: PostgresDialect, source: str) -> str:
        return f'DELETE FROM "latest" WHERE "_cdc_version" < {self.watermark(d, source)}'  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters

    def lock_tables(self, d: PostgresDialect) -> str:
        return d.lock_all(sorted(self.tables.values(), key=lambda c: c.qualified))

    def apply(self, d: PostgresDialect) -> list[tuple[str, str]]:
        """(step name, SQL) per table: remove what its last truncation removed at the source."""
        return [
            (
                f"truncate-{source}",
                f'DELETE FROM {d.table(c)} WHERE "_cdc_version" < {self.watermark(d, source)}',  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            )
            for source, c in sorted(self.tables.items())
        ]
