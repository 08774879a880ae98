"""A table's load as a typed plan: an ordered list of statements run as ONE transaction.

Steps, with what a failure at each means (any failure rolls the whole transaction back; nothing
is half-applied, the batches stay pending, and the next run retries them):
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
  late-fill  after the MERGE: a staged change older than the row but newer than a column's
             recorded origin supplies that column (batches may be applied in any order)
  delete     hard-delete tables: delete rows and record tombstones
  merge      upsert everything else (soft-delete tables: deletes set _cdc_deleted)
  ledger     record the applied batches, in the same transaction as the MERGE
Redshift's MERGE allows one WHEN MATCHED (no extra condition) and one WHEN NOT MATCHED, and needs
source rows unique per key: `latest` guarantees that, and `guard` replaces a MATCHED condition.

A table without a primary key is a multiset of rows and has its own plan (`build_keyless_load`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consumers.contracts.model import TableContract
from consumers.contracts.types import TOASTABLE
from consumers.warehouse.dialect import LEDGER, PostgresDialect, lit, q
from consumers.warehouse.truncate import TruncationLog

COPY_STEP = "stage-copy"


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


def _staging(d: PostgresDialect, c: TableContract, manifest_url: str, iam_role: str) -> list[Step]:
    """The first steps of every plan: lock the table, COPY the batches into `stage`, drop
    batches the ledger already has (a retried or concurrent load)."""
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
    target = d.table(c)
    cols = [col.warehouse_name for col in c.columns]
    keys = ", ".join(q(k) for k in c.warehouse_key)
    meta = ["_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_batch", "_cdc_unchanged"]
    picked = ", ".join(q(n) for n in [*cols, *meta])
    hard = c.delete_mode == "hard"
    steps = [
        *_staging(d, c, manifest_url, iam_role),
        Step(
            "latest",
            f'CREATE TEMP TABLE "latest" AS SELECT {picked}, CAST(NULL AS varchar(65535)) AS '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'"_cdc_unknown" FROM (SELECT *, ROW_NUMBER() OVER '
            f'(PARTITION BY {keys} ORDER BY "_cdc_version" DESC) AS "_cdc_rank" FROM "stage") '
            f'AS s WHERE "_cdc_rank" = 1',
        ),
    ]
    steps += _truncated(d, c, truncations)
    is_log = truncations is not None and truncations.log == c
    if truncations and is_log:
        steps.insert(0, Step("lock-truncated-tables", truncations.lock_tables(d)))
    conditional = d.MERGE_WITH_CONDITIONS
    if not conditional:  # Redshift: stale changes leave `latest` before its MERGE
        steps.append(
            Step(
                "guard",
                f'DELETE FROM "latest" USING {target} AS t WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f"{_keys_equal(c, 't', q('latest'))} AND "
                't."_cdc_version" >= "latest"."_cdc_version"',
            )
        )
    if hard:
        steps.append(
            Step(
                "guard-tombstones",
                f'DELETE FROM "latest" USING {d.tombstones(c)} AS x WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f'{_keys_equal(c, "x", q("latest"))} AND x."_cdc_version" >= '
                '"latest"."_cdc_version"',
            )
        )
    # (name in the change metadata, i.e. at the source; warehouse column name)
    toast = [(col.name, col.warehouse_name) for col in c.columns if col.kind in TOASTABLE]
    by_key = ", ".join(f"s.{q(k)}" for k in c.warehouse_key)
    for n, w in toast:
        # One load can stage several batches of a key: an unchanged value comes first from the
        # newest staged change that carries it and is newer than the stored row...
        marker = lit(f",{n},")
        present = f'(s."_cdc_unchanged" IS NULL OR POSITION({marker} IN s."_cdc_unchanged") = 0)'
        steps.append(
            Step(
                f"toast-stage-{w}",
                f'UPDATE "latest" SET {q(w)} = f.{q(w)}, "_cdc_unchanged" = '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f'REPLACE("latest"."_cdc_unchanged", {marker}, \',\'), "_cdc_unknown" = '
                f'COALESCE("latest"."_cdc_unknown", \',\') || {lit(n + ":")} || '
                f"CAST(f.\"_cdc_version\" AS varchar(40)) || ',' FROM (SELECT s.*, "
                f"ROW_NUMBER() OVER (PARTITION BY {by_key} "
                f'ORDER BY s."_cdc_version" DESC) AS "_cdc_rank" FROM "stage" AS s LEFT JOIN '
                f"{target} AS t ON {_keys_equal(c, 't', 's')} WHERE {present} AND "
                f'(t."_cdc_version" IS NULL OR s."_cdc_version" > t."_cdc_version") AND EXISTS '
                f'(SELECT 1 FROM "latest" AS u WHERE {_keys_equal(c, "u", "s")} AND '
                f'POSITION({marker} IN u."_cdc_unchanged") > 0)) AS f '
                f'WHERE {_keys_equal(c, "f", q("latest"))} AND f."_cdc_rank" = 1 AND '
                f'POSITION({marker} IN "latest"."_cdc_unchanged") > 0',
            )
        )
    if toast:
        # ...and otherwise from the stored row.
        sets = ", ".join(
            f'{q(w)} = CASE WHEN POSITION({lit(f",{n},")} IN "latest"."_cdc_unchanged") > 0 '
            f'THEN t.{q(w)} ELSE "latest".{q(w)} END'
            for n, w in toast
        )
        stored = 't."_cdc_unknown"'
        origin = " || ".join(
            f'CASE WHEN POSITION({lit(f",{n},")} IN "latest"."_cdc_unchanged") > 0 THEN '
            f"{lit(n + ':')} || CAST(COALESCE({d.provenance(stored, n)}, "
            f"t.\"_cdc_version\") AS varchar(40)) || ',' ELSE '' END"
            for n, _ in toast
        )
        unknown = " || ".join(
            f'CASE WHEN POSITION({lit(f",{n},")} IN "_cdc_unchanged") > 0 THEN '
            f"{lit(n + ':-1,')} ELSE '' END"
            for n, _ in toast
        )
        steps += [
            Step(
                "toast",
                f'UPDATE "latest" SET {sets}, "_cdc_unknown" = COALESCE("latest"."_cdc_unknown", '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f"',') || {origin}, \"_cdc_unchanged\" = NULL FROM {target} AS t WHERE "
                f'{_keys_equal(c, "t", q("latest"))} AND "latest"."_cdc_unchanged" IS NOT NULL',
            ),
            # No stored row and no older staged change: unknown until an older change arrives.
            Step(
                "toast-unknown",
                f'UPDATE "latest" SET "_cdc_unknown" = COALESCE("_cdc_unknown", \',\') || '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f'{unknown} WHERE "_cdc_unchanged" IS NOT NULL',
            ),
        ]
    if hard:
        deleted = '"latest"."_cdc_op" = \'delete\''
        steps += [
            Step(
                "delete",
                f'DELETE FROM {target} USING "latest" WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f"{_keys_equal(c, target, q('latest'))} AND {deleted}",
            ),
            Step(
                "tombstones-clear",
                f'DELETE FROM {d.tombstones(c)} USING "latest" WHERE '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f"{_keys_equal(c, d.tombstones(c), q('latest'))} AND {deleted}",
            ),
            Step(
                "tombstones",
                f'INSERT INTO {d.tombstones(c)} ({keys}, "_cdc_version") SELECT {keys}, '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f'"_cdc_version" FROM "latest" WHERE "_cdc_op" = \'delete\'',
            ),
        ]
    now = d.now()
    is_delete = "s.\"_cdc_op\" = 'delete'"
    if hard and not conditional:
        source = 'SELECT * FROM "latest" WHERE "_cdc_op" <> \'delete\''
    else:
        source = 'SELECT * FROM "latest"'
    if hard:
        updates = [f"{q(n)} = s.{q(n)}" for n in cols]
    else:  # soft: a delete keeps the row's last values and flags it
        updates = [
            f"{q(n)} = CASE WHEN {is_delete} THEN {target}.{q(n)} ELSE s.{q(n)} END" for n in cols
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
        for n in [*cols, "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at",
                  "_cdc_deleted", "_cdc_unknown"]
    )  # fmt: skip
    insert_vals = ", ".join(
        [f"s.{q(n)}" for n in cols]
        + ['s."_cdc_version"', 's."_cdc_op"', 's."_cdc_commit_ts"', now,
           "false" if hard else is_delete, 's."_cdc_unknown"']
    )  # fmt: skip
    on = _keys_equal(c, target, "s")
    update = f"UPDATE SET {', '.join(updates)}"  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
    insert = f"INSERT ({insert_cols}) VALUES ({insert_vals})"
    if conditional:
        stale = f'{target}."_cdc_version" >= s."_cdc_version"'
        clauses = f"WHEN MATCHED AND {stale} THEN DO NOTHING "
        if hard:
            clauses += (
                f"WHEN MATCHED AND {is_delete} THEN DELETE WHEN MATCHED THEN {update} "
                f"WHEN NOT MATCHED AND NOT {is_delete} THEN {insert}"
            )
        else:
            clauses += f"WHEN MATCHED THEN {update} WHEN NOT MATCHED THEN {insert}"
    else:
        clauses = f"WHEN MATCHED THEN {update} WHEN NOT MATCHED THEN {insert}"
    steps.append(Step("merge", f"MERGE INTO {target} USING ({source}) AS s ON {on} {clauses}"))
    for n, w in toast:
        # A stored value that came from an older change (or is unknown) is replaced by a staged
        # change older than the row but newer than that origin: batches may arrive in any order.
        marker = lit(f",{n},")
        present = f'(s."_cdc_unchanged" IS NULL OR POSITION({marker} IN s."_cdc_unchanged") = 0)'
        origin = d.provenance('t2."_cdc_unknown"', n)
        prefix = lit(f",{n}:")
        steps.append(
            Step(
                f"late-fill-{w}",
                f'UPDATE {target} SET {q(w)} = f.{q(w)}, "_cdc_unknown" = '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
                f'REPLACE({target}."_cdc_unknown", {prefix} || CAST(f."_cdc_from" AS '
                f"varchar(40)) || ',', {prefix} || CAST(f.\"_cdc_version\" AS varchar(40)) || "
                f"',') FROM (SELECT s.*, {origin} AS \"_cdc_from\", ROW_NUMBER() OVER "
                f"(PARTITION BY {by_key} ORDER BY "
                f's."_cdc_version" DESC) AS "_cdc_rank" FROM "stage" AS s JOIN {target} AS t2 ON '
                f"{_keys_equal(c, 't2', 's')} WHERE s.\"_cdc_op\" <> 'delete' AND {present} AND "
                f's."_cdc_version" < t2."_cdc_version" AND s."_cdc_version" > {origin}) AS f '
                f'WHERE {_keys_equal(c, target, "f")} AND f."_cdc_rank" = 1',
            )
        )
    if truncations and is_log:
        steps += [Step(name, sql) for name, sql in truncations.apply(d)]
    steps += [
        Step(
            "ledger",
            f"INSERT INTO {LEDGER} (batch_id, table_name, row_count, started_at, applied_at) "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'SELECT "_cdc_batch", {lit(c.qualified)}, COUNT(*), {d.transaction_start()}, '
            f'{d.clock()} FROM "stage" '
            'GROUP BY "_cdc_batch"',
        ),
        Step("cleanup-stage", d.drop_temp("stage")),
        Step("cleanup-latest", d.drop_temp("latest")),
    ]
    return LoadPlan(c.qualified, d.name, steps)


def _truncated(d: PostgresDialect, c: TableContract, log: TruncationLog | None) -> list[Step]:
    """Drop `latest` keys older than the table's last TRUNCATE (warehouse/truncate.py)."""
    source = next((s for s, t in log.tables.items() if t == c), None) if log else None
    return [Step("truncated", log.drop_truncated(d, source))] if log and source else []


