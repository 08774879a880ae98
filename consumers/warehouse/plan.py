"""A table's load as a typed plan: an ordered list of statements run as ONE transaction.

Any failure rolls the whole transaction back: nothing is half-applied, the batches stay
pending, and the next run retries them. Each step has its own builder below, named after the
step, in plan order; its docstring says what the step is for and what its failure means.
`build_load` (keyed tables) and `build_keyless_load` (tables without a primary key) read as
the plan itself:

  lock       serialize loads of this table (concurrent loaders wait here)
  stage      create the staging table; COPY the batches' Parquet files into it
  skip       drop staged rows of batches already in the ledger (a retried or concurrent load)
  latest     keep each key's newest change (highest ordering version)
  truncated  drop keys whose newest change is older than the table's last TRUNCATE
             (warehouse/truncate.py; the truncate log's own plan also locks every table first
             and, after its MERGE, deletes each table's rows older than its last TRUNCATE)
  guard      drop changes not newer than the stored row or the key's tombstone
  toast      fill unchanged-TOAST columns from the newest staged change that has them, else
             the stored row (never store a placeholder), recording in _cdc_unknown which
             version each such value came from (-1: not known yet)
  delete     hard-delete tables: delete rows and record tombstones
  merge      upsert everything else (soft-delete tables: deletes set _cdc_deleted)
  late-fill  after the MERGE: a staged change older than the row but newer than a column's
             recorded origin supplies that column (batches may be applied in any order)
  ledger     record the applied batches, in the same transaction as the MERGE

Redshift's differences, all in this module decided by `d.MERGE_WITH_CONDITIONS` (the rest is
in the dialect's small builders: lock, COPY, clocks, regex): its MERGE allows one WHEN MATCHED
(no extra condition) and one WHEN NOT MATCHED, and needs source rows unique per key. `latest`
guarantees uniqueness; the `guard` step (Redshift only) replaces the MATCHED condition that
skips stale changes; a hard delete is a DELETE before the MERGE instead of a WHEN MATCHED ...
THEN DELETE clause, and the MERGE's source leaves deletes out.

Why f-string builders and not sqlglot expressions rendered per dialect (issue 14, item 4):
- sqlglot is a development dependency (tests parse every statement with it); building with it
  would put it in the runtime, and in the planning Lambda's package, for every load.
- Its generator normalizes what it prints (measured with sqlglot 30.30 on the golden load
  plans: re-rendering each statement, `parse_one(s, read=d).sql(dialect=d)`, changes 143 of
  255 PostgreSQL and 147 of 263 Redshift statements, and LOCK stays an opaque command), so the
  golden SQL would not stay byte-identical, and reviewers read the SQL that runs.
- The dialects differ in statements, not in spelling: Redshift gets other steps (guard, a
  DELETE instead of a MERGE clause), which per-dialect rendering of one tree cannot express;
  where they differ in spelling (LOCK, COPY, clocks, regex) the dialect class already has a
  one-line builder. A MERGE with window functions as an expression tree is also several times
  longer than its SQL.
The safety sqlglot would give is kept by the tests: every golden Redshift statement is parsed
by its redshift dialect (tests/unit/warehouse/test_golden_sql.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from consumers.contracts.model import TableContract
from consumers.contracts.types import TOASTABLE
from consumers.warehouse.dialect import LEDGER, PostgresDialect, lit, q
from consumers.warehouse.truncate import TruncationLog

COPY_STEP = "stage-copy"
LATEST = q("latest")


@dataclass(frozen=True)
class Step:
    name: str
    sql: str


@dataclass(frozen=True)
class LoadPlan:
    table: str
    dialect: str
    steps: list[Step] = field(default_factory=list)

    @property
    def statements(self) -> list[str]:
        return [s.sql for s in self.steps]


def _keys_equal(c: TableContract, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{q(k)} = {right}.{q(k)}" for k in c.warehouse_key)


def _marker(source_name: str) -> str:
    """`,<column>,`: how `_cdc_unchanged` lists an unchanged-TOAST column."""
    return lit(f",{source_name},")


def _has_value(source_name: str) -> str:
    """The staged change `s` carries the column's value (it is not an unchanged TOAST)."""
    marker = _marker(source_name)
    return f'(s."_cdc_unchanged" IS NULL OR POSITION({marker} IN s."_cdc_unchanged") = 0)'


