"""Progress of the capture's long pieces of work, as rows/s and an ETA: a table's full load
(out of the planner's row estimate, pg_class.reltuples) and one large transaction (out of its
WAL: pgoutput's BEGIN carries the transaction's final LSN, and every change its own LSN, so
the share of the transaction's WAL already decoded is known while its size in rows is not).

The capture updates `done` (and `position`) as it goes and checks the clock only every
`CHECK_EVERY` rows; a line is logged (and shown by the live view) at most every `LOG_SECONDS`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CHECK_EVERY = 10_000  # rows between clock checks (the capture's hot loop pays one modulo)
LOG_SECONDS = 5.0


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@dataclass
class Progress:
    what: str  # "full load of public.accounts", "transaction 1234"
    unit: str  # "rows", "changes"
    expected: int | None = None  # rows the work should reach, if known (an estimate)
    start_position: int = 0  # LSNs, for a transaction: its first change ...
    end_position: int = 0  # ... and its final LSN
    done: int = 0
    position: int = 0
    started: float = field(default_factory=time.monotonic)
    logged: float = field(default_factory=time.monotonic)

    def fraction(self) -> float | None:
        if self.end_position > self.start_position:
            span = self.end_position - self.start_position
            return min(1.0, max(0.0, (self.position - self.start_position) / span))
        if self.expected:
            return min(1.0, self.done / self.expected)
        return None

    def rate(self, now: float | None = None) -> float:
        elapsed = (now or time.monotonic()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_seconds(self, now: float | None = None) -> float | None:
        now = now or time.monotonic()
        fraction = self.fraction()
        if not fraction or fraction >= 1.0:
            return None if not fraction else 0.0
        return (now - self.started) * (1 - fraction) / fraction

    def describe(self, now: float | None = None) -> str:
        now = now or time.monotonic()
        fraction = self.fraction()
        text = f"{self.what}: {self.done:,}"
        if self.expected and not self.end_position:
            text += f" of ~{self.expected:,}"
        text += f" {self.unit}"
        if fraction is not None:
            text += f" ({fraction:.0%}{' of its WAL' if self.end_position else ''})"
        text += f", {self.rate(now):,.0f} {self.unit}/s"
        eta = self.eta_seconds(now)
        return text if eta is None else f"{text}, ETA {_duration(eta)}"

    def tick(self) -> None:
        """Called every CHECK_EVERY rows: log a line at most every LOG_SECONDS."""
        now = time.monotonic()
        if now - self.logged >= LOG_SECONDS:
            self.logged = now
            log.info("%s", self.describe(now))
