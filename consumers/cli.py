"""The `cdc` command line. Every user mistake ends as one line on stderr and exit code 2; a
check that finds a difference exits 1 (see main())."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from typer import Abort
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click

from consumers.errors import CdcError
from consumers.settings import Settings

if TYPE_CHECKING:
    from consumers.warehouse.target import WarehouseTarget

app = typer.Typer(
    help="Change data capture from PostgreSQL to Redshift: AWS DMS format, Kinesis, S3, "
    "Redshift; runs locally with no AWS account.",
    epilog="Exit codes: 0 done; 1 a check found a difference (verify, dms mappings --check, "
    "local status of a stopped stack, run's final verify); 2 nothing was done: a mistake to fix "
    "(bad flag, unreachable database or endpoint, invalid contract, no local stack), named on "
    "one line of stderr; 130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
local_app = typer.Typer(help="The local stack: a throwaway PostgreSQL cluster and moto server.")
contracts_app = typer.Typer(help="Table contracts (Avro schemas in schemas/).")
demo_app = typer.Typer(help="The Terrific Totes demo: seed data, workload, and `make run`.")
dms_app = typer.Typer(help="The DMS configuration files in infra/dms/.")
warehouse_app = typer.Typer(help="The warehouse: bootstrap SQL for Redshift or the local one.")
access_app = typer.Typer(help="Who sees which columns (from the contracts' pii flags).")
source_app = typer.Typer(help="Objects the pipeline needs in the source database.")
truncate_log_app = typer.Typer(
    help="The truncate log: makes TRUNCATE reach the warehouse (DMS does not capture it)."
)
deadletters_app = typer.Typer(
    help="Dead letters: records that could not be applied, and re-applying them (redrive)."
)
source_app.add_typer(truncate_log_app, name="truncate-log")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(local_app, name="local")
app.add_typer(contracts_app, name="contracts")
app.add_typer(demo_app, name="demo")
app.add_typer(dms_app, name="dms")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(access_app, name="access")
app.add_typer(source_app, name="source")

ContractsOpt = Annotated[
    Path | None,
    typer.Option("--contracts", help="Directory of table contracts (.avsc). Default: schemas/."),
]
SourceDsnOpt = Annotated[
    str | None,
    typer.Option("--source-dsn", help="Source PostgreSQL DSN. Default: the local stack's."),
]
WarehouseDsnOpt = Annotated[
    str | None,
    typer.Option("--warehouse-dsn", help="Warehouse DSN. Default: the local stack's warehouse."),
]
WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "--warehouse-dsn",
        help="The warehouse: a PostgreSQL DSN, or Redshift with IAM sign-in: "
        "redshift://<workgroup>.<account>.<region>/<db> (Serverless) or "
        "redshift://<cluster>.<region>/<db>[?db_user=NAME] (provisioned), "
        "[?profile=NAME]. Default: CDC_WAREHOUSE, else the local stack's warehouse.",
    ),
]
TablesOpt = Annotated[
    str | None, typer.Option("--tables", help="Comma-separated table names (default: all).")
]


def _settings(contracts: Path | None = None) -> Settings:
    s = Settings()
    if contracts is not None:
        s = Settings(**{**s.__dict__, "contracts_dir": contracts})
    return s


def _split(tables: str | None) -> list[str] | None:
    return [t.strip() for t in tables.split(",") if t.strip()] if tables else None


def _echo_json(value: object) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


# ---------------------------------------------------------------- local stack


@local_app.command("up")
def local_up() -> None:
    """Start the PostgreSQL cluster (databases source, warehouse) and the moto server."""
    from consumers.local import stack

    state = stack.up(Settings())
    typer.echo(f"local stack up: source {state.dsn('source')}, AWS {state.aws_endpoint_url}")


@local_app.command("down")
def local_down() -> None:
    """Stop the cluster and the moto server (by PID) and delete the local state."""
    from consumers.local import stack

    typer.echo("local stack stopped" if stack.down(Settings()) else "local stack was not running")


@local_app.command("status")
def local_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the endpoints as JSON.")] = False,
) -> None:
    """Show whether the stack runs, and its endpoints (DSNs, AWS endpoint, stream, buckets)."""
    from consumers.local import stack

    st = stack.status(Settings())
    if as_json:
        _echo_json(st)
    else:
        for key, value in st.items():
            typer.echo(f"{key:18} {value}")
    if not st["running"]:
        raise typer.Exit(1)


# ---------------------------------------------------------------- contracts


@contracts_app.command("import")
def contracts_import(
    source_dsn: Annotated[str, typer.Option("--source-dsn", help="PostgreSQL DSN to read.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the .avsc files to.")],
    schema: Annotated[str, typer.Option("--schema", help="Source schema.")] = "public",
    tables: TablesOpt = None,
    strict_types: Annotated[
        bool,
        typer.Option(
            "--strict-types",
            help="Refuse a table with a column of a type the pipeline does not type, instead "
            "of carrying that column as text with a warning.",
        ),
    ] = False,
) -> None:
    """Generate contracts from an existing PostgreSQL database (then mark PII columns)."""
    from consumers.contracts.importer import import_contracts

    refused: list[str] = []
    paths = import_contracts(
        source_dsn,
        schema,
        _split(tables),
        out,
        lambda m: typer.echo(m, err=True),
        refused,
        strict_types=strict_types,
    )
    for p in paths:
        typer.echo(f"wrote {p}")
    if refused:  # the others are written; the refused ones are a mistake to fix (exit 2)
        typer.echo(f"{len(refused)} table(s) refused (see above): fix them or leave them out "
                   "with --tables", err=True)  # fmt: skip
        raise typer.Exit(2)
    typer.echo('next: mark personal-data columns with "pii": true, then run `cdc capture`')


@contracts_app.command("validate")
def contracts_validate(contracts: ContractsOpt = None) -> None:
    """Parse and check every contract; print one line per table."""
    from consumers.contracts.model import load_contracts

    for c in load_contracts(_settings(contracts).contracts_dir):
        pii = f", pii: {', '.join(c.pii_columns)}" if c.pii_columns else ""
        typer.echo(
            f"{c.qualified}: {len(c.columns)} columns, key ({', '.join(c.primary_key)}){pii}"
        )


@contracts_app.command("ddl")
def contracts_ddl(contracts: ContractsOpt = None) -> None:
    """Print the source-side PostgreSQL DDL generated from the contracts."""
    from consumers.contracts.ddl import source_ddl
    from consumers.contracts.model import load_contracts

    for statement in source_ddl(load_contracts(_settings(contracts).contracts_dir)):
        typer.echo(statement + ";")


# ---------------------------------------------------------------- DMS configuration


@dms_app.command("mappings")
def dms_mappings(
    contracts: ContractsOpt = None,
    write: Annotated[
        bool, typer.Option("--write", help="Write infra/dms/table-mappings.json.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the file differs from the contracts.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With --write or --check: this file instead of infra/dms/table-mappings.json "
            "(for your own contracts' deploy).",
        ),
    ] = None,
) -> None:
    """The DMS table-mapping JSON for the contracts (print, --write or --check). `cdc run` and
    `cdc capture` with --contracts DIR derive the same rules from DIR without any file."""
    from consumers.capture.dms_config import dumps, table_mappings
    from consumers.contracts.model import load_contracts

    s = _settings(contracts)
    doc = dumps(table_mappings(load_contracts(s.contracts_dir)))
    path = out or s.dms_dir / "table-mappings.json"
    if write:
        path.write_bytes(doc)
        typer.echo(f"wrote {path}")
    elif check:
        if not path.exists() or path.read_bytes() != doc:
            typer.echo(
                f"{path} differs from the contracts: run `cdc dms mappings --write`", err=True
            )
            raise typer.Exit(1)
        typer.echo(f"{path} matches the contracts")
    else:
        typer.echo(doc.decode(), nl=False)


# ---------------------------------------------------------------- source


def _truncate_log_contracts(s: Settings) -> list[Any]:
    from consumers.contracts.model import load_contracts

    return load_contracts(s.contracts_dir)


@truncate_log_app.command("sql")
def truncate_log_sql(contracts: ContractsOpt = None) -> None:
    """Print the SQL that installs the truncate log (for a DBA to run as the tables' owner)."""
    from consumers.capture.truncate_log import install_sql

    for statement in install_sql(_truncate_log_contracts(_settings(contracts))):
        typer.echo(f"{statement};")


@truncate_log_app.command("install")
def truncate_log_install(contracts: ContractsOpt = None, source_dsn: SourceDsnOpt = None) -> None:
    """Install the truncate log at the source: the table cdc_meta.truncations and an AFTER
    TRUNCATE trigger on every contract table (idempotent); writes its contract if missing."""
    from consumers.capture.truncate_log import CONTRACT, QUALIFIED, install_sql
    from consumers.db import connect
    from consumers.endpoints import resolve

    s = _settings(contracts)
    tables = _truncate_log_contracts(s)
    with connect(resolve(s, source_dsn).source_dsn, autocommit=True) as conn:
        for statement in install_sql(tables):
            conn.execute(statement.encode())
    path = s.contracts_dir / f"{QUALIFIED}.avsc"
    if not path.exists():
        path.write_bytes(orjson.dumps(CONTRACT, option=orjson.OPT_INDENT_2) + b"\n")
        typer.echo(f"wrote {path}")
    n = sum(1 for c in tables if c.qualified != QUALIFIED)
    typer.echo(f"truncate log installed: {QUALIFIED} and a trigger on {n} table(s)")
    typer.echo("next: `cdc dms mappings --write` so DMS captures it, then redeploy the task")


@truncate_log_app.command("remove")
def truncate_log_remove(contracts: ContractsOpt = None, source_dsn: SourceDsnOpt = None) -> None:
    """Drop the triggers and the function (the log table and its contract stay)."""
    from consumers.capture.truncate_log import remove_sql
    from consumers.db import connect
    from consumers.endpoints import resolve

    s = _settings(contracts)
    with connect(resolve(s, source_dsn).source_dsn, autocommit=True) as conn:
        for statement in remove_sql(_truncate_log_contracts(s)):
            conn.execute(statement.encode())
    typer.echo("truncate log triggers removed: TRUNCATE no longer reaches the warehouse")


# ---------------------------------------------------------------- capture


@app.command("capture")
def capture_cmd(
    contracts: ContractsOpt = None,
    source_dsn: SourceDsnOpt = None,
    slot: Annotated[str, typer.Option("--slot", help="Replication slot name.")] = "totesys_cdc",
    stream: Annotated[
        str | None, typer.Option("--stream", help="Kinesis stream. Default: the local stack's.")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Stop after N seconds (default: run until Ctrl-C)."),
    ] = None,
) -> None:
    """Full load + CDC from the source into Kinesis, in the AWS DMS message format."""
    import signal
    import threading

    from consumers import logs
    from consumers.capture import dms_config
    from consumers.capture.kinesis_sink import KinesisSink
    from consumers.capture.runner import Capture, CaptureConfig
    from consumers.contracts.model import load_contracts
    from consumers.endpoints import resolve

    logs.configure()
    s = _settings(contracts)
    ep = resolve(s, source_dsn, stream)
    tables = load_contracts(s.contracts_dir)
    cfg = CaptureConfig(
        source_dsn=ep.source_dsn,
        contracts=tables,
        dms=dms_config.load(s.dms_dir, tables if s.own_contracts else None),
        state_dir=s.state_dir,
        slot=slot,
        stream=ep.stream_name,
    )
    ep.check_reachable()
    sink = KinesisSink(ep.client("kinesis"), ep.stream_name)
    sink.check_stream()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop after acknowledging what was put
        signal.signal(sig, lambda *_: stop.set())
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    capture = Capture(cfg, sink)
    capture.run(stop)
    typer.echo(
        f"captured: {sum(capture.stats.loaded.values())} full-load rows, "
        f"{sum(capture.stats.changes.values())} changes in {capture.stats.transactions} "
        f"transactions; records put: {sum(sink.put.values())}"
    )


# ---------------------------------------------------------------- consume


@app.command("consume")
def consume_cmd(
    contracts: ContractsOpt = None,
    stream: Annotated[
        str | None, typer.Option("--stream", help="Kinesis stream. Default: the local stack's.")
    ] = None,
    application: Annotated[
        str, typer.Option("--application-name", help="KCL application (lease table) name.")
    ] = "totesys-cdc-consumer",
    initial_position: Annotated[
        str,
        typer.Option(
            "--initial-position",
            help="Where a shard without a checkpoint starts: TRIM_HORIZON, LATEST or AT_TIMESTAMP.",
        ),
    ] = "TRIM_HORIZON",
    at_timestamp: Annotated[
        str | None,
        typer.Option(
            "--at-timestamp", help="ISO time for AT_TIMESTAMP, e.g. 2026-11-24T10:00:00Z."
        ),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after N seconds (default: Ctrl-C).")
    ] = None,
) -> None:
    """Run the KCL record processors over the stream (local MultiLang driver): DMS records
    become Parquet micro-batches and manifests on S3, checkpointed once durable."""
    import signal
    import threading
    import time
    from datetime import datetime

    from consumers import logs
    from consumers.contracts.model import load_contracts
    from consumers.endpoints import resolve
    from consumers.kcl.driver import INITIAL_POSITIONS, Driver, DriverConfig, processor_env

    logs.configure()
    position = initial_position.upper()
    if position not in INITIAL_POSITIONS:
        raise CdcError(
            f"--initial-position {initial_position!r}: use one of {', '.join(INITIAL_POSITIONS)}"
        )
    when = None
    if position == "AT_TIMESTAMP":
        if not at_timestamp:
            raise CdcError("--initial-position AT_TIMESTAMP needs --at-timestamp ISO-TIME")
        try:
            when = datetime.fromisoformat(at_timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise CdcError(
                f"--at-timestamp {at_timestamp!r} is not an ISO time: e.g. 2026-11-24T10:00:00Z"
            ) from None
    s = _settings(contracts)
    load_contracts(s.contracts_dir)  # fail here, once, rather than in every processor
    ep = resolve(s, None, stream)
    ep.check_reachable()
    ep.client("kinesis").describe_stream_summary(StreamName=ep.stream_name)
    driver = Driver(
        DriverConfig(
            stream=ep.stream_name,
            application=application,
            initial_position=position,
            at_timestamp=when,
            processor_env=processor_env(s, ep.aws_endpoint_url, ep.region),
        ),
        ep.client("kinesis"),
        ep.client("dynamodb"),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    driver.start()
    start = time.monotonic()
    while not stop.wait(1):
        driver.check()
        if duration is not None and time.monotonic() - start >= duration:
            break
    driver.stop()
    views = driver.views.values()
    typer.echo(
        f"consumed {sum(v.records for v in views)} records in {sum(v.batches for v in views)} "
        f"batches; dead letters: {sum(v.dead_letters for v in views)}"
    )


# ---------------------------------------------------------------- warehouse


def _warehouse_dsn(s: Settings, dsn: str | None) -> str:
    from consumers.errors import StackError
    from consumers.local.stack import load_state

    if dsn:
        return dsn
    state = load_state(s)
    if state is None:
        raise StackError(
            "no warehouse given and the local stack is not running: pass --warehouse-dsn, "
            "or start the local stack with `cdc local up`"
        )
    return state.dsn("warehouse")


def _warehouse_target(s: Settings, value: str | None) -> WarehouseTarget:
    """--warehouse as a target (warehouse/target.py); else CDC_WAREHOUSE; else the local
    stack's warehouse."""
    from consumers.warehouse.target import parse_warehouse

    if value is None and s.warehouse:
        return parse_warehouse(s.warehouse, "CDC_WAREHOUSE")
    return parse_warehouse(_warehouse_dsn(s, value))


@warehouse_app.command("bootstrap")
def warehouse_bootstrap(
    contracts: ContractsOpt = None,
    warehouse_dsn: WarehouseOpt = None,
    dialect: Annotated[
        str, typer.Option("--dialect", help="postgres (the local warehouse) or redshift.")
    ] = "postgres",
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the SQL instead of running it.")
    ] = False,
    workgroup: Annotated[
        str | None,
        typer.Option(
            "--workgroup",
            help="Redshift Serverless workgroup: run the Redshift bootstrap there through the "
            "Data API (signed in as you, with IAM; implies --dialect redshift).",
        ),
    ] = None,
    database: Annotated[
        str, typer.Option("--database", help="Database in the workgroup.")
    ] = "warehouse",
    loader_user: Annotated[
        str | None,
        typer.Option(
            "--loader-user",
            help="Also create this database user and grant it cdc_loader: the load stack's "
            "output LoaderDatabaseUser (IAMR:<role name>).",
        ),
    ] = None,
) -> None:
    """Create the cdc schema, the load ledger, the target tables, roles and analyst views.

    Local warehouse: runs it (idempotent). Redshift: prints it (--dialect redshift), or runs it
    once, through the Data API (--workgroup) or redshift-connector (--warehouse redshift://)."""
    from consumers.contracts.model import load_contracts
    from consumers.warehouse.dialect import PostgresDialect, RedshiftDialect

    s = _settings(contracts)
    dialects = {"postgres": PostgresDialect, "redshift": RedshiftDialect}
    if dialect not in dialects:
        raise CdcError(f"--dialect {dialect!r}: use postgres or redshift")
    redshift = None
    if (warehouse_dsn or s.warehouse or "").startswith("redshift://"):
        if workgroup:
            raise CdcError(
                "--workgroup and --warehouse redshift:// (or CDC_WAREHOUSE): give one (the "
                "Data API or redshift-connector)"
            )
        redshift = _warehouse_target(s, warehouse_dsn)
        dialect = "redshift"
    if workgroup:
        dialect = "redshift"
    statements = dialects[dialect]().bootstrap(load_contracts(s.contracts_dir))
    extra: list[str] = []
    if loader_user:
        from consumers.warehouse.data_api import loader_user_grants

        extra = loader_user_grants(loader_user)
    statements = statements + extra
    if workgroup and not print_only:
        from consumers import aws
        from consumers.warehouse import data_api

        client = aws.client(
            "redshift-data",
            endpoint_url=os.environ.get("CDC_AWS_ENDPOINT_URL") or None,
            region=s.region,
        )
        ran = data_api.run(
            client, statements, workgroup=workgroup, database=database,
            progress=lambda n, total: typer.echo(f"chunk {n}/{total} finished", err=True),
        )  # fmt: skip
        typer.echo(f"bootstrapped {workgroup}/{database}: {ran} statements")
        return
    if redshift is not None and not print_only:
        from consumers.warehouse.evolve import evolve_remote
        from consumers.warehouse.target import connect

        targets = load_contracts(s.contracts_dir)
        d = RedshiftDialect()
        with connect(redshift) as db:
            # Tables first (one transaction, as the Data API's chunks); then, read back, the
            # evolution the contracts ask for (new, renamed, widened columns: warehouse/
            # evolve.py) and the grants and views, which name those columns, in a second.
            ran = db.run(d.bootstrap(targets, access=False))
            evolution = evolve_remote(db, d, targets)
            ran += db.run(evolution + d.analyst_access(targets) + extra)
        typer.echo(
            f"bootstrapped {redshift.label}: {ran} statements"
            + (f" ({len(evolution)} evolving tables to their contracts)" if evolution else "")
        )
        return
    if print_only or dialect == "redshift":
        for statement in statements:
            typer.echo(statement + ";")
        return
    from consumers.warehouse.local import LocalWarehouse

    wh = LocalWarehouse(_warehouse_dsn(s, warehouse_dsn), load_contracts(s.contracts_dir), None, "")
    wh.bootstrap()
    typer.echo(f"bootstrapped {len(statements)} statements")


@access_app.command("show")
def access_show(
    contracts: ContractsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Per table, the columns each warehouse role can read (analysts: all but PII, in the base
    table by column grants and in the `analyst` views)."""
    from consumers.contracts.model import load_contracts
    from consumers.warehouse.dialect import ANALYST, ANALYST_SCHEMA, ROLES, analyst_columns

    out: dict[str, dict[str, list[str]]] = {}
    for c in load_contracts(_settings(contracts).contracts_dir):
        every = [col.warehouse_name for col in c.columns]
        out[c.qualified] = {role: every for role in ROLES}
        out[c.qualified][ANALYST] = analyst_columns(c)
        out[c.qualified]["withheld from analysts (pii)"] = [
            col.warehouse_name for col in c.columns if col.pii
        ]
    if as_json:
        _echo_json(out)
        return
    for table, roles in out.items():
        typer.echo(f"{table}  (analyst view: {ANALYST_SCHEMA}.{table.split('.')[-1]})")
        for role, cols in roles.items():
            typer.echo(f"  {role:30} {', '.join(cols) if cols else '-'}")


@app.command("status")
def status_cmd(
    contracts: ContractsOpt = None,
    source_dsn: SourceDsnOpt = None,
    warehouse_dsn: WarehouseOpt = None,
    application: Annotated[
        str, typer.Option("--application-name", help="KCL application (lease table) name.")
    ] = "totesys-cdc-consumer",
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON, for scripts.")] = False,
) -> None:
    """One screen for operators: per table source/warehouse rows, freshness, last load; per
    shard checkpoint and millisBehindLatest; dead letters."""
    from consumers import deadletters, status
    from consumers.contracts.drift import pending, source_drift
    from consumers.contracts.model import load_contracts
    from consumers.endpoints import resolve

    s = _settings(contracts)
    target = _warehouse_target(s, warehouse_dsn)  # a malformed --warehouse first
    ep = resolve(s, source_dsn)
    chosen = load_contracts(s.contracts_dir)
    tables = status.tables(ep.source_dsn, target, chosen)  # both sides reachable, or one line
    drifts, _ = source_drift(ep.source_dsn, chosen, s.contracts_dir)
    report: dict[str, Any] = {
        "tables": tables,
        "shards": status.shards(
            ep.client("kinesis"), ep.client("dynamodb"), ep.stream_name, application
        ),
        "dead_letters": status.dead_letters(ep.client("s3"), s.dead_letter_bucket),
        "dead_letters_redriven": deadletters.counts(ep.client("s3"), s.dead_letter_bucket)[
            "redriven"
        ],
        "schema_drift": [d.line() for d in drifts],
        "unclassified": pending(chosen),
    }
    if as_json:
        _echo_json(report)
        return

    def num(v: float | None, unit: str = "") -> str:
        return "-" if v is None else f"{v:.1f}{unit}"

    typer.echo(f"{'table':24} {'source':>8} {'warehouse':>10} {'freshness':>10}  last load")
    for t in report["tables"]:
        wh_rows = "-" if t["warehouse_rows"] is None else t["warehouse_rows"]
        seconds = t["last_load_seconds"]
        load = f"{t['last_load']} ({seconds:.3f} s)" if t["last_load"] else "-"
        typer.echo(
            f"{t['table']:24} {t['source_rows']:>8} {wh_rows:>10} "
            f"{num(t['freshness_s'], ' s'):>10}  {load}"
        )
    for sh in report["shards"]:
        typer.echo(
            f"{sh['shard']}: checkpoint {sh['checkpoint'] or '-'}, millisBehindLatest "
            f"{'-' if sh['millis_behind_latest'] is None else sh['millis_behind_latest']}"
        )
    dead = report["dead_letters"]
    typer.echo(
        f"dead letters: {sum(dead.values())}"
        + (f" {dead}" if dead else "")
        + f" (redriven: {report['dead_letters_redriven']})"
    )
    for line in report["schema_drift"]:
        typer.echo(f"schema drift: {line}")
    for line in report["unclassified"]:
        typer.echo(line)


@app.command("replay")
def replay_cmd(
    from_time: Annotated[
        str | None, typer.Option("--from", help="Replay from this ISO time (AT_TIMESTAMP).")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Replay from the oldest record (TRIM_HORIZON).")
    ] = False,
    tables: TablesOpt = None,
    into_schema: Annotated[
        str | None,
        typer.Option(
            "--into-schema", help="Rebuild into this warehouse schema, beside the live one."
        ),
    ] = None,
    stage_only: Annotated[
        bool,
        typer.Option(
            "--stage-only",
            help="Only re-read into S3 (on AWS: then start the load state machine with the "
            "printed input).",
        ),
    ] = False,
    contracts: ContractsOpt = None,
    warehouse_dsn: WarehouseDsnOpt = None,
) -> None:
    """Re-read the stream with a fresh consumer application and load what it reads, into the
    live tables (they end as they would have anyway) or into --into-schema (then check it with
    `cdc verify --schema NAME`)."""

    from consumers.contracts.model import IDENTIFIER, load_contracts

    if (from_time is None) == (not from_start):
        raise CdcError("say where to start: --from ISO-TIME or --from-start (one of them)")
    start = _iso_time("--from", from_time)
    if into_schema is not None and (
        not IDENTIFIER.match(into_schema) or into_schema in ("cdc", "analyst", "analytics")
    ):
        raise CdcError(
            f"--into-schema {into_schema!r}: use a plain lower-case name, not cdc/analyst/analytics"
        )
    # Imported once the flags are known good: they bring in boto3, pyarrow and the KCL driver
    # (0.5 s), which a mistyped flag should not wait for.
    from consumers.endpoints import resolve
    from consumers.replay import replay

    s = _settings(contracts)
    ep = resolve(s, need_source=False)
    chosen = load_contracts(s.contracts_dir, _split(tables))
    target = None if stage_only else _warehouse_dsn(s, warehouse_dsn)
    ep.check_reachable()
    result = replay(
        s, kinesis=ep.client("kinesis"), dynamodb=ep.client("dynamodb"), s3=ep.client("s3"),
        stream=ep.stream_name, endpoint_url=ep.aws_endpoint_url, region=ep.region,
        warehouse_dsn=target, contracts=chosen, start=start,
        into_schema=into_schema,
    )  # fmt: skip
    if stage_only:
        typer.echo(
            f"replay {result.run_id}: {result.records} records re-read into {result.batches} "
            f"batches under s3://{s.batch_bucket}/{result.prefix}; load them by starting the "
            f'load state machine with input {{"prefix": "{result.prefix}"}}'
        )
        return
    where = f"schema {into_schema}" if into_schema else "the live tables"
    typer.echo(
        f"replay {result.run_id}: {result.records} records re-read into {result.batches} batches; "
        f"{result.loads} table loads ({result.rows_staged} rows staged) into {where}"
    )
    if into_schema:
        typer.echo(f"check it with: cdc verify --schema {into_schema}")


@app.command("load")
def load_cmd(
    contracts: ContractsOpt = None,
    warehouse_dsn: WarehouseDsnOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Load what is pending, then exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between runs.")
    ] = 0.5,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after N seconds (default: Ctrl-C).")
    ] = None,
    retry_quarantined: Annotated[
        bool,
        typer.Option(
            "--retry-quarantined",
            help="Make quarantined batches pending again first (after fixing their cause).",
        ),
    ] = False,
) -> None:
    """Apply pending batch manifests to the local warehouse with the load plans
    (COPY + version-guarded MERGE, ledger in the same transaction). A table whose load fails
    is reported and retried while the others go on; a batch the warehouse refuses for its
    data is quarantined. Exits 1 when a table is still failing or a batch was quarantined."""
    import signal
    import threading
    import time

    from consumers.contracts.model import load_contracts
    from consumers.endpoints import resolve
    from consumers.warehouse.local import LocalWarehouse

    s = _settings(contracts)
    ep = resolve(s)
    wh = LocalWarehouse(
        _warehouse_dsn(s, warehouse_dsn), load_contracts(s.contracts_dir), ep.client("s3"),
        s.batch_bucket,
    )  # fmt: skip
    wh.bootstrap()
    if retry_quarantined:
        typer.echo(f"released {wh.release_quarantined()} quarantined batch(es)")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    start = time.monotonic()
    reported = 0
    while True:
        for load in wh.run_once(retry_now=once):
            typer.echo(
                f"loaded {load.table}: {load.batches} batches, {load.staged_rows} rows staged, "
                f"{load.seconds:.2f} s"
            )
        for q in wh.quarantined[reported:]:
            typer.echo(
                f"quarantined batch {q.batch_id} of {q.table}: {q.failure.reason} (fix it, "
                "then `cdc load --retry-quarantined`)",
                err=True,
            )
        reported = len(wh.quarantined)
        if once or stop.wait(interval):
            break
        if duration is not None and time.monotonic() - start >= duration:
            break
    for failing in wh.failures.values():
        typer.echo(f"load failing: {failing.describe()}", err=True)
    if wh.failures or wh.quarantined:
        raise typer.Exit(1)


@app.command("verify")
def verify_cmd(
    contracts: ContractsOpt = None,
    source_dsn: SourceDsnOpt = None,
    warehouse_dsn: WarehouseOpt = None,
    schema: Annotated[
        str | None,
        typer.Option("--schema", help="Warehouse schema to check (default: the source's)."),
    ] = None,
) -> None:
    """Compare every contract table, source vs warehouse (counts + per-row hash of all columns);
    exit 1 on any difference."""
    from consumers.contracts.model import load_contracts
    from consumers.endpoints import resolve
    from consumers.warehouse.target import UndefinedTable
    from consumers.warehouse.verify import verify

    s = _settings(contracts)
    target = _warehouse_target(s, warehouse_dsn)  # a malformed --warehouse first
    try:
        diffs = verify(
            resolve(s, source_dsn).source_dsn, target, load_contracts(s.contracts_dir), schema
        )
    except UndefinedTable as e:
        where = f"the warehouse schema {schema}" if schema else "the source or the warehouse"
        raise CdcError(
            f"{e} (in {where}): create it (`cdc demo load` at the source, "
            "`cdc warehouse bootstrap` or `cdc load` in the warehouse), or check --schema "
            "and --contracts"
        ) from None
    for d in diffs:
        mark = "ok  " if d.ok else "DIFF"
        typer.echo(f"{mark} {d.table}: source {d.source_rows} rows, warehouse {d.warehouse_rows}")
        for what, keys in (("missing", d.missing), ("extra", d.extra), ("different", d.different)):
            if keys:
                shown = ", ".join("/".join(k) for k in keys[:10])
                more = f" (+{len(keys) - 10} more)" if len(keys) > 10 else ""
                typer.echo(f"     {what}: {shown}{more}")
    if not all(d.ok for d in diffs):
        raise typer.Exit(1)


# ---------------------------------------------------------------- demo


@demo_app.command("load")
def demo_load(contracts: ContractsOpt = None, source_dsn: SourceDsnOpt = None) -> None:
    """Create the demo tables (DDL from the contracts) and seed them with Terrific Totes data."""
    from consumers.contracts.model import load_contracts
    from consumers.demo.load import load_demo
    from consumers.endpoints import resolve

    s = _settings(contracts)
    n = load_demo(resolve(s, source_dsn).source_dsn, load_contracts(s.contracts_dir))
    typer.echo(f"seeded {n} rows" if n else "demo tables already hold data: nothing to seed")


@demo_app.command("workload")
def demo_workload(
    rate: Annotated[float, typer.Option("--rate", min=0.1, help="Row changes per second.")] = 50,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Seconds (default: until Ctrl-C).")
    ] = None,
    source_dsn: SourceDsnOpt = None,
) -> None:
    """Write a steady stream of inserts, updates, deletes (and rollbacks) to the demo tables."""
    import threading

    from consumers.demo.workload import Workload
    from consumers.endpoints import resolve

    w = Workload(resolve(Settings(), source_dsn).source_dsn)
    stop = threading.Event()
    try:
        w.run(rate, stop, duration)
    except KeyboardInterrupt:
        stop.set()
    typer.echo(
        f"wrote {sum(w.written.values())} row changes ({w.rolled_back} transactions rolled back)"
    )


class Loader(StrEnum):
    """How `cdc run` loads the warehouse (README "Two loaders")."""

    local = "local"  # the PostgreSQL load plans, in this process
    stepfunctions = "stepfunctions"  # the deployed state machine, executed in the local moto


LoaderOpt = Annotated[
    Loader,
    typer.Option(
        "--loader",
        help="local: the load plans in this process (default); stepfunctions: the deployed "
        "state machine in the local moto (Lambda handlers, Redshift SQL).",
    ),
]


@demo_app.command("run")
def demo_run(
    rate: Annotated[
        float, typer.Option("--rate", min=0.1, help="Workload row changes per second.")
    ] = 50,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Seconds (default: until Ctrl-C).")
    ] = None,
    keep_stack: Annotated[
        bool, typer.Option("--keep-stack", help="Leave the local stack running.")
    ] = False,
    contracts: ContractsOpt = None,
    loader: LoaderOpt = Loader.local,
) -> None:
    """What `make run` runs: `cdc run` over the demo database, with its workload; ends with
    drain + `cdc verify` and exits with verify's result."""
    from consumers.local.run import run_pipeline

    code = run_pipeline(
        _settings(contracts), source_dsn=None, duration=duration, keep_stack=keep_stack,
        demo_rate=rate, loader=loader.value,
    )  # fmt: skip
    raise typer.Exit(code)


@app.command("run")
def run_cmd(
    contracts: ContractsOpt = None,
    source_dsn: SourceDsnOpt = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Seconds; then drain into the warehouse and verify."),
    ] = None,
    keep_stack: Annotated[
        bool, typer.Option("--keep-stack", help="Leave the local stack running.")
    ] = False,
    loader: LoaderOpt = Loader.local,
) -> None:
    """The pipeline itself (capture, consumers, loader) for the contracts' tables, from
    --source-dsn into the local warehouse; on exit it drains everything it captured."""
    from consumers.local.run import run_pipeline

    code = run_pipeline(
        _settings(contracts), source_dsn=source_dsn, duration=duration, keep_stack=keep_stack,
        loader=loader.value,
    )  # fmt: skip
    raise typer.Exit(code)


# ---------------------------------------------------------------- schema changes


@contracts_app.command("diff")
def contracts_diff(
    source_dsn: Annotated[
        str | None, typer.Option("--source-dsn", help="Source PostgreSQL DSN to compare with.")
    ] = None,
    contracts: ContractsOpt = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help='Write the new nullable columns of "new_columns": "auto" tables into their '
            'contracts, marked "classification": "pending" (withheld from analysts).',
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON, for scripts.")] = False,
) -> None:
    """Compare the contracts with the source catalog; exit 1 on any drift (a column added,
    dropped, widened, narrowed or changed; a table gone). README, "Schema changes"."""
    from dataclasses import asdict

    from consumers.contracts.drift import apply_auto, source_drift
    from consumers.contracts.model import load_contracts
    from consumers.endpoints import resolve

    s = _settings(contracts)
    chosen = load_contracts(s.contracts_dir)
    drifts, sources = source_drift(resolve(s, source_dsn).source_dsn, chosen, s.contracts_dir)
    written = apply_auto(chosen, drifts, sources, s.contracts_dir) if apply else []
    if as_json:
        _echo_json(
            {
                "drift": [asdict(d) for d in drifts],
                "applied": [{"contract": str(p), "column": c} for p, c in written],
            }
        )
    else:
        for d in drifts:
            typer.echo(d.line())
        for path, column in written:
            typer.echo(
                f"added {column} to {path}: review it; withheld from analysts until classified"
            )
        if not drifts:
            typer.echo(f"no drift: {len(chosen)} contract(s) match the source")
    if drifts:
        raise typer.Exit(1)


def _iso_time(flag: str, text: str | None) -> Any:
    """A --flag's ISO time with its time zone (None when not given); else a one-line error."""
    from datetime import datetime

    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CdcError(f"{flag} {text!r} is not an ISO time: e.g. 2026-11-24T10:00:00Z") from None
    if t.tzinfo is None:
        raise CdcError(f"{flag} {text!r} has no time zone: add Z or an offset")
    return t


def _dead_letter_filters(
    table: str | None, reason: str | None, shard: str | None, since: str | None, until: str | None
) -> Any:
    from consumers.deadletters import Filters

    return Filters(table, reason, shard, _iso_time("--since", since), _iso_time("--until", until))


DlTableOpt = Annotated[
    str | None, typer.Option("--table", help="Only this table (schema.table or its name).")
]
DlReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="Only reasons containing this text.")
]
DlShardOpt = Annotated[str | None, typer.Option("--shard", help="Only this shard.")]
DlSinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only records at or after this ISO time.")
]
DlUntilOpt = Annotated[
    str | None, typer.Option("--until", help="Only records before this ISO time.")
]