@dataclass(frozen=True)
class _Table:
    """What every step of a keyed table's plan needs, computed once."""

    d: PostgresDialect
    c: TableContract

    @cached_property
    def target(self) -> str:
        return self.d.table(self.c)

    @cached_property
    def cols(self) -> list[str]:
        return [col.warehouse_name for col in self.c.columns]

    @cached_property
    def keys(self) -> str:
        return ", ".join(q(k) for k in self.c.warehouse_key)

    @cached_property
    def by_key(self) -> str:
        return ", ".join(f"s.{q(k)}" for k in self.c.warehouse_key)

    @property
    def hard(self) -> bool:
        return self.c.delete_mode == "hard"

    @property
    def conditional(self) -> bool:
        return self.d.MERGE_WITH_CONDITIONS

    @cached_property
    def toast(self) -> list[tuple[str, str]]:
        """(name in the change metadata, i.e. at the source; warehouse column name) of each
        column whose value may arrive as an unchanged TOAST."""
        return [(col.name, col.warehouse_name) for col in self.c.columns if col.kind in TOASTABLE]


# ---------------------------------------------------------------- steps shared by both plans


def lock_truncated_tables(d: PostgresDialect, log: TruncationLog) -> Step:
    """The truncate log's plan only: lock every table it truncates, before its own, in one
    sorted statement (no deadlock with their loads). Fails: a lock timeout; retried."""
    return Step("lock-truncated-tables", log.lock_tables(d))


def staging(d: PostgresDialect, c: TableContract, manifest_url: str, iam_role: str) -> list[Step]:
    """lock, stage, skip: the first steps of every plan.

    lock   serializes this table's loads. Fails: a lock timeout; retried.
    stage  COPYs the batches' Parquet files into the temporary `stage`. Fails: an object
           missing or unreadable, a value the column refuses (quarantined: failures.py).
    skip   drops staged rows of batches the ledger already has (a retried or concurrent load
           applied them), so no batch is applied twice."""
    return [
        Step("lock", d.lock(c)),
        Step("stage-drop", d.drop_temp("stage")),
        Step("stage-create", d.create_stage(c)),
        Step(COPY_STEP, d.copy_stage(c, manifest_url, iam_role)),
        Step(
            "skip",
            f'DELETE FROM "stage" WHERE "_cdc_batch" IN (SELECT batch_id FROM {LEDGER} '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f"WHERE table_name = {lit(c.qualified)})",
        ),
        Step("latest-drop", d.drop_temp("latest")),
    ]


def truncated(d: PostgresDialect, c: TableContract, log: TruncationLog | None) -> list[Step]:
    """Drop `latest` keys older than the table's last TRUNCATE (warehouse/truncate.py); none
    without a truncate log, or for a table it does not name."""
    source = next((s for s, t in log.tables.items() if t == c), None) if log else None
    return [Step("truncated", log.drop_truncated(d, source))] if log and source else []


def ledger(d: PostgresDialect, c: TableContract) -> Step:
    """Record every staged batch as applied, in the MERGE's transaction: a batch is applied
    exactly when it is in the ledger. Fails: only with the transaction."""
    return Step(
        "ledger",
        f"INSERT INTO {LEDGER} (batch_id, table_name, row_count, started_at, applied_at) "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        f'SELECT "_cdc_batch", {lit(c.qualified)}, COUNT(*), {d.transaction_start()}, '
        f'{d.clock()} FROM "stage" GROUP BY "_cdc_batch"',
    )


