"""PostgreSQL intervals as DMS sends them, in one canonical form for the warehouse.

DMS maps `interval` to STRING and sends PostgreSQL's text output of the value, i.e. the
`postgres` IntervalStyle that is the server default: `1 day 04:00:00`, `-1 days -01:42:30`,
`00:00:01.02999`, `1 year 2 mons 3 days 04:05:06.5` (AWS DMS User Guide, "Using a PostgreSQL
database as a source", source data types: INTERVAL → STRING(128)). A source whose IntervalStyle
is `iso_8601` sends `P1Y2M3DT4H5M6.5S`. Both spellings are accepted; anything else (the
`sql_standard` and `postgres_verbose` styles included) is refused with the reason, never guessed.

The canonical form is exactly what PostgreSQL prints under IntervalStyle=iso_8601, so the lake
holds one spelling whatever the source's style, the PostgreSQL warehouse parses it back to the
same value, and Redshift (a VARCHAR column) stores the same text. An interval is three separate
fields (months, days, microseconds) that PostgreSQL never normalises into each other
(`1 mon` != `30 days` in storage): both forms carry them separately, and so does this module.
"""

from __future__ import annotations

import re

_US = 1_000_000
_POSTGRES = re.compile(
    r"(?:(?P<years>[-+]?\d+) years? ?)?"
    r"(?:(?P<months>[-+]?\d+) mons? ?)?"
    r"(?:(?P<days>[-+]?\d+) days? ?)?"
    r"(?:(?P<sign>[-+]?)(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<f>\d{1,6}))?)?"
)
_ISO = re.compile(
    r"P(?:(?P<years>[-+]?\d+)Y)?(?:(?P<months>[-+]?\d+)M)?(?:(?P<weeks>[-+]?\d+)W)?"
    r"(?:(?P<days>[-+]?\d+)D)?"
    r"(?:T(?:(?P<h>[-+]?\d+)H)?(?:(?P<m>[-+]?\d+)M)?"
    r"(?:(?P<s>[-+]?)(?P<sw>\d+)(?:\.(?P<f>\d{1,6}))?S)?)?"
)
# PostgreSQL's interval fields: int32 months and days, int64 microseconds.
_INT32 = 2**31
_INT64 = 2**63


def _us(whole: str, fraction: str | None) -> int:
    return int(whole) * _US + int((fraction or "").ljust(6, "0"))


def parse(text: str) -> tuple[int, int, int]:
    """(months, days, microseconds) of an interval in PostgreSQL's `postgres` or `iso_8601`
    output style. Raises ValueError for anything else."""
    if text.startswith("P"):
        m = _ISO.fullmatch(text)
        if m is None or text in ("P", "PT") or text.endswith("T"):
            raise ValueError(f"{text!r} is not an ISO 8601 interval")
        g = m.groupdict()
        months = int(g["years"] or 0) * 12 + int(g["months"] or 0)
        days = int(g["weeks"] or 0) * 7 + int(g["days"] or 0)
        seconds = _us(g["sw"], g["f"]) if g["sw"] is not None else 0
        micros = (int(g["h"] or 0) * 3600 + int(g["m"] or 0) * 60) * _US
        micros += -seconds if g["s"] == "-" else seconds
    else:
        m = _POSTGRES.fullmatch(text)
        if m is None or not text or text.endswith(" "):
            raise ValueError(
                f"{text!r} is not an interval in PostgreSQL's postgres or iso_8601 style"
            )
        g = m.groupdict()
        months = int(g["years"] or 0) * 12 + int(g["months"] or 0)
        days = int(g["days"] or 0)
        micros = 0
        if g["h"] is not None:
            micros = (int(g["h"]) * 3600 + int(g["m"]) * 60) * _US + _us(g["s"], g["f"])
            if g["sign"] == "-":
                micros = -micros
    if not (-_INT32 <= months < _INT32 and -_INT32 <= days < _INT32 and -_INT64 <= micros < _INT64):
        raise ValueError(f"{text!r} is out of range for a PostgreSQL interval")
    return months, days, micros


def _trunc_div(a: int, b: int) -> tuple[int, int]:
    """C's division: quotient towards zero, remainder with the sign of `a`."""
    q = abs(a) // b
    q = q if a >= 0 else -q
    return q, a - q * b


def iso_8601(months: int, days: int, micros: int) -> str:
    """The interval as PostgreSQL prints it with IntervalStyle=iso_8601 (EncodeInterval)."""
    years, mons = _trunc_div(months, 12)
    hours, rest = _trunc_div(micros, 3600 * _US)
    minutes, rest = _trunc_div(rest, 60 * _US)
    out = "P"
    if years:
        out += f"{years}Y"
    if mons:
        out += f"{mons}M"
    if days:
        out += f"{days}D"
    if hours or minutes or rest:
        out += "T"
        if hours:
            out += f"{hours}H"
        if minutes:
            out += f"{minutes}M"
        if rest:
            whole, frac = divmod(abs(rest), _US)
            sign = "-" if rest < 0 else ""
            out += f"{sign}{whole}" + (f".{frac:06d}".rstrip("0") if frac else "") + "S"
    return "PT0S" if out == "P" else out


def canonical(text: str) -> str:
    """Any accepted spelling → PostgreSQL's iso_8601 output of the same value."""
    return iso_8601(*parse(text))
