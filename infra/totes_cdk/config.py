"""Deployment settings, from CDK context (`-c key=value`), with defaults per environment.

`env` picks the defaults (dev or prod); any key below can be overridden on its own. Nothing
secret is ever a setting: the source database credentials live in a Secrets Manager secret the
operator creates (`sourceSecretName`), the warehouse admin password in one Redshift manages.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "region": "eu-west-2",
        "streamMode": "provisioned",  # provisioned | on-demand
        "shardCount": 2,
        "retentionHours": 168,  # 7 days: the replay window (`cdc replay`)
        "dmsInstanceClass": "dms.t3.medium",
        "dmsMultiAz": False,
        "consumerMaxTasks": 2,
        "consumerCpu": 1024,
        "consumerMemoryMiB": 2048,
        "redshiftBaseCapacity": 8,
        "batchRetentionDays": 30,
        "deadLetterRetentionDays": 90,
        "logRetentionDays": 30,
        "iteratorAgeAlarmSeconds": 120,
        "freshnessAlarmSeconds": 300,
        "natGateways": 1,
    },
    "prod": {
        "region": "eu-west-2",
        "streamMode": "provisioned",
        "shardCount": 4,
        "retentionHours": 168,
        "dmsInstanceClass": "dms.r5.large",
        "dmsMultiAz": True,
        "consumerMaxTasks": 4,
        "consumerCpu": 2048,
        "consumerMemoryMiB": 4096,
        "redshiftBaseCapacity": 32,
        "batchRetentionDays": 90,
        "deadLetterRetentionDays": 365,
        "logRetentionDays": 365,
        "iteratorAgeAlarmSeconds": 60,
        "freshnessAlarmSeconds": 120,
        "natGateways": 3,
    },
}

# Settings with no default: where the source database is and how to reach it.
SOURCE_DEFAULTS: dict[str, Any] = {
    "sourceHost": "totesys.example.internal",
    "sourcePort": 5432,
    "sourceDatabase": "totesys",
    "sourceSecretName": "totes-cdc/source",
    "analystRoleArn": "",  # empty: the stack creates a role `totes-cdc-<env>-analyst`
    "lakeAdminArns": "",  # comma-separated IAM ARNs made Lake Formation admins (besides CDK's)
    "alarmEmail": "",  # empty: no e-mail subscription (subscribe to the topic yourself)
}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Config:
    env: str
    region: str
    account: str | None
    # Field names are the context keys, camelCase as in CDK.
    streamMode: str
    shardCount: int
    retentionHours: int
    dmsInstanceClass: str
    dmsMultiAz: bool
    consumerMaxTasks: int
    consumerCpu: int
    consumerMemoryMiB: int
    redshiftBaseCapacity: int
    batchRetentionDays: int
    deadLetterRetentionDays: int
    logRetentionDays: int
    iteratorAgeAlarmSeconds: int
    freshnessAlarmSeconds: int
    natGateways: int
    sourceHost: str
    sourcePort: int
    sourceDatabase: str
    sourceSecretName: str
    analystRoleArn: str
    lakeAdminArns: str
    alarmEmail: str

    @property
    def prefix(self) -> str:
        """Names of physical resources: `totes-cdc-<env>`."""
        return f"totes-cdc-{self.env}"

    @property
    def stream_name(self) -> str:
        return f"{self.prefix}-changes"

    @property
    def kcl_application(self) -> str:
        return f"{self.prefix}-consumer"

    @property
    def database(self) -> str:
        return "warehouse"

    @property
    def glue_database(self) -> str:
        return f"totes_cdc_{self.env}"

    @staticmethod
    def from_context(get: Any, account: str | None = None) -> Config:
        """`get(key)` reads one context value (None when unset), as App.node.try_get_context."""
        env = str(get("env") or "dev")
        if env not in DEFAULTS:
            raise ConfigError(f"-c env={env}: unknown environment; use one of {sorted(DEFAULTS)}")
        values: dict[str, Any] = {"env": env, "account": account}
        defaults = {**DEFAULTS[env], **SOURCE_DEFAULTS}
        for f in fields(Config):
            if f.name in values:
                continue
            default = defaults[f.name]
            raw = get(f.name)
            values[f.name] = default if raw is None else _coerce(f.name, raw, default)
        cfg = Config(**values)
        if cfg.streamMode not in ("provisioned", "on-demand"):
            raise ConfigError(f"-c streamMode={cfg.streamMode}: use provisioned or on-demand")
        if not 24 <= cfg.retentionHours <= 8760:
            raise ConfigError(f"-c retentionHours={cfg.retentionHours}: use 24..8760 (Kinesis)")
        if cfg.logRetentionDays not in LOG_RETENTION_DAYS:
            raise ConfigError(
                f"-c logRetentionDays={cfg.logRetentionDays}: CloudWatch Logs keeps one of "
                f"{sorted(LOG_RETENTION_DAYS)} days"
            )
        if not 1 <= cfg.shardCount <= 500:
            raise ConfigError(f"-c shardCount={cfg.shardCount}: use 1..500")
        return cfg


def _coerce(name: str, raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise ConfigError(f"-c {name}={raw}: use true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"-c {name}={raw}: use a whole number") from None
    return str(raw)


LOG_RETENTION_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1827: "FIVE_YEARS", 3653: "TEN_YEARS",
}  # fmt: skip


def log_retention(days: int) -> Any:
    """The CloudWatch Logs retention enum for `days` (validated by Config)."""
    from aws_cdk import aws_logs

    return getattr(aws_logs.RetentionDays, LOG_RETENTION_DAYS[days])