def cleanup(d: PostgresDialect, *temps: str) -> list[Step]:
    """Drop the temporary tables (a pooled session may run the next load)."""
    return [Step(f"cleanup-{name}", d.drop_temp(name)) for name in temps]


# ---------------------------------------------------------------- keyed tables


def latest(t: _Table) -> Step:
    """One row per key: its newest staged change. Redshift's MERGE needs its source unique per
    key, and only the newest change of a key matters (older ones are superseded)."""
    meta = ["_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_batch", "_cdc_unchanged"]
    picked = ", ".join(q(n) for n in [*t.cols, *meta])
    return Step(
        "latest",
        f'CREATE TEMP TABLE "latest" AS SELECT {picked}, CAST(NULL AS varchar(65535)) AS '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        f'"_cdc_unknown" FROM (SELECT *, ROW_NUMBER() OVER '
        f'(PARTITION BY {t.keys} ORDER BY "_cdc_version" DESC) AS "_cdc_rank" FROM "stage") '
        f'AS s WHERE "_cdc_rank" = 1',
    )


def guard(t: _Table) -> list[Step]:
    """Redshift only: drop changes not newer than the stored row, which PostgreSQL's MERGE
    skips with a WHEN MATCHED condition Redshift does not allow. Without it a replayed or late
    change would overwrite a newer row."""
    if t.conditional:
        return []
    return [
        Step(
            "guard",
            f'DELETE FROM "latest" USING {t.target} AS t WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f"{_keys_equal(t.c, 't', LATEST)} AND "
            't."_cdc_version" >= "latest"."_cdc_version"',
        )
    ]


def guard_tombstones(t: _Table) -> list[Step]:
    """Hard-delete tables: drop changes not newer than the key's tombstone, so a late change
    never brings a deleted row back."""
    if not t.hard:
        return []
    return [
        Step(
            "guard-tombstones",
            f'DELETE FROM "latest" USING {t.d.tombstones(t.c)} AS x WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'{_keys_equal(t.c, "x", LATEST)} AND x."_cdc_version" >= '
            '"latest"."_cdc_version"',
        )
    ]


def toast_from_stage(t: _Table) -> list[Step]:
    """Per TOAST-able column: an unchanged value comes first from the newest staged change of
    the key that carries it and is newer than the stored row (one load can stage several
    batches of a key); `_cdc_unknown` records the version it came from."""
    steps = []
    for n, w in t.toast:
        marker = _marker(n)
        steps.append(
            Step(
                f"toast-stage-{w}",
                f'UPDATE "latest" SET {q(w)} = f.{q(w)}, "_cdc_unchanged" = '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f'REPLACE("latest"."_cdc_unchanged", {marker}, \',\'), "_cdc_unknown" = '
                f'COALESCE("latest"."_cdc_unknown", \',\') || {lit(n + ":")} || '
                f"CAST(f.\"_cdc_version\" AS varchar(40)) || ',' FROM (SELECT s.*, "
                f"ROW_NUMBER() OVER (PARTITION BY {t.by_key} "
                f'ORDER BY s."_cdc_version" DESC) AS "_cdc_rank" FROM "stage" AS s LEFT JOIN '
                f"{t.target} AS t ON {_keys_equal(t.c, 't', 's')} WHERE {_has_value(n)} AND "
                f'(t."_cdc_version" IS NULL OR s."_cdc_version" > t."_cdc_version") AND EXISTS '
                f'(SELECT 1 FROM "latest" AS u WHERE {_keys_equal(t.c, "u", "s")} AND '
                f'POSITION({marker} IN u."_cdc_unchanged") > 0)) AS f '
                f'WHERE {_keys_equal(t.c, "f", LATEST)} AND f."_cdc_rank" = 1 AND '
                f'POSITION({marker} IN "latest"."_cdc_unchanged") > 0',
            )
        )
    return steps


