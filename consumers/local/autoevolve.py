"""`cdc run` applies `"new_columns": "auto"` itself (issue 18): a new nullable column at the
source of such a table reaches the warehouse with no command, and no change is lost.

Trigger: the drift check (contracts/drift.py DriftCheck, every CDC_DRIFT_CHECK_SECONDS),
brought forward (at most every FORCED_GAP seconds) when the consumers report a new dead letter.
Not the dead letter alone: a record carries values, not types, and a NULL says nothing about
NOT NULL, so the column's type and nullability must come from the source catalog anyway (what
`cdc contracts diff --apply` reads), and the dead letters are written by the processor
subprocesses, which cannot edit the contract their siblings read. The dead-letter count is
already in the driver's view, so it costs nothing to use it as the signal to look sooner. A
column whose rows have not changed yet is found by the periodic check before any dead letter.

What happens, in this order (each step makes the next safe):
1. apply_auto writes the column into the contract file, `"classification": "pending"`
   (withheld from analysts until someone classifies it), and one line says so;
2. Pipeline.reload: the warehouse bootstrap evolves the table and the grants (the pending
   column is not granted), the loader takes the new contracts, and every consumer restarts in
   an orderly way (shutdownRequested: flush, checkpoint; a new processor reads the new contract
   and resumes after that checkpoint: nothing re-read, nothing skipped);
3. once all have restarted, every dead letter the old contract caused is in S3 (a dead letter
   is written before its batch's checkpoint) and no new one can come for that column: the
   table's pending dead letters whose unknown columns are all in the contract now are redriven
   (deadletters.redrive: ordering versions from the records themselves, so nothing newer is
   overwritten; the ledger and the move to redriven/, so nothing is applied twice).
A NOT NULL column, a `dead-letter` table, and any other drift are only reported, as before.
On AWS nothing of this runs: `cdc contracts diff --apply`, review, redeploy, redrive.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

from consumers import deadletters
from consumers.contracts.drift import DriftCheck, apply_auto
from consumers.contracts.model import load_contracts
from consumers.errors import CdcError
from consumers.pipeline import Pipeline
from consumers.settings import Settings

# The decoder's reasons for a column the contract lacks (events/decode.py): a data record's,
# and an add-column / create-table control record's.
_UNKNOWN = re.compile(
    r"column\(s\) (.+?) of .+? (?:are not in the contract|exist at the source but not in)"
)


def unknown_columns(reason: str) -> set[str]:
    """The columns a dead letter's reason says the contract lacks (none: another reason)."""
    m = _UNKNOWN.search(reason)
    return set(m.group(1).split(", ")) if m else set()


@dataclass
class AutoEvolve:
    pipeline: Pipeline
    settings: Settings
    drift: DriftCheck
    warehouse_dsn: str
    s3: Any
    redriven: int = 0  # dead letters redriven by this run
    still_dead: int = 0  # selected for a redrive but refused again (their reason is printed)
    notes: list[str] = field(default_factory=list)  # for the live view
    _dead_seen: int = 0
    _sooner: bool = False

    def tick(self, now: float, *, final: bool = False) -> bool:
        """Run the drift check when it is due (sooner after a new dead letter; `final`: now),
        and apply what it found. True when the contracts changed."""
        if not any(c.new_columns == "auto" for c in self.pipeline.contracts):
            self.drift.poll(now)
            return False
        dead = sum(v.dead_letters for v in self.pipeline.driver.views.values())
        self._sooner = self._sooner or dead > self._dead_seen
        self._dead_seen = dead
        checks = self.drift.checks
        self.drift.poll(float("inf") if final else now, sooner=self._sooner)
        if self.drift.checks == checks:
            return False
        self._sooner = False
        return self.apply()

    def apply(self) -> bool:
        contracts_dir = self.settings.contracts_dir
        written = apply_auto(
            self.pipeline.contracts, self.drift.drifts, self.drift.sources, contracts_dir
        )
        if not written:
            return False
        by_file = {c.file_name: c.qualified for c in self.pipeline.contracts}
        added: dict[str, set[str]] = {}
        for path, column in written:
            table = by_file[path.name]
            added.setdefault(table, set()).add(column)
            self._say(
                f"schema: {table}.{column} added at the source: written into {path} "
                '(new_columns auto) as "classification": "pending", withheld from analysts '
                'until classified: set "pii": true or false there and remove "classification"'
            )
        contracts = load_contracts(contracts_dir)
        self.pipeline.reload(contracts)
        self.drift.contracts = contracts
        self.drift.drifts = []
        self._say(
            f"schema: warehouse evolved and consumers restarted on the new contract of "
            f"{', '.join(sorted(added))}"
        )
        known = {c.qualified: {col.name for col in c.columns} for c in contracts}
        letters = [
            d
            for d in deadletters.find(
                self.s3, self.settings.dead_letter_bucket, deadletters.Filters()
            )
            if d.table in added and (cols := unknown_columns(d.reason)) and cols <= known[d.table]
        ]
        if not letters:
            return True
        try:
            result = deadletters.redrive(
                self.settings, self.s3, contracts, letters, self.warehouse_dsn
            )
        except CdcError as e:  # the dead letters stay pending; the run's summary fails on them
            self._say(f"warning: {e}", err=True)
            return True
        self.redriven += result.redriven
        self.still_dead += len(result.still_dead)
        self._say(
            f"schema: {result.redriven} dead letters of {', '.join(sorted(added))} redriven "
            f"(run {result.run_id}, {result.loads} table loads)"
            + (f", {len(result.still_dead)} still dead" if result.still_dead else "")
        )
        for letter, reason in result.still_dead:
            self._say(f"warning: still dead: {letter.shard}/{letter.sequence}: {reason}", err=True)
        return True

    def _say(self, line: str, *, err: bool = False) -> None:
        print(line, file=sys.stderr if err else sys.stdout, flush=True)
        if not err:
            self.notes.append(line)