@deadletters_app.command("list")
def deadletters_list(
    table: DlTableOpt = None,
    reason: DlReasonOpt = None,
    shard: DlShardOpt = None,
    since: DlSinceOpt = None,
    until: DlUntilOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON, for scripts.")] = False,
) -> None:
    """The pending dead letters (not yet redriven), one line each."""
    from consumers import deadletters
    from consumers.endpoints import resolve

    s = Settings()
    ep = resolve(s, need_source=False)
    ep.check_reachable()
    found = deadletters.find(
        ep.client("s3"), s.dead_letter_bucket,
        _dead_letter_filters(table, reason, shard, since, until),
    )  # fmt: skip
    if as_json:
        _echo_json([d.summary() for d in found])
        return
    for d in found:
        x = d.summary()
        typer.echo(f"{d.shard}/{d.sequence} {x['time'] or '-'} {d.table or '-'} "
                   f"{d.operation or '-'}: {d.reason}")  # fmt: skip
    typer.echo(f"{len(found)} dead letter(s)")


@deadletters_app.command("show")
def deadletters_show(
    ref: Annotated[str, typer.Argument(help="A key or <shard>/<sequence> from `list`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON, for scripts.")] = False,
) -> None:
    """One dead letter: where it came from, the reason, and the record itself."""
    from consumers import deadletters
    from consumers.endpoints import resolve

    s = Settings()
    ep = resolve(s, need_source=False)
    ep.check_reachable()
    d = deadletters.get(ep.client("s3"), s.dead_letter_bucket, ref)
    try:
        record: Any = orjson.loads(d.raw)
    except orjson.JSONDecodeError:
        record = d.raw.decode("utf-8", "backslashreplace")
    if as_json:
        _echo_json({**d.summary(), "partition_key": d.partition_key, "record": record})
        return
    for k, v in d.summary().items():
        typer.echo(f"{k:10} {v}")
    body = orjson.dumps(record, option=orjson.OPT_INDENT_2).decode()
    typer.echo(f"record\n{body}")