def toast_from_stored(t: _Table) -> list[Step]:
    """toast: what is still unchanged comes from the stored row (with the version it came
    from); toast-unknown: with no stored row either, the value is unknown (-1) until an older
    change arrives (late-fill). Never stores the TOAST placeholder."""
    if not t.toast:
        return []
    sets = ", ".join(
        f'{q(w)} = CASE WHEN POSITION({_marker(n)} IN "latest"."_cdc_unchanged") > 0 '
        f'THEN t.{q(w)} ELSE "latest".{q(w)} END'
        for n, w in t.toast
    )
    stored = 't."_cdc_unknown"'
    origin = " || ".join(
        f'CASE WHEN POSITION({_marker(n)} IN "latest"."_cdc_unchanged") > 0 THEN '
        f"{lit(n + ':')} || CAST(COALESCE({t.d.provenance(stored, n)}, "
        f"t.\"_cdc_version\") AS varchar(40)) || ',' ELSE '' END"
        for n, _ in t.toast
    )
    unknown = " || ".join(
        f'CASE WHEN POSITION({_marker(n)} IN "_cdc_unchanged") > 0 THEN '
        f"{lit(n + ':-1,')} ELSE '' END"
        for n, _ in t.toast
    )
    return [
        Step(
            "toast",
            f'UPDATE "latest" SET {sets}, "_cdc_unknown" = COALESCE("latest"."_cdc_unknown", '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f"',') || {origin}, \"_cdc_unchanged\" = NULL FROM {t.target} AS t WHERE "
            f'{_keys_equal(t.c, "t", LATEST)} AND "latest"."_cdc_unchanged" IS NOT NULL',
        ),
        Step(
            "toast-unknown",
            f'UPDATE "latest" SET "_cdc_unknown" = COALESCE("_cdc_unknown", \',\') || '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'{unknown} WHERE "_cdc_unchanged" IS NOT NULL',
        ),
    ]


def delete(t: _Table) -> list[Step]:
    """Hard-delete tables: delete the rows whose newest change is a delete, and record the
    keys and versions in the tombstones (guard-tombstones reads them). A statement of its own
    in both dialects (Redshift's MERGE cannot delete; PostgreSQL's MERGE then finds nothing to
    delete). Only a row older than the delete goes: on Redshift the guard step has already
    dropped stale changes; PostgreSQL has no guard step, so the version is checked here, else
    a delete loaded after a newer re-insert of its key would remove the row (found in the
    issue 14 refactor; tests/integration/test_plan_order.py)."""
    if not t.hard:
        return []
    tomb = t.d.tombstones(t.c)
    deleted = '"latest"."_cdc_op" = \'delete\''
    newer = f' AND {t.target}."_cdc_version" < "latest"."_cdc_version"' if t.conditional else ""
    return [
        Step(
            "delete",
            f'DELETE FROM {t.target} USING "latest" WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f"{_keys_equal(t.c, t.target, LATEST)} AND {deleted}{newer}",
        ),
        Step(
            "tombstones-clear",
            f'DELETE FROM {tomb} USING "latest" WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f"{_keys_equal(t.c, tomb, LATEST)} AND {deleted}",
        ),
        Step(
            "tombstones",
            f'INSERT INTO {tomb} ({t.keys}, "_cdc_version") SELECT {t.keys}, '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'"_cdc_version" FROM "latest" WHERE "_cdc_op" = \'delete\'',
        ),
    ]


