"""Parse hstore's text output (`"a"=>"1", "b"=>NULL`), as DMS sends an hstore column (NCLOB).

hstore_out always double-quotes keys and values, escaping `"` and `\\` with a backslash
(PostgreSQL docs, F.18 hstore, "hstore External Representation"); a NULL value is the bare word
NULL. Anything else is refused, so a damaged value is a dead letter, never a guess.
"""

from __future__ import annotations

import re

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_PAIR = re.compile(rf"\s*{_QUOTED}\s*=>\s*(?:{_QUOTED}|(NULL))\s*(,|$)")
_ESCAPE = re.compile(r"\\(.)")


def _unescape(s: str) -> str:
    return _ESCAPE.sub(r"\1", s)


def parse(text: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    i, n = 0, len(text)
    if not text.strip():
        return out
    while i < n:
        m = _PAIR.match(text, i)
        if m is None:
            raise ValueError(f"not hstore text at {text[i : i + 40]!r}")
        out[_unescape(m.group(1))] = None if m.group(3) else _unescape(m.group(2))
        i = m.end()
        if m.group(4) == "" and i < n:
            raise ValueError(f"not hstore text at {text[i : i + 40]!r}")
        if m.group(4) == "," and i >= n:
            raise ValueError("hstore text ends with a comma")
    return out