@deadletters_app.command("redrive")
def deadletters_redrive(
    table: DlTableOpt = None,
    reason: DlReasonOpt = None,
    shard: DlShardOpt = None,
    since: DlSinceOpt = None,
    until: DlUntilOpt = None,
    stage_only: Annotated[
        bool,
        typer.Option(
            "--stage-only",
            help="Only write the redrive batches to S3 (on AWS: then start the load state "
            "machine with the printed input).",
        ),
    ] = False,
    contracts: ContractsOpt = None,
    warehouse_dsn: WarehouseDsnOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON, for scripts.")] = False,
) -> None:
    """Re-apply dead letters (after fixing their cause, e.g. the contract) through the same
    decode, batch, Parquet and load path, with their original ordering versions: a redriven
    change never overwrites a newer one, and a second redrive changes nothing. Exits 1 when
    some are still dead (they stay, with their new reason printed)."""
    from consumers import deadletters
    from consumers.contracts.model import load_contracts
    from consumers.endpoints import resolve

    s = _settings(contracts)
    ep = resolve(s, need_source=False)
    ep.check_reachable()
    s3 = ep.client("s3")
    chosen = load_contracts(s.contracts_dir)
    letters = deadletters.find(
        s3, s.dead_letter_bucket, _dead_letter_filters(table, reason, shard, since, until)
    )
    target = None if stage_only else _warehouse_dsn(s, warehouse_dsn)
    result = deadletters.redrive(s, s3, chosen, letters, target)
    if as_json:
        _echo_json(
            {
                "run": result.run_id, "prefix": result.prefix, "selected": result.selected,
                "redriven": result.redriven, "rows": result.rows, "batches": result.batches,
                "loads": result.loads,
                "still_dead": [{**d.summary(), "new_reason": why} for d, why in result.still_dead],
            }
        )  # fmt: skip
    else:
        for d, why in result.still_dead:
            typer.echo(f"still dead {d.shard}/{d.sequence} {d.table or '-'}: {why}")
        typer.echo(
            f"redrive {result.run_id}: {result.selected} selected, {result.redriven} redriven "
            f"({', '.join(f'{t} {n} rows' for t, n in sorted(result.rows.items())) or 'no rows'}), "
            f"{len(result.still_dead)} still dead"
        )
        if stage_only and result.batches:
            typer.echo(
                f"batches under s3://{s.batch_bucket}/{result.prefix}; load them by starting "
                f'the load state machine with input {{"prefix": "{result.prefix}"}}'
            )
    if result.still_dead:
        raise typer.Exit(1)


