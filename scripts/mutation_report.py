"""The mutation score of each module that carries a guarantee, from mutmut's results in mutants/.

Run by `make mutation` after `mutmut run`; `-v` lists every mutant not killed with its change.
A module's score is killed / (mutants - equivalent): a mutant no unit test reaches ("no tests")
counts as survived, a timeout as killed (as mutmut counts it). Equivalent mutants (no behaviour
a user could notice changes) are listed with their reason in tests/mutation_equivalent.toml; a
listed mutant that no longer survives, or no longer exists, is reported as stale so the list
cannot drift. Exit code 1 when a module is below TARGET (or the list is stale), 2 when there
are no results (run `make mutation`).
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

TARGET = 85.0
ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "mutation_equivalent.toml"

# (module as the README names it, its files); the processor's checkpointing functions are also
# scored on their own: they are the guarantee, the rest of the file is wiring.
MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("events/decode.py", ("consumers/events/decode.py",)),
    ("batching/", ("consumers/batching/buffer.py", "consumers/batching/resolve.py")),
    ("sink/writer.py", ("consumers/sink/writer.py",)),
    ("kcl/processor.py", ("consumers/kcl/processor.py",)),
    ("warehouse/plan.py", ("consumers/warehouse/plan.py",)),
)
CHECKPOINTING = ("ǁRecordProcessorǁ_flush__", "ǁRecordProcessorǁ_checkpoint__")

KILLED = {1, 3, 36, 24, -24, 152, 255}  # mutmut: a failing test, pytest internal error, timeout
NAMES = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", None: "not checked"}


@dataclass
class Score:
    total: int = 0
    killed: int = 0
    equivalent: int = 0
    left: list[tuple[str, str]] = field(default_factory=list)  # (mutant, status) not killed

    @property
    def percent(self) -> float:
        counted = self.total - self.equivalent
        return 100.0 * self.killed / counted if counted else 100.0

    def line(self, name: str) -> str:
        return (
            f"{name:<38} {self.percent:5.1f} %  killed {self.killed:>4} / {self.total:>4}"
            f"  equivalent {self.equivalent:>3}  left {len(self.left):>3}"
        )


def load_results(mutants: Path) -> dict[str, dict[str, int | None]]:
    """exit code by mutant name, by source file."""
    results = {}
    for _, files in MODULES:
        for path in files:
            meta = mutants / f"{path}.meta"
            if meta.exists():
                results[path] = json.loads(meta.read_text())["exit_code_by_key"]
    return results


def load_equivalent(path: Path | None = None) -> dict[str, str]:
    path = path or EQUIVALENT
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text())["equivalent"]
    return {e["mutant"]: e["reason"] for e in entries}


def score(
    results: dict[str, dict[str, int | None]], equivalent: dict[str, str]
) -> tuple[dict[str, Score], list[str]]:
    scores: dict[str, Score] = {}
    seen: set[str] = set()
    stale: list[str] = []
    for module, files in MODULES:
        extra = ["  checkpointing (_flush, _checkpoint)"] if "processor" in module else []
        names = [module, *extra]
        for name in names:
            scores[name] = Score()
        for path in files:
            for mutant, code in sorted(results.get(path, {}).items()):
                seen.add(mutant)
                targets = [scores[module]]
                if "processor" in module and any(c in mutant for c in CHECKPOINTING):
                    targets.append(scores[names[1]])
                for s in targets:
                    s.total += 1
                    if code in KILLED:
                        s.killed += 1
                    elif mutant in equivalent and code == 0:
                        s.equivalent += 1
                    else:
                        s.left.append((mutant, _status(code)))
                if mutant in equivalent and code != 0:
                    stale.append(f"{mutant}: listed as equivalent but {_status(code)}")
    files_run = {p for p in results}
    for mutant in equivalent:
        if mutant not in seen and any(mutant.startswith(_module_name(p)) for p in files_run):
            stale.append(f"{mutant}: listed as equivalent but no longer a mutant (code changed?)")
    return scores, stale


def _status(code: int | None) -> str:
    return "killed" if code in KILLED else NAMES.get(code, f"exit {code}")


def _change(mutant: str) -> str:
    """The mutated lines, indented (mutmut's own diff, without its headers)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(mutant)
    return "\n".join(
        f"      {line}"
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def _module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".") + "."


def main() -> int:
    results = load_results(ROOT / "mutants")
    if not results:
        print("no mutation results in mutants/: run `make mutation`", file=sys.stderr)
        return 2
    equivalent = load_equivalent()
    scores, stale = score(results, equivalent)
    print(f"mutation score per module (target >= {TARGET:.0f} % killed; equivalent not counted)")
    for name, s in scores.items():
        print(s.line(name))
    verbose = "-v" in sys.argv[1:]
    for name, s in scores.items():
        if s.left and (verbose or s.percent < TARGET) and not name.startswith(" "):
            print(f"\nnot killed in {name} (`.venv/bin/mutmut show <name>` shows the change):")
            for mutant, status in s.left:
                print(f"  {status:<11} {mutant}")
                if verbose:
                    print(_change(mutant))
    for line in stale:
        print(f"stale entry in {EQUIVALENT.relative_to(ROOT)}: {line}")
    below = [n for n, s in scores.items() if s.percent < TARGET and not n.startswith(" ")]
    if below:
        print(f"below {TARGET:.0f} %: {', '.join(below)}")
    return 1 if below or stale else 0


if __name__ == "__main__":
    sys.exit(main())