# A staged change's identity: its ordering version (commit LSN and position in the transaction:
# unique per change), or its Kinesis record for a full-load row (version 0 for all of them).
_ROW_ID = (
    'CASE WHEN "_cdc_version" = 0 THEN \'load:\' || "_cdc_shard" || \':\' || "_cdc_sequence" '
    'ELSE CAST("_cdc_version" AS varchar(40)) END'
)
_REMOVAL = "\"_cdc_op\" = 'delete'"
_ADDITION = "\"_cdc_op\" <> 'delete'"


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
    an update's old row; only under REPLICA IDENTITY FULL). Every change is applied once:

      lock, stage, skip  as for keyed tables (the ledger skips applied batches)
      latest    one row per change identity and kind: the same change delivered twice (a
                Kinesis record read again into another batch, a producer retry) counts once
      truncated changes older than the table's last TRUNCATE (warehouse/truncate.py)
      guard     drop additions whose row is stored, or was stored and removed (tombstones), and
                removals already applied (tombstones, by version)
      pairs     pair the k-th removal of a row value with the k-th row holding that value
                (stored rows first, then this load's additions): rows with equal values are
                interchangeable, so this is the multiset difference
      remove    delete the paired rows (stored ones, and additions cancelled within the load)
      tombstones  record each removal with the row it removed; a removal that found no row
                (its addition was never loaded: see "Quarantine" in the README) is recorded
                with NULL, and counted by the loader
      insert    the remaining additions, with their identity and value hash
      ledger    record the applied batches, in the same transaction
    """
    target, tomb = d.table(c), d.tombstones(c)
    cols = [col.warehouse_name for col in c.columns]
    picked = ", ".join(q(n) for n in cols)
    meta = '"_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_batch", "_cdc_row"'
    steps = [
        *_staging(d, c, manifest_url, iam_role),
        Step(
            "latest",
            f'CREATE TEMP TABLE "latest" AS SELECT {picked}, {meta}, {d.row_hash(c)} AS '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'"_cdc_hash" FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "_cdc_row", "_cdc_op" '
            f'ORDER BY "_cdc_batch") AS "_cdc_rank" FROM (SELECT *, {_ROW_ID} AS "_cdc_row" '
            'FROM "stage") AS s0) AS s WHERE "_cdc_rank" = 1',
        ),
        *_truncated(d, c, truncations),
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
        Step("pairs-drop", d.drop_temp("pairs")),
        Step(
            "pairs",
            'CREATE TEMP TABLE "pairs" AS SELECT r."_cdc_version", a."_cdc_row" FROM (SELECT '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            '"_cdc_hash", "_cdc_version", ROW_NUMBER() OVER (PARTITION BY "_cdc_hash" ORDER BY '
            f'"_cdc_version") AS "_cdc_n" FROM "latest" WHERE {_REMOVAL}) AS r LEFT JOIN '
            '(SELECT "_cdc_hash", "_cdc_row", ROW_NUMBER() OVER (PARTITION BY "_cdc_hash" '
            'ORDER BY "_cdc_origin", "_cdc_version", "_cdc_row") AS "_cdc_n" FROM (SELECT '
            't."_cdc_hash", t."_cdc_row", t."_cdc_version", 0 AS "_cdc_origin" FROM '
            f'{target} AS t WHERE t."_cdc_hash" IN (SELECT "_cdc_hash" FROM "latest" WHERE '
            f'{_REMOVAL}) UNION ALL SELECT "_cdc_hash", "_cdc_row", "_cdc_version", 1 FROM '
            f'"latest" WHERE {_ADDITION}) AS u) AS a ON a."_cdc_hash" = r."_cdc_hash" AND '
            'a."_cdc_n" = r."_cdc_n"',
        ),
        Step(
            "remove",
            f'DELETE FROM {target} USING "pairs" WHERE {target}."_cdc_row" = "pairs"."_cdc_row"',  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        ),
        Step(
            "remove-staged",
            'DELETE FROM "latest" USING "pairs" WHERE "latest"."_cdc_row" = "pairs"."_cdc_row" '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'AND "latest".{_ADDITION}',
        ),
        Step(
            "tombstones",
            f'INSERT INTO {tomb} ("_cdc_row", "_cdc_version") SELECT "_cdc_row", "_cdc_version" '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            'FROM "pairs"',
        ),
        Step(
            "insert",
            f'INSERT INTO {target} ({picked}, "_cdc_version", "_cdc_op", '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            '"_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted", "_cdc_row", "_cdc_hash") '
            f'SELECT {picked}, "_cdc_version", "_cdc_op", "_cdc_commit_ts", {d.now()}, false, '
            f'"_cdc_row", "_cdc_hash" FROM "latest" WHERE {_ADDITION}',
        ),
        Step(
            "ledger",
            f"INSERT INTO {LEDGER} (batch_id, table_name, row_count, started_at, applied_at) "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            f'SELECT "_cdc_batch", {lit(c.qualified)}, COUNT(*), {d.transaction_start()}, '
            f'{d.clock()} FROM "stage" GROUP BY "_cdc_batch"',
        ),
        Step("cleanup-stage", d.drop_temp("stage")),
        Step("cleanup-latest", d.drop_temp("latest")),
        Step("cleanup-pairs", d.drop_temp("pairs")),
    ]
    return LoadPlan(c.qualified, d.name, steps)
