"""Never a traceback for a user's mistake: every `cdc` command and subcommand, run with bad
input (an unknown flag, a malformed or missing value, a wrong or unreachable DSN, an AWS
endpoint nobody answers, a contract that breaks a rule, no local stack), ends with one line on
stderr naming the problem and the fix, and the documented exit code:
0 done; 1 a check found a difference; 2 nothing was done, fix the input named and run again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from consumers.cli import app
from consumers.settings import PROJECT_DIR
from tests.cli_forks import ForkServer

pytestmark = pytest.mark.integration

CDC = str(Path(sys.executable).with_name("cdc"))
DEAD_DSN = "postgresql://postgres@127.0.0.1:1/nowhere"
DEAD_ENDPOINT = "http://127.0.0.1:1"

# Commands that need the local stack when no DSN or endpoint is given.
NEEDS_STACK = {
    "capture", "consume", "status", "load", "verify", "demo load", "demo workload",
    "warehouse bootstrap",
}  # fmt: skip
# Extra arguments that make a command reach the check under test (and nothing else).
BASE_ARGS = {
    "contracts import": ["--source-dsn", DEAD_DSN, "--out", "out"],
    "replay": ["--from-start"],
    "load": ["--once"],
}


def leaf_commands() -> Iterator[tuple[str, Any]]:
    def walk(prefix: str, cmd: Any) -> Iterator[tuple[str, Any]]:
        if hasattr(cmd, "commands"):  # a group
            for name, sub in sorted(cmd.commands.items()):
                yield from walk(f"{prefix} {name}".strip(), sub)
        else:
            yield prefix, cmd

    yield from walk("", typer.main.get_command(app))


def options(cmd: Any) -> dict[str, Any]:
    return {p.opts[0]: p for p in cmd.params if p.param_type_name == "option"}


@dataclass
class Case:
    args: list[str]
    env: str  # "stack" (the test stack), "none" (no stack), "dead" (a stack nobody answers),
    # "aws-dead" (no stack, an AWS endpoint nobody answers), "bad-dms" (CDC_DMS_DIR missing)
    code: int
    words: tuple[str, ...]  # each must be in the error line (case-insensitive)
    contracts: str = ""  # "broken": --contracts <a dir with a contract that breaks a rule>;
    # "subset": --contracts <a valid dir with one contract fewer than schemas/>


def cases() -> list[Case]:
    out: list[Case] = []
    for path, cmd in leaf_commands():
        words = path.split()
        base = BASE_ARGS.get(path, [])
        opts = options(cmd)
        out.append(Case([*words, "--no-such-flag"], "stack", 2, ("no such option", "--help")))
        for name, opt in opts.items():
            if opt.is_flag:
                continue
            if opt.type_descriptor.annotation in (float, int):
                out.append(Case([*words, *base, name, "abc"], "stack", 2, (name, "--help")))
            if opt.required:
                missing = [a for a in base if a != name]
                if name in base:
                    i = base.index(name)
                    missing = base[:i] + base[i + 2 :]
                out.append(Case([*words, *missing], "stack", 2, (name, "missing")))
        valued = [n for n, o in opts.items() if not o.is_flag and n not in base]
        if valued:  # the value left out
            out.append(Case([*words, *base, valued[0]], "stack", 2, (valued[0], "argument")))
        if "--contracts" in opts:
            out.append(Case([*words, *base], "stack", 2, ("public.broken.avsc",), "broken"))
        if path in NEEDS_STACK:
            out.append(Case([*words, *base], "none", 2, ("cdc local up",)))
        if "--source-dsn" in opts and path != "contracts import":
            dsn_args = [*base, "--source-dsn"]
            out.append(Case([*words, *dsn_args, DEAD_DSN], "stack", 2, ("cannot connect",)))
            out.append(Case([*words, *dsn_args, "not a dsn"], "stack", 2, ("--source-dsn",)))
        wh_flag = next((f for f in ("--warehouse-dsn", "--warehouse") if f in opts), None)
        if wh_flag and path not in ("replay",):
            wh_args = [*base, wh_flag]
            out.append(Case([*words, *wh_args, DEAD_DSN], "stack", 2, ("cannot connect",)))
        if wh_flag == "--warehouse":  # also a Redshift URL (warehouse/target.py; every
            # malformed form is in tests/unit/warehouse/test_target.py)
            url = "redshift://admin:pw@wg.123456789012.eu-west-2/dev"
            out.append(Case([*words, *base, "--warehouse", url], "stack", 2, ("IAM only",)))
            # nobody answers the Redshift API: the sign-in fails before any connection
            source = ["--source-dsn", DEAD_DSN] if "--source-dsn" in opts else []
            out.append(Case(
                [*words, *base, *source, "--warehouse",
                 "redshift://nosuch.eu-west-2/dev?db_user=u"],
                "aws-dead", 2, ("cannot connect to Redshift cluster nosuch/dev",),
            ))  # fmt: skip
    out += [
        # a stack whose processes are gone: every endpoint refuses connections
        Case(["consume"], "dead", 2, ("cannot reach",)),
        Case(["capture"], "dead", 2, ("cannot reach",)),
        Case(["status"], "dead", 2, ("cannot connect",)),
        Case(["replay", "--from-start", "--stage-only"], "dead", 2, ("cannot reach",)),
        Case(["load", "--once"], "dead", 2, ("cannot connect",)),
        Case(["verify"], "dead", 2, ("cannot connect",)),
        Case(["demo", "load"], "dead", 2, ("cannot connect",)),
        Case(["warehouse", "bootstrap"], "dead", 2, ("cannot connect",)),
        Case(["warehouse", "bootstrap", "--workgroup", "my-wg"], "aws-dead", 2, ("cannot reach",)),
        Case(["warehouse", "bootstrap", "--workgroup", "wg"], "aws-dead", 2, ("WorkgroupName",)),
        Case(
            ["contracts", "import", "--source-dsn", DEAD_DSN, "--out", "o"],
            "stack",
            2,
            ("cannot connect",),
        ),
        Case(
            ["contracts", "import", "--source-dsn", "not a dsn", "--out", "o"],
            "stack",
            2,
            ("--source-dsn",),
        ),
        # malformed values the commands check themselves
        Case(["consume", "--initial-position", "EARLIEST"], "stack", 2, ("TRIM_HORIZON",)),
        Case(["consume", "--initial-position", "AT_TIMESTAMP"], "stack", 2, ("--at-timestamp",)),
        Case(["replay"], "stack", 2, ("--from-start",)),
        Case(["replay", "--from", "yesterday"], "stack", 2, ("iso time",)),
        Case(["replay", "--from", "2026-01-01T00:00:00"], "stack", 2, ("time zone",)),
        Case(
            ["replay", "--from-start", "--into-schema", "Bad-Name"], "stack", 2, ("--into-schema",)
        ),
        Case(["replay", "--from-start", "--tables", "nosuch"], "stack", 2, ("nosuch",)),
        Case(["warehouse", "bootstrap", "--dialect", "oracle"], "stack", 2, ("redshift",)),
        Case(["demo", "workload", "--rate", "0"], "stack", 2, ("--rate",)),
        Case(["load", "--interval", "0"], "stack", 2, ("--interval",)),
        Case(["local", "nosuch"], "stack", 2, ("no such command", "--help")),
        Case(["nosuch"], "stack", 2, ("no such command", "--help")),
        Case(["verify", "--schema", "nosuch"], "stack", 2, ("nosuch",)),
        Case(["dms", "mappings", "--write"], "bad-dms", 2, ("/proc/nope", "no such file")),
        # a failed check: exit 1, and what differs on stdout
        Case(["dms", "mappings", "--check"], "stack", 1, ("cdc dms mappings --write",), "subset"),
    ]
    return out


@pytest.fixture(scope="module")
def environments(tmp_path_factory, local_stack, stack_settings) -> dict[str, dict[str, str]]:
    root = tmp_path_factory.mktemp("cli-errors")
    base = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
    base |= {"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing",
             "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    dead = root / "dead"
    dead.mkdir()
    state = json.loads((stack_settings.state_dir / "stack.json").read_text())
    free = _closed_port()
    state |= {"pg_port": free, "moto_port": free, "moto_pid": None}
    (dead / "stack.json").write_text(json.dumps(state))
    return {
        "stack": {**base, "CDC_STATE_DIR": str(stack_settings.state_dir)},
        "none": {**base, "CDC_STATE_DIR": str(root / "none")},
        "dead": {**base, "CDC_STATE_DIR": str(dead)},
        "bad-dms": {
            **base,
            "CDC_STATE_DIR": str(stack_settings.state_dir),
            "CDC_DMS_DIR": "/proc/nope",
        },
        "aws-dead": {
            **base,
            "CDC_STATE_DIR": str(root / "none"),
            "CDC_AWS_ENDPOINT_URL": DEAD_ENDPOINT,
        },
    }


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def contract_dirs(tmp_path_factory) -> dict[str, Path]:
    """ "broken": the shipped contracts plus one whose primary key names a column it does not
    have; "subset": the shipped contracts less one (valid, but not what infra/dms holds)."""
    dirs = {name: tmp_path_factory.mktemp(f"{name}-contracts") for name in ("broken", "subset")}
    shipped = sorted((PROJECT_DIR / "schemas").glob("*.avsc"))
    for f in shipped:
        (dirs["broken"] / f.name).write_bytes(f.read_bytes())
    for f in shipped[1:]:
        (dirs["subset"] / f.name).write_bytes(f.read_bytes())
    doc = json.loads((PROJECT_DIR / "schemas" / "public.currency.avsc").read_text())
    doc |= {"name": "broken", "primary_key": ["no_such_column"]}
    (dirs["broken"] / "public.broken.avsc").write_text(json.dumps(doc))
    return dirs


@pytest.fixture(scope="module")
def fork_servers(environments, tmp_path_factory) -> Iterator[dict[str, ForkServer]]:
    servers: dict[str, ForkServer] = {}
    try:
        for name, env in environments.items():
            servers[name] = ForkServer(env, CDC, tmp_path_factory.mktemp(f"forks-{name}"))
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.close()


def _run(
    case: Case,
    environments: dict[str, dict[str, str]],
    servers: dict[str, ForkServer] | None,
    contracts: dict[str, Path],
    cwd: Path,
) -> tuple[str, str, int]:
    """The case as a fork of its environment's server, or, without servers, as a new `cdc`."""
    args = case.args
    if case.contracts:
        args = [*args, "--contracts", str(contracts[case.contracts])]
    if servers is not None:
        return servers[case.env].run(args, cwd)
    proc = subprocess.run(
        [CDC, *args], env=environments[case.env], cwd=cwd, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip
    return proc.stdout, proc.stderr, proc.returncode


def _slow_first(case: Case) -> tuple[bool, bool]:
    """The pool's order: the cases that wait on something (an endpoint nobody answers, 1-9 s)
    and `cdc run`'s (it imports the whole pipeline: 2 s), then the quick ones (0.2-1 s), so the
    slow ones overlap with the rest instead of ending the test alone."""
    return case.env not in ("dead", "aws-dead"), case.args[0] != "run"


# 142 processes (every command's cases). As new `cdc` processes: 265 s measured at load
# average 13 on 2 cores, near the suite's 300 s default; 85-100 s at load 2-4. As forks
# (tests/cli_forks.py), with a new `cdc` for one case of each environment and exit code:
@pytest.mark.timeout(600)
def test_every_command_turns_bad_input_into_one_line_and_its_exit_code(
    environments, fork_servers, contract_dirs, tmp_path
):
    all_cases = sorted(cases(), key=_slow_first)
    assert len({" ".join(c.args[:2]) for c in all_cases}) >= 18  # every command is covered
    # The forks stand for `cdc` only while they answer as it does: one case of each
    # environment and exit code also runs as a new `cdc`, and both must print the same.
    real = list({(c.env, c.code): c for c in reversed(all_cases)}.values())
    jobs = [(c, None) for c in real] + [(c, fork_servers) for c in all_cases]  # slow ones first
    with ThreadPoolExecutor(4) as pool:
        done = list(
            pool.map(lambda j: _run(j[0], environments, j[1], contract_dirs, tmp_path), jobs)
        )
    new, forked = done[: len(real)], done[len(real) :]
    by_case = {id(case): result for case, result in zip(all_cases, forked, strict=True)}
    unlike = [
        f"cdc {' '.join(case.args)} [{case.env}]: new process {result}, fork {by_case[id(case)]}"
        for case, result in zip(real, new, strict=True)
        if result != by_case[id(case)]
    ]
    assert not unlike, "\n".join(unlike)
    results = [(case, *result) for case, result in zip(all_cases, forked, strict=True)]
    for name, server in fork_servers.items():
        assert server.stderr() == "", f"{name}: printed at import: {server.stderr()}"
    failures = []
    for case, stdout, stderr, code in results:
        lines = stderr.strip().splitlines()
        line = lines[0] if lines else ""
        problems = []
        if "Traceback" in stdout + stderr:
            problems.append("traceback")
        if code != case.code:
            problems.append(f"exit {code}, want {case.code}")
        if len(lines) != 1 or (case.code == 2 and not line.startswith("error: ")):
            problems.append(f"{len(lines)} lines on stderr")
        missing = [w for w in case.words if w.lower() not in line.lower()]
        if missing:
            problems.append(f"no {missing} in the line")
        if problems:
            failures.append(f"cdc {' '.join(case.args)} [{case.env}]: {problems}: {stderr[-600:]}")
    assert not failures, f"{len(failures)} of {len(results)} cases:\n" + "\n".join(failures)