def merge(t: _Table) -> Step:
    """Upsert every remaining change. Soft-delete tables: a delete keeps the row's last values
    and sets _cdc_deleted. PostgreSQL: stale changes are skipped and hard deletes applied by
    conditional WHEN clauses; Redshift: one unconditional WHEN MATCHED, stale changes already
    guarded away and deletes left out of the source. Fails: a value the table refuses
    (quarantined), a conflicting concurrent write (retried)."""
    target, hard, now = t.target, t.hard, t.d.now()
    is_delete = "s.\"_cdc_op\" = 'delete'"
    if hard and not t.conditional:
        source = 'SELECT * FROM "latest" WHERE "_cdc_op" <> \'delete\''
    else:
        source = 'SELECT * FROM "latest"'
    if hard:
        updates = [f"{q(n)} = s.{q(n)}" for n in t.cols]
    else:  # soft: a delete keeps the row's last values and flags it
        updates = [
            f"{q(n)} = CASE WHEN {is_delete} THEN {target}.{q(n)} ELSE s.{q(n)} END" for n in t.cols
        ]
    updates += [
        '"_cdc_version" = s."_cdc_version"',
        '"_cdc_op" = s."_cdc_op"',
        '"_cdc_commit_ts" = s."_cdc_commit_ts"',
        f'"_cdc_loaded_at" = {now}',
        f'"_cdc_deleted" = {"false" if hard else is_delete}',
        '"_cdc_unknown" = s."_cdc_unknown"'
        if hard
        else f'"_cdc_unknown" = CASE WHEN {is_delete} THEN {target}."_cdc_unknown" '
        'ELSE s."_cdc_unknown" END',
    ]
    insert_cols = ", ".join(
        q(n)
        for n in [*t.cols, "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at",
                  "_cdc_deleted", "_cdc_unknown"]
    )  # fmt: skip
    insert_vals = ", ".join(
        [f"s.{q(n)}" for n in t.cols]
        + ['s."_cdc_version"', 's."_cdc_op"', 's."_cdc_commit_ts"', now,
           "false" if hard else is_delete, 's."_cdc_unknown"']
    )  # fmt: skip
    update = f"UPDATE SET {', '.join(updates)}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
    insert = f"INSERT ({insert_cols}) VALUES ({insert_vals})"
    if not t.conditional:
        clauses = f"WHEN MATCHED THEN {update} WHEN NOT MATCHED THEN {insert}"
    elif hard:
        clauses = (
            f'WHEN MATCHED AND {target}."_cdc_version" >= s."_cdc_version" THEN DO NOTHING '
            f"WHEN MATCHED AND {is_delete} THEN DELETE WHEN MATCHED THEN {update} "
            f"WHEN NOT MATCHED AND NOT {is_delete} THEN {insert}"
        )
    else:
        clauses = (
            f'WHEN MATCHED AND {target}."_cdc_version" >= s."_cdc_version" THEN DO NOTHING '
            f"WHEN MATCHED THEN {update} WHEN NOT MATCHED THEN {insert}"
        )
    on = _keys_equal(t.c, target, "s")
    return Step("merge", f"MERGE INTO {target} USING ({source}) AS s ON {on} {clauses}")


def late_fill(t: _Table) -> list[Step]:
    """Per TOAST-able column, after the MERGE: a stored value that came from an older change
    (or is unknown) is replaced by a staged change older than the row but newer than that
    origin, because batches may be applied in any order."""
    steps = []
    for n, w in t.toast:
        origin = t.d.provenance('t2."_cdc_unknown"', n)
        prefix = lit(f",{n}:")
        steps.append(
            Step(
                f"late-fill-{w}",
                f'UPDATE {t.target} SET {q(w)} = f.{q(w)}, "_cdc_unknown" = '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f'REPLACE({t.target}."_cdc_unknown", {prefix} || CAST(f."_cdc_from" AS '
                f"varchar(40)) || ',', {prefix} || CAST(f.\"_cdc_version\" AS varchar(40)) || "
                f"',') FROM (SELECT s.*, {origin} AS \"_cdc_from\", ROW_NUMBER() OVER "
                f"(PARTITION BY {t.by_key} ORDER BY "
                f's."_cdc_version" DESC) AS "_cdc_rank" FROM "stage" AS s JOIN {t.target} AS t2 '
                f"ON {_keys_equal(t.c, 't2', 's')} WHERE s.\"_cdc_op\" <> 'delete' AND "
                f'{_has_value(n)} AND s."_cdc_version" < t2."_cdc_version" AND '
                f's."_cdc_version" > {origin}) AS f '
                f'WHERE {_keys_equal(t.c, t.target, "f")} AND f."_cdc_rank" = 1',
            )
        )
    return steps


