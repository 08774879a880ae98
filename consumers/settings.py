"""Typed settings, validated at start-up, from `CDC_*` environment variables.

Every default serves the local stack; on AWS the same names point at real endpoints.
Secrets (DSN passwords) are never logged: `redact_dsn` is what logs and status output use.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from consumers.errors import CdcError

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise CdcError(
            f"{name}={raw!r} is not a whole number: set it to a port/count or unset it"
        ) from None


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CDC_STATE_DIR", PROJECT_DIR / ".cdc"))
    )
    contracts_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CDC_CONTRACTS", PROJECT_DIR / "schemas"))
    )
    dms_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CDC_DMS_DIR", PROJECT_DIR / "infra" / "dms"))
    )
    region: str = field(default_factory=lambda: os.environ.get("CDC_REGION", "eu-west-2"))
    stream_name: str = field(default_factory=lambda: os.environ.get("CDC_STREAM", "totesys-cdc"))
    shard_count: int = field(default_factory=lambda: _env_int("CDC_SHARDS", 2) or 2)
    batch_bucket: str = field(
        default_factory=lambda: os.environ.get("CDC_BATCH_BUCKET", "totesys-cdc-batches")
    )
    dead_letter_bucket: str = field(
        default_factory=lambda: os.environ.get("CDC_DEAD_LETTER_BUCKET", "totesys-cdc-dead-letters")
    )
    # How bytea values are spelled in the records: hex, as DMS documents for binary (BLOB)
    # values (with or without 0x, any case: KinesisSettings.NoHexPrefix), or base64 for a
    # producer that writes base64. Hex text is also valid base64, so a wrong choice can load
    # wrong bytes without a decode error: `cdc verify` compares the bytes and catches it.
    binary_encoding: str = field(
        default_factory=lambda: os.environ.get("CDC_BINARY_ENCODING", "hex")
    )
    # The consumers' C fast path (events/fast.py); CDC_FAST_PATH=0 sends every record through
    # the reference decoder (same results, slower: for diagnosis, and tests of both paths).
    fast_path: bool = field(default_factory=lambda: os.environ.get("CDC_FAST_PATH", "1") != "0")
    # DMS writes every column, NULLs included (KinesisSettings IncludeNullAndEmpty, shipped
    # true): a column absent from an insert was dropped at the source (events/decode.py).
    # CDC_NULLS_PRESENT=0 for a DMS endpoint without it (an absent column is then a NULL).
    nulls_present: bool = field(
        default_factory=lambda: os.environ.get("CDC_NULLS_PRESENT", "1") != "0"
    )
    # `cdc run` compares the contracts with the source catalog this often (contracts/drift.py).
    drift_check_seconds: int = field(
        default_factory=lambda: _env_int("CDC_DRIFT_CHECK_SECONDS", 60) or 0
    )
    # The warehouse `cdc verify`, `cdc status` and `cdc warehouse bootstrap` use when no
    # --warehouse is given: a PostgreSQL DSN or redshift://... (warehouse/target.py); checked
    # by those commands, so a malformed value never stops the others.
    warehouse: str | None = field(default_factory=lambda: os.environ.get("CDC_WAREHOUSE") or None)
    pg_port: int | None = field(default_factory=lambda: _env_int("CDC_PG_PORT", None))
    moto_port: int | None = field(default_factory=lambda: _env_int("CDC_MOTO_PORT", None))

    @property
    def own_contracts(self) -> bool:
        """Contracts other than the repository's schemas/: the DMS selection rules are then
        derived from them, not read from infra/dms/table-mappings.json (dms_config.load)."""
        return self.contracts_dir.resolve() != (PROJECT_DIR / "schemas").resolve()

    def __post_init__(self) -> None:
        if not 1 <= self.shard_count <= 64:
            raise CdcError(f"CDC_SHARDS={self.shard_count} is out of range: use 1..64")
        if self.binary_encoding not in ("hex", "base64"):
            raise CdcError(
                f"CDC_BINARY_ENCODING={self.binary_encoding!r} is not supported: use hex (what "
                "DMS writes) or base64"
            )
        for port in (self.pg_port, self.moto_port):
            if port is not None and not 1024 <= port <= 65535:
                raise CdcError(f"port {port} is out of range: use 1024..65535")


_PASSWORD = re.compile(r"(password=|://[^:/@]+:)([^ @]+)")


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ***, for logs and status output."""
    return _PASSWORD.sub(lambda m: m.group(1) + "***", dsn)
