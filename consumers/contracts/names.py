"""Identifiers: the source's names as they are, the warehouse's as Redshift keeps them.

A contract names each schema, table and column exactly as PostgreSQL does (`"playerID"`,
`"order"`, `"größe"`, `"year of birth"`): that is what DMS writes into every record (schema-name,
table-name and the keys of `data`), what its table-mapping object-locators match (case-sensitive),
and what the local capture quotes in its publication and COPY.

The warehouse name of each is the source name with its ASCII letters folded to lower case, and
nothing else changed. Amazon Redshift Database Developer Guide, "Names and identifiers": "ASCII
letters in standard and delimited identifiers are case-insensitive and are folded to lowercase in
the database" unless `enable_case_sensitive_identifier` is on, which we do not require (a default
cluster, Query Editor v2 and every analyst's session would otherwise have to set it); non-ASCII
letters are kept as they are, and a delimited identifier may hold any printable UTF-8 character
but the double quote, which `q()` doubles. The local PostgreSQL warehouse, which keeps quoted
names as written, is given the same folded names, so both warehouses have the same tables.

Rules, checked when a contract loads (model.py) and so by every command:
  - a name is 1..63 bytes of UTF-8 (PostgreSQL's NAMEDATALEN - 1: longer names cannot exist at
    the source), printable, without NUL; Redshift's limit is 127 bytes, so it holds every name;
  - two columns of a table, or two tables, or two schemas whose names fold to the same warehouse
    name (`"ID"` and `id`) are refused with both names: one would overwrite the other;
  - a column may not be named `_cdc_...` (the warehouse's metadata columns) or like a PostgreSQL
    system column (Redshift: "cannot be used as column names": oid, tableoid, xmin, ...), nor
    hold a comma (the change metadata lists column names comma-separated) or a backslash
    (Redshift string literals, in which the load plans name columns, take it as an escape).

Names the warehouse derives (tombstone tables, indexes) are bounded with `derived_name`: a name
PostgreSQL would silently truncate to 63 bytes could collide with another table's.

Avro (Apache Avro 1.11 specification, "Names"): a field or record name must match
[A-Za-z_][A-Za-z0-9_]*. A contract field whose SQL name is not one carries an Avro-safe `name`
(every other character replaced by `_`, a leading digit prefixed by `_`, made unique with `_2`,
`_3`, ...) and the real name in `sql_name`; the record likewise in `name`/`sql_name` and
`namespace`/`sql_schema`. Only the SQL names are used by the pipeline.
"""

from __future__ import annotations

import hashlib
import re

PG_MAX_BYTES = 63  # PostgreSQL NAMEDATALEN - 1 ("Identifiers and Key Words")
REDSHIFT_MAX_BYTES = 127  # Redshift "Names and identifiers"
AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
METADATA_PREFIX = "_cdc_"
# Redshift "Names and identifiers", system column names: not usable as column names. PostgreSQL
# refuses them too (SQLSTATE 42701), so a source table never has one; a hand-written contract may.
SYSTEM_COLUMNS = frozenset({"oid", "tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """The warehouse name: ASCII letters folded to lower case, every other character kept."""
    return name.translate(_FOLD)


def problem(name: str) -> str | None:
    """Why `name` cannot be a schema, table or column name, or None."""
    if not name:
        return "is empty"
    size = len(name.encode())
    if size > PG_MAX_BYTES:
        return f"is {size} bytes long (PostgreSQL names are at most {PG_MAX_BYTES} bytes)"
    if not name.isprintable():
        return "has a character that is not printable"
    return None


def column_problem(name: str) -> str | None:
    if p := problem(name):
        return p
    if fold(name).startswith(METADATA_PREFIX):
        return f"starts with {METADATA_PREFIX!r}, the warehouse's metadata columns"
    if fold(name) in SYSTEM_COLUMNS:
        return "is a system column name in Redshift"
    if "," in name:
        # The change metadata lists columns comma-separated (`_cdc_unchanged`, `_cdc_unknown`).
        return "has a comma, which the pipeline's change metadata uses between column names"
    if "\\" in name:
        # The load plans compare column names as string literals, and Redshift's literals take
        # a backslash as an escape (REGEXP_SUBSTR's example pattern '(\\w+)').
        return "has a backslash, which Redshift string literals take as an escape"
    return None


def collisions(names: list[str]) -> list[tuple[str, str]]:
    """Pairs of distinct names with the same warehouse name, in order of appearance."""
    seen: dict[str, str] = {}
    out = []
    for n in names:
        other = seen.setdefault(fold(n), n)
        if other != n:
            out.append((other, n))
    return out


def avro_name(name: str, taken: set[str]) -> str:
    """An Avro-safe name for `name`, not in `taken` (which it is added to)."""
    base = name if AVRO_NAME.match(name) else re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not AVRO_NAME.match(base):
        base = "_" + base
    out, n = base, 1
    while out in taken:
        n += 1
        out = f"{base}_{n}"
    taken.add(out)
    return out


def derived_name(base: str, suffix: str = "") -> str:
    """`base + suffix` if it fits in 63 bytes, else a prefix of `base`, 8 hex digits of its
    md5 and `suffix`: distinct bases stay distinct and PostgreSQL never truncates the name."""
    name = base + suffix
    if len(name.encode()) <= PG_MAX_BYTES:
        return name
    digest = "_" + hashlib.md5(base.encode(), usedforsecurity=False).hexdigest()[:8]
    room = PG_MAX_BYTES - len((digest + suffix).encode())
    prefix = base.encode()[:room].decode(errors="ignore")  # never half a character
    return prefix + digest + suffix