def build_load(
    d: PostgresDialect,
    c: TableContract,
    *,
    manifest_url: str = "",
    iam_role: str = "",
    truncations: TruncationLog | None = None,
) -> LoadPlan:
    """`truncations`: the warehouse's truncate log, when the contracts have one
    (warehouse/truncate.py: its steps, and why they keep any load order right)."""
    if c.keyless:
        return build_keyless_load(
            d, c, manifest_url=manifest_url, iam_role=iam_role, truncations=truncations
        )
    t = _Table(d, c)
    is_log = truncations is not None and truncations.log == c
    steps = [
        *([lock_truncated_tables(d, truncations)] if truncations and is_log else []),
        *staging(d, c, manifest_url, iam_role),
        latest(t),
        *truncated(d, c, truncations),
        *guard(t),
        *guard_tombstones(t),
        *toast_from_stage(t),
        *toast_from_stored(t),
        *delete(t),
        merge(t),
        *late_fill(t),
        *([Step(n, sql) for n, sql in truncations.apply(d)] if truncations and is_log else []),
        ledger(d, c),
        *cleanup(d, "stage", "latest"),
    ]
    return LoadPlan(c.qualified, d.name, steps)


# ---------------------------------------------------------------- tables without a primary key

# A staged change's identity: its ordering version (commit LSN and position in the transaction:
# unique per change), or its Kinesis record for a full-load row (version 0 for all of them).
_ROW_ID = (
    'CASE WHEN "_cdc_version" = 0 THEN \'load:\' || "_cdc_shard" || \':\' || "_cdc_sequence" '
    'ELSE CAST("_cdc_version" AS varchar(40)) END'
)
_REMOVAL = "\"_cdc_op\" = 'delete'"
_ADDITION = "\"_cdc_op\" <> 'delete'"


def keyless_latest(d: PostgresDialect, c: TableContract) -> Step:
    """One row per change identity and kind: the same change delivered twice (a Kinesis
    record read again into another batch, a producer retry) counts once."""
    picked = ", ".join(q(col.warehouse_name) for col in c.columns)
    meta = '"_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_batch", "_cdc_row"'
    return Step(
        "latest",
        f'CREATE TEMP TABLE "latest" AS SELECT {picked}, {meta}, {d.row_hash(c)} AS '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        f'"_cdc_hash" FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "_cdc_row", "_cdc_op" '
        f'ORDER BY "_cdc_batch") AS "_cdc_rank" FROM (SELECT *, {_ROW_ID} AS "_cdc_row" '
        'FROM "stage") AS s0) AS s WHERE "_cdc_rank" = 1',
    )


def keyless_guard(d: PostgresDialect, c: TableContract) -> list[Step]:
    """Drop additions whose row is stored, or was stored and removed (tombstones), and
    removals already applied (tombstones, by version): a redelivered change is a no-op."""
    target, tomb = d.table(c), d.tombstones(c)
    return [
        Step(
            "guard-stored",
            f'DELETE FROM "latest" USING {target} AS t WHERE t."_cdc_row" = "latest"."_cdc_row" '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'AND "latest".{_ADDITION}',
        ),
        Step(
            "guard-removed",
            f'DELETE FROM "latest" USING {tomb} AS x WHERE x."_cdc_row" = "latest"."_cdc_row" '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'AND "latest".{_ADDITION}',
        ),
        Step(
            "guard-removals",
            f'DELETE FROM "latest" USING {tomb} AS x WHERE x."_cdc_version" = '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'"latest"."_cdc_version" AND "latest".{_REMOVAL}',
        ),
    ]


