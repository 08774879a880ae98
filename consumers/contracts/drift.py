"""Schema drift: the contracts against the source catalog, and what each difference means.

Why a catalog check at all: the shipped DMS source settings have `CaptureDdls: false` ("To
capture DDL events, DMS creates various artifacts in the PostgreSQL database when the task
starts"; without them no DDL is captured), so add-column / drop-column control records
(KinesisSettings IncludeTableAlterOperations) may never come; the data records are then the
only signal, and they arrive only once rows change. Comparing the contract with the source's
catalog reports a change before records pile up as dead letters (`cdc contracts diff`, and
periodically `cdc run` and `cdc status`).

Each difference has a documented outcome (README, "Schema changes"):
- added: records carrying the column are dead letters until the contract has it; a table with
  `"new_columns": "auto"` gets a new nullable column proposed into its contract by
  `cdc contracts diff --apply`, marked `"classification": "pending"` (withheld from analysts)
  and listed in `added_columns` (older records lack it: a NULL);
- widened (varchar(n) → larger or text, smallint → integer → bigint, numeric precision up,
  timestamp → timestamptz): values that no longer fit the contract are dead letters until the
  contract says the new type; the warehouse then widens its column (warehouse/evolve.py);
- narrowed or changed otherwise: every value still fits or is a dead letter with its reason; the
  warehouse is never narrowed;
- dropped (or renamed: a drop and an add, told apart only by the user): records lacking the
  column are dead letters (events/decode.py, IncludeNullAndEmpty); remove it from the contract
  and list it in `dropped_columns` (older records carry it; the warehouse keeps the column and
  its history), or rename it there with `renamed_from`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from consumers.contracts.model import TableContract
from consumers.contracts.types import canonical_sql_type

_INTS = {"smallint": 2, "integer": 4, "bigint": 8}
_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


def widening(old: str, new: str) -> bool:
    """True when every value of type `old` is a value of type `new`, unchanged (PostgreSQL or
    Redshift spellings). timestamp → timestamptz reads the naive value as UTC, as DMS renders
    it (with a Z): lossless when the source converted it with TimeZone UTC."""
    old, new = canonical_sql_type(old), canonical_sql_type(new)
    if old == new:
        return False
    if old in _INTS and new in _INTS:
        return _INTS[new] > _INTS[old]
    if m := _VARCHAR.match(old):
        n = _VARCHAR.match(new)
        return new == "text" or bool(n and int(n.group(1)) > int(m.group(1)))
    if m := _NUMERIC.match(old):
        if new == "numeric":
            return True
        n = _NUMERIC.match(new)
        if n is None:
            return False
        p, s, p2, s2 = int(m.group(1)), int(m.group(2)), int(n.group(1)), int(n.group(2))
        return s2 >= s and p2 - s2 >= p - s
    return old == "timestamp" and new == "timestamptz"


@dataclass(frozen=True)
class Drift:
    table: str
    column: str
    change: str  # added | dropped | widened | narrowed | changed | nullable | table-dropped
    contract_type: str
    source_type: str
    outcome: str  # what the pipeline does about it, and what to do

    def line(self) -> str:
        types = {
            "added": f" {self.source_type}",
            "dropped": f" (was {self.contract_type})",
            "table-dropped": "",
        }.get(self.change, f" {self.contract_type} -> {self.source_type}")
        what = self.table if self.change == "table-dropped" else f"{self.table}.{self.column}"
        return f"{what}: {self.change}{types}: {self.outcome}"


def diff_table(contract: TableContract, source: TableContract, where: str) -> list[Drift]:
    """Differences of one table, contract vs the source as `cdc contracts import` sees it."""
    out: list[Drift] = []
    added = [c for c in source.columns if c.name not in contract.by_name]
    dropped = [c for c in contract.columns if c.name not in source.by_name]
    for c in added:
        if contract.new_columns == "auto" and c.nullable:
            outcome = (
                "records carrying it are dead letters until the contract has it: "
                "`cdc contracts diff --apply` adds it (new_columns auto), then "
                "`cdc deadletters redrive`"
            )
        else:
            outcome = (
                f"records carrying it are dead letters: add it to {where} (nullable, and in "
                "added_columns) or set new_columns auto, then `cdc deadletters redrive`"
            )
        out.append(Drift(contract.qualified, c.name, "added", "", c.sql_type, outcome))
    for c in dropped:
        renamed = [a.name for a in added if a.sql_type == c.sql_type]
        hint = f" (renamed to {renamed[0]}? rename the field, with renamed_from)" if renamed else ""
        out.append(
            Drift(
                contract.qualified, c.name, "dropped", c.sql_type, "",
                f"records lacking it are dead letters: remove it from {where} and list it in "
                f"dropped_columns{hint}, then `cdc deadletters redrive`",
            )
        )  # fmt: skip
    for c in contract.columns:
        s = source.by_name.get(c.name)
        if s is None:
            continue
        if s.sql_type != c.sql_type:
            if widening(c.sql_type, s.sql_type):
                change, outcome = (
                    "widened",
                    (
                        f"values beyond {c.sql_type} are dead letters: set sql_type {s.sql_type} "
                        f"in {where} (the warehouse widens its column), then "
                        "`cdc deadletters redrive`"
                    ),
                )
            elif widening(s.sql_type, c.sql_type):
                change, outcome = (
                    "narrowed",
                    (
                        f"every value still fits the contract; the warehouse is never narrowed "
                        f"(set sql_type {s.sql_type} in {where} to record it)"
                    ),
                )
            else:
                change, outcome = (
                    "changed",
                    (
                        f"values that do not read as {c.sql_type} are dead letters: not a lossless "
                        f"widening: update {where} and rebuild the table with `cdc replay "
                        '--into-schema` (README, "Schema changes")'
                    ),
                )
            out.append(Drift(contract.qualified, c.name, change, c.sql_type, s.sql_type, outcome))
        elif s.nullable and not c.nullable and c.name not in contract.primary_key:
            out.append(
                Drift(
                    contract.qualified, c.name, "nullable", c.sql_type, s.sql_type,
                    f"a NULL is a dead letter: make the field nullable in {where}",
                )
            )  # fmt: skip
    return out


def source_drift(
    dsn: str, contracts: list[TableContract], contracts_dir: Path
) -> tuple[list[Drift], dict[str, TableContract | None]]:
    """Every difference between `contracts` and the source catalog at `dsn`, and the source's
    tables as read (for apply_auto)."""
    from consumers.contracts.importer import read_source

    sources = read_source(dsn, contracts)
    out: list[Drift] = []
    for contract in contracts:
        where = str(contracts_dir / contract.file_name)
        source = sources[contract.qualified]
        if source is None:
            out.append(
                Drift(
                    contract.qualified, "", "table-dropped", "", "",
                    f"the table is gone at the source: remove {where} once it is loaded",
                )
            )  # fmt: skip
        else:
            out += diff_table(contract, source, where)
    return out, sources


def apply_auto(
    contracts: list[TableContract],
    drifts: list[Drift],
    sources: dict[str, TableContract | None],
    contracts_dir: Path,
) -> list[tuple[Path, str]]:
    """Write the new nullable columns of `"new_columns": "auto"` tables into their contract
    files, marked `"classification": "pending"` (withheld from analysts until classified).
    Returns (file, column) per column written. Nothing else is changed automatically."""
    by_table = {c.qualified: c for c in contracts}
    written: list[tuple[Path, str]] = []
    for table in sorted({d.table for d in drifts if d.change == "added"}):
        contract = by_table[table]
        src = sources.get(table)
        if contract.new_columns != "auto" or src is None:
            continue
        new = [
            dataclasses.replace(src.by_name[d.column], pending=True, pii=True)
            for d in drifts
            if d.table == table and d.change == "added" and src.by_name[d.column].nullable
        ]
        if not new:
            continue
        evolved = dataclasses.replace(
            contract,
            columns=(*contract.columns, *new),
            added_columns=(*contract.added_columns, *(c.name for c in new)),
        )
        path = contracts_dir / contract.file_name
        path.write_bytes(orjson.dumps(evolved.to_avsc(), option=orjson.OPT_INDENT_2) + b"\n")
        written += [(path, c.name) for c in new]
    return written


class DriftCheck:
    """The drift check `cdc run` makes while it runs: at most every `interval` seconds
    (CDC_DRIFT_CHECK_SECONDS, default 60; 0 turns it off), each difference reported once, on
    stderr, when first seen. A failing check (the source briefly unreachable) is reported and
    tried again at the next interval; it never stops the pipeline."""

    def __init__(
        self, dsn: str, contracts: list[TableContract], contracts_dir: Path, interval: float
    ) -> None:
        self.dsn, self.contracts, self.contracts_dir = dsn, contracts, contracts_dir
        self.interval = interval
        self.seen: set[Drift] = set()
        self._last = -interval

    def poll(self, now: float) -> list[Drift]:
        if self.interval <= 0 or now - self._last < self.interval:
            return []
        self._last = now
        try:
            drifts, _ = source_drift(self.dsn, self.contracts, self.contracts_dir)
        except Exception as e:  # reported; the pipeline goes on (see the docstring)
            print(f"warning: schema drift check failed: {e}", file=sys.stderr, flush=True)
            return []
        new = [d for d in drifts if d not in self.seen]
        self.seen.update(new)
        for d in new:
            print(f"warning: schema drift: {d.line()}", file=sys.stderr, flush=True)
        return new


def pending(contracts: list[TableContract]) -> list[str]:
    """Status lines for columns withheld from analysts until someone classifies them."""
    return [
        f'{c.qualified}.{col.name}: withheld from analysts until classified: set "pii": true '
        f'or false in its contract and remove "classification"'
        for c in contracts
        for col in c.columns
        if col.pending
    ]


__all__ = ["Drift", "DriftCheck", "apply_auto", "diff_table", "pending", "source_drift", "widening"]
