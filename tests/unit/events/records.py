"""DMS records for unit tests, built with the capture's own message builder."""

from __future__ import annotations

from consumers.capture import dms_config
from consumers.capture.messages import MessageBuilder, TableRenderer
from consumers.contracts.model import load_contracts
from tests.conftest import DMS_DIR, SCHEMAS

_DMS = dms_config.load(DMS_DIR)
_CONTRACTS = {c.name: c for c in load_contracts(SCHEMAS)}


def _renderer(table: str) -> TableRenderer:
    c = _CONTRACTS[table]
    return TableRenderer(_DMS, c, [col.name for col in c.columns])


def insert_record(currency_id: int, code: str = "GBP", *, record_id: int = 1) -> bytes:
    b = MessageBuilder(_DMS, "task")
    values = [
        str(currency_id).encode(),
        code.encode(),
        b"2024-01-01 00:00:00",
        b"2024-01-01 00:00:00",
    ]
    return b.change(
        _renderer("currency"), "insert", values, None, xid=10, record_id=record_id,
        position=(0x100, 2, 0x100 + currency_id), commit_ts="2024-01-01T00:00:00.000000Z",
    ).data  # fmt: skip