def pairs(d: PostgresDialect, c: TableContract) -> list[Step]:
    """Pair the k-th removal of a row value with the k-th row holding that value (stored rows
    first, then this load's additions): rows with equal values are interchangeable, so this
    is the multiset difference."""
    return [
        Step("pairs-drop", d.drop_temp("pairs")),
        Step(
            "pairs",
            'CREATE TEMP TABLE "pairs" AS SELECT r."_cdc_version", a."_cdc_row" FROM (SELECT '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            '"_cdc_hash", "_cdc_version", ROW_NUMBER() OVER (PARTITION BY "_cdc_hash" ORDER BY '
            f'"_cdc_version") AS "_cdc_n" FROM "latest" WHERE {_REMOVAL}) AS r LEFT JOIN '
            '(SELECT "_cdc_hash", "_cdc_row", ROW_NUMBER() OVER (PARTITION BY "_cdc_hash" '
            'ORDER BY "_cdc_origin", "_cdc_version", "_cdc_row") AS "_cdc_n" FROM (SELECT '
            't."_cdc_hash", t."_cdc_row", t."_cdc_version", 0 AS "_cdc_origin" FROM '
            f'{d.table(c)} AS t WHERE t."_cdc_hash" IN (SELECT "_cdc_hash" FROM "latest" WHERE '
            f'{_REMOVAL}) UNION ALL SELECT "_cdc_hash", "_cdc_row", "_cdc_version", 1 FROM '
            f'"latest" WHERE {_ADDITION}) AS u) AS a ON a."_cdc_hash" = r."_cdc_hash" AND '
            'a."_cdc_n" = r."_cdc_n"',
        ),
    ]


def remove(d: PostgresDialect, c: TableContract) -> list[Step]:
    """Delete the paired rows: stored ones, and additions cancelled within this load."""
    target = d.table(c)
    return [
        Step(
            "remove",
            f'DELETE FROM {target} USING "pairs" WHERE {target}."_cdc_row" = "pairs"."_cdc_row"',  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        ),
        Step(
            "remove-staged",
            'DELETE FROM "latest" USING "pairs" WHERE "latest"."_cdc_row" = "pairs"."_cdc_row" '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'AND "latest".{_ADDITION}',
        ),
    ]


def keyless_tombstones(d: PostgresDialect, c: TableContract) -> Step:
    """Record each removal with the row it removed; a removal that found no row (its addition
    was never loaded: see "Quarantine" in the README) is recorded with NULL, and counted by
    the loader."""
    return Step(
        "tombstones",
        f'INSERT INTO {d.tombstones(c)} ("_cdc_row", "_cdc_version") SELECT "_cdc_row", '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        '"_cdc_version" FROM "pairs"',
    )


def insert(d: PostgresDialect, c: TableContract) -> Step:
    """The remaining additions, with their identity and value hash."""
    picked = ", ".join(q(col.warehouse_name) for col in c.columns)
    return Step(
        "insert",
        f'INSERT INTO {d.table(c)} ({picked}, "_cdc_version", "_cdc_op", '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        '"_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted", "_cdc_row", "_cdc_hash") '
        f'SELECT {picked}, "_cdc_version", "_cdc_op", "_cdc_commit_ts", {d.now()}, false, '
        f'"_cdc_row", "_cdc_hash" FROM "latest" WHERE {_ADDITION}',
    )


def build_keyless_load(
    d: PostgresDialect,
    c: TableContract,
    *,
    manifest_url: str = "",
    iam_role: str = "",
    truncations: TruncationLog | None = None,
) -> LoadPlan:
    """The load of a table without a primary key, as one transaction. Staged rows are additions
    (full-load rows, inserts, an update's new row) and removals (op `delete`: a delete's old row,
    an update's old row; only under REPLICA IDENTITY FULL). Every change is applied once; the
    same plan in both dialects (no MERGE)."""
    return LoadPlan(
        c.qualified,
        d.name,
        [
            *staging(d, c, manifest_url, iam_role),
            keyless_latest(d, c),
            *truncated(d, c, truncations),
            *keyless_guard(d, c),
            *pairs(d, c),
            *remove(d, c),
            keyless_tombstones(d, c),
            insert(d, c),
            ledger(d, c),
            *cleanup(d, "stage", "latest", "pairs"),
        ],
    )