def _aws_problem(e: Exception) -> str | None:
    """One line for the AWS errors a user can fix; None for anything else."""
    from botocore import exceptions as bx

    if isinstance(e, bx.NoCredentialsError):
        return (
            "no AWS credentials found: configure them (AWS_PROFILE, aws configure) for AWS, "
            "or start the local stack with `cdc local up`"
        )
    if isinstance(e, bx.ParamValidationError):  # checked by botocore before any call
        report = " ".join(str(e.kwargs.get("report", e)).split())
        return f"an AWS parameter is invalid ({report}): fix the flag that sets it (see --help)"
    if isinstance(e, bx.EndpointConnectionError):
        return (
            f"cannot reach AWS endpoint {e.kwargs.get('endpoint_url')}: check the network, or "
            "whether the local stack is up (`cdc local status`)"
        )
    if isinstance(e, bx.ClientError):
        err = e.response.get("Error", {})
        code, message = err.get("Code", "?"), err.get("Message", "")
        if code == "ResourceNotFoundException":
            return f"{message or 'AWS resource not found'}: create it, or pass the right --stream"
        return (
            f"AWS call {e.operation_name} failed ({code}: {message}): check permissions and names"
        )
    return None


def _usage_line(e: UsageError) -> str:
    """Click's usage error (a usage line, a hint, a boxed message) as one line with the fix."""
    where = e.ctx.command_path if e.ctx is not None else "cdc"
    message = " ".join(e.format_message().split())
    return f"{message} (see `{where} --help`)"


def main() -> None:
    """Exit codes (also in `cdc --help` and the README): 0 done; 1 a check found a difference;
    2 nothing was done: a mistake to fix (a bad flag, an unreachable database or endpoint, an
    invalid contract, no local stack), named on one line of stderr; 130 interrupted."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        code = app(standalone_mode=False)  # usage errors come here, not to click's printer
    except NoArgsIsHelpError as e:  # `cdc` or `cdc local` alone: typer printed the help
        if e.format_message().strip():
            typer.echo(e.format_message())
        sys.exit(2)
    except UsageError as e:
        typer.echo(f"error: {_usage_line(e)}", err=True)
        sys.exit(2)
    except Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except CdcError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except (BotoCoreError, ClientError) as e:
        problem = _aws_problem(e)
        if problem is None:
            raise
        typer.echo(f"error: {problem}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as e:
        if e.filename is None:  # not a path the user gave: a bug or the machine, show it all
            raise
        typer.echo(
            f"error: {e.strerror}: {e.filename}: check the path (its --flag or CDC_* setting) "
            "and its permissions",
            err=True,
        )
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
