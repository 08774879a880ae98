"""`cdc` commands run as forks of a process that has imported the package once.

A `cdc` process spends 0.25-0.8 s of CPU importing (typer and pydantic, boto3, psycopg, pyarrow)
before it reaches the check a bad-input case is about; 142 such cases took 75 s of CPU, most of
tests/integration/test_cli_errors.py's 100-265 s on two cores. A fork of a process that has
imported every module already starts in a few milliseconds, and is still a process of its own
as a user's `cdc` is: argv, cwd, an empty stdin, stdout and stderr files, and the exit code that
`sys.exit(main())` (the `cdc` script's line) or an uncaught traceback gives, interpreter exit
included. What differs from a new `cdc` is only work done at import, so the server starts with
the case's environment (one server per environment: a module that reads one at import sees it),
and its own stderr must stay empty (a warning printed at import is caught there, once).
tests/integration/test_cli_errors.py also runs a sample of its cases as real `cdc` processes and
compares them with the forks, so a difference between the two fails the test.

The server is single-threaded when it forks. A request is one JSON line on its stdin; each case
is forked twice: a waiter, which forks the case and reports `<id> <exit code>` on the server's
stdout when it ends, so the server never waits and cases run side by side."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

SERVER = r"""
import gc, json, os, pkgutil, signal, sys
import consumers
for m in pkgutil.walk_packages(consumers.__path__, "consumers."):
    if m.name != "consumers.__main__":  # __main__ runs the CLI
        __import__(m.name)
from consumers.cli import main

# Objects that exist now are never collected by a child's exit: a child's exit was 0.38 s of
# collecting and tearing down what the server imported, 0.14 s with this.
gc.freeze()
control = os.fdopen(os.dup(1), "w")  # replies; fd 1 itself becomes each case's stdout
requests = os.fdopen(os.dup(0), "r")
devnull = os.open(os.devnull, os.O_RDWR)
os.dup2(devnull, 0)
os.dup2(devnull, 1)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # waiters are reaped by the kernel
control.write("ready\n")
control.flush()
for line in requests:
    req = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() != 0:
        continue
    # the waiter
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid != 0:
        _, status = os.waitpid(pid, 0)
        control.write(f"{req['id']} {os.waitstatus_to_exitcode(status)}\n")
        control.flush()
        os._exit(0)
    # the case: as `cdc ARGS` run in req["cwd"] with stdin from /dev/null
    control.close()
    requests.close()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    os.dup2(os.open(req["stdout"], flags, 0o600), 1)
    os.dup2(os.open(req["stderr"], flags, 0o600), 2)
    os.chdir(req["cwd"])
    sys.stdin = open(os.devnull)
    sys.argv = [req["argv0"], *req["args"]]
    sys.exit(main())
"""


class ForkServer:
    """One server per environment; `run(args, cwd)` -> (stdout, stderr, exit code)."""

    def __init__(self, env: dict[str, str], argv0: str, scratch: Path) -> None:
        self.argv0 = argv0
        self.scratch = scratch
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._err = (scratch / "server.stderr").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._err, text=True, bufsize=1,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._next = 0
        self._pending: dict[int, Future[int]] = {}
        self._reader: threading.Thread | None = None

    def wait_ready(self) -> None:
        """Until the server has imported everything (1-2 s; servers start side by side)."""
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first == "ready\n", f"fork server did not start: {self.stderr()}"
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def stderr(self) -> str:
        """What the server printed itself (at import): empty unless something is wrong."""
        self._err.flush()
        return (self.scratch / "server.stderr").read_text()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            n, code = line.split()
            with self._lock:
                future = self._pending.pop(int(n))
            future.set_result(int(code))
        with self._lock:  # the server died: nobody will answer the rest
            for future in self._pending.values():
                future.set_exception(RuntimeError(f"fork server ended: {self.stderr()}"))

    def run(self, args: list[str], cwd: Path, timeout: float = 120) -> tuple[str, str, int]:
        future: Future[int] = Future()
        with self._lock:
            n = self._next
            self._next += 1
            self._pending[n] = future
        out, err = self.scratch / f"{n}.out", self.scratch / f"{n}.err"
        req = {"id": n, "args": args, "cwd": str(cwd), "argv0": self.argv0,
               "stdout": str(out), "stderr": str(err)}  # fmt: skip
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        code = future.result(timeout)
        return out.read_text(), err.read_text(), code

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._err.close()
