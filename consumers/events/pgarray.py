"""Parse one-dimensional PostgreSQL array literals ('{a,"b c",NULL}'), as DMS renders arrays."""

from __future__ import annotations


def parse(text: str) -> list[str | None]:
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        raise ValueError(f"not a PostgreSQL array literal: {text[:40]!r}")
    body = text[1:-1]
    out: list[str | None] = []
    if not body:
        return out
    i, n = 0, len(body)
    while True:
        if i < n and body[i] == "{":
            raise ValueError("multi-dimensional arrays are not supported")
        if i < n and body[i] == '"':
            i += 1
            chars = []
            while i < n and body[i] != '"':
                if body[i] == "\\":
                    i += 1
                    if i >= n:
                        break
                chars.append(body[i])
                i += 1
            if i >= n:
                raise ValueError("unterminated quoted element")
            i += 1
            out.append("".join(chars))
        else:
            j = body.find(",", i)
            j = n if j < 0 else j
            item = body[i:j].strip()
            out.append(None if item.upper() == "NULL" else item)
            i = j
        if i >= n:
            return out
        if body[i] != ",":
            raise ValueError(f"unexpected {body[i]!r} in array literal")
        i += 1
