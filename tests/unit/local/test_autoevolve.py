"""Which dead letters `cdc run`'s auto evolution redrives: those whose reason names columns
the contract lacked (events/decode.py's wording, for data and control records)."""

from __future__ import annotations

import pytest

from consumers.local.autoevolve import unknown_columns


@pytest.mark.parametrize(
    ("reason", "columns"),
    [
        (
            "column(s) note, seen_at of shop.items are not in the contract (added at the "
            "source?): add them to schemas/shop.items.avsc",
            {"note", "seen_at"},
        ),
        (
            "add-column: column(s) note of shop.items exist at the source but not in the "
            "contract: add them to schemas/shop.items.avsc",
            {"note"},
        ),
        ("value of qty: 5000000000 is out of range for a 32-bit integer", set()),
        ("column(s) price of shop.items absent from an update record", set()),
    ],
)
def test_unknown_columns_are_read_from_the_reason(reason, columns):
    assert unknown_columns(reason) == columns
