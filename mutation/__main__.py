"""`python -m mutation`: mutation testing of the modules in `mutation.targets`, one table.

For each module, two parts:

- functions: mutmut 3 (`mutation.mutmut_runs`), which mutates function and
  method bodies and runs only the tests that reach each function; its
  survivors are tested again with a fresh import (a function that runs while
  the module is imported is out of mutmut's reach);
- module level, classes, decorators, patterns: our own mutants
  (`mutation.own_mutants`) of what mutmut leaves alone, run in forked
  children (`mutation.forks`).

The score of a module is killed / mutants over both parts; a mutant no test
reaches counts as not killed. The table and every survivor are printed and
written to `var/mutation/report.md`, from which `docs/coverage.md` is updated.

`--module PATH --tests FILE...` runs an ad hoc target instead of the table
(with `--root`, a project elsewhere: the tooling's own smoke test uses it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mutation.forks import ForkRunner
from mutation.mutmut_runs import run_mutmut
from mutation.own_mutants import own_mutants
from mutation.targets import TARGETS, Target

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Part:
    """One half of a module's result: how many mutants, how many killed, the survivors."""

    name: str
    mutants: int = 0
    killed: int = 0
    unreached: int = 0
    survivors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return self.killed / self.mutants if self.mutants else 1.0


@dataclass
class ModuleResult:
    target: Target
    parts: list[Part]

    @property
    def total(self) -> Part:
        total = Part("total")
        for part in self.parts:
            total.mutants += part.mutants
            total.killed += part.killed
            total.unreached += part.unreached
            total.seconds += part.seconds
        return total


def run_functions(target: Target, runner: ForkRunner, *, root: Path, work: Path) -> Part:
    """mutmut's mutants; its survivors tested again with a fresh import (see mutmut_runs)."""
    started = time.monotonic()
    mutants = run_mutmut(target, root=root, work=work / "mutmut", jobs=runner.jobs)
    survivors = [m for m in mutants if not m.killed]
    again = runner.run([m.source for m in survivors], progress=_progress(target.module, "mutmut"))
    part = Part("functions (mutmut)", seconds=time.monotonic() - started)
    part.mutants = len(mutants)
    part.killed = sum(m.killed for m in mutants) + sum(o.killed for o in again)
    left = [m for m, o in zip(survivors, again, strict=True) if not o.killed]
    part.unreached = sum(m.status == "no tests" for m in left)
    part.survivors = [m.label for m in left]
    return part


def run_own(target: Target, runner: ForkRunner, *, root: Path) -> Part:
    """Our mutants of what mutmut leaves alone (see own_mutants)."""
    started = time.monotonic()
    mutants = own_mutants((root / target.module).read_text(encoding="utf-8"))
    outcomes = runner.run([m.source for m in mutants], progress=_progress(target.module, "own"))
    part = Part("module level, classes, decorators, patterns (own)")
    part.seconds = time.monotonic() - started
    part.mutants = len(mutants)
    part.killed = sum(o.killed for o in outcomes)
    part.survivors = [m.label for m, o in zip(mutants, outcomes, strict=True) if not o.killed]
    return part


def _progress(module: str, kind: str) -> Callable[[int, int], None]:
    interactive = sys.stderr.isatty()

    def show(done: int, total: int) -> None:
        line = f"  {module}: {done}/{total} {kind} mutants"
        if interactive:
            print(f"\r{line}", end="\n" if done == total else "", file=sys.stderr)
        elif done == total or done % 50 == 0:
            print(line, file=sys.stderr)

    return show


def render(results: list[ModuleResult], *, threshold: float) -> str:
    """The table (one row per part, one per module) and every survivor, as Markdown."""
    lines = [
        "| Module | Part | Mutants | Killed | Not reached | Score |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for result in results:
        for part in result.parts:
            lines.append(
                f"| `{result.target.module}` | {part.name} | {part.mutants} | {part.killed}"
                f" | {part.unreached} | {part.score:.0%} |"
            )
        total = result.total
        flag = "" if total.score >= threshold else " (below target)"
        lines.append(
            f"| **`{result.target.module}`** | **total** | **{total.mutants}** | **{total.killed}**"
            f" | **{total.unreached}** | **{total.score:.1%}**{flag} |"
        )
    lines.append("")
    for result in results:
        survivors = [(p.name, s) for p in result.parts for s in p.survivors]
        lines.append(f"### Survivors of `{result.target.module}` ({len(survivors)})")
        lines.append("")
        lines += [f"- {name.split(' (')[-1].rstrip(')')}: {label}" for name, label in survivors]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="only these modules of the table (paths)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")))
    parser.add_argument("--part", choices=("both", "functions", "own"), default="both")
    parser.add_argument("--root", type=Path, default=REPO, help="the project to test")
    parser.add_argument("--module", help="an ad hoc module instead of the table (with --tests)")
    parser.add_argument("--tests", nargs="+", default=[], help="the ad hoc module's test files")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    if args.module:
        targets = [Target(args.module, tuple(args.tests))]
    else:
        unknown = set(args.modules) - {t.module for t in TARGETS}
        if unknown:
            parser.error(f"not in mutation/targets.py: {', '.join(sorted(unknown))}")
        targets = [t for t in TARGETS if not args.modules or t.module in args.modules]
    work_root = root / "var" / "mutation"
    # Children must not write the project's hypothesis database.
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(work_root / "hypothesis")

    results = []
    for target in targets:
        print(f"mutation: {target.module} against {', '.join(target.tests)}", file=sys.stderr)
        work = work_root / target.module.replace("/", "_").removesuffix(".py")
        runner = ForkRunner(
            root=root,
            module_path=target.module,
            tests=target.tests,
            jobs=args.jobs,
            work=work / "forks",
        )
        runner.prepare()
        parts = []
        if args.part in {"both", "functions"}:
            parts.append(run_functions(target, runner, root=root, work=work))
        if args.part in {"both", "own"}:
            parts.append(run_own(target, runner, root=root))
        results.append(ModuleResult(target, parts))
        # Written after every module, so a long run interrupted later keeps what it found.
        report = render(results, threshold=args.threshold)
        (work_root / "report.md").write_text(report + "\n", encoding="utf-8")

    print(report)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "module": r.target.module,
                        "parts": [
                            {
                                "name": p.name,
                                "mutants": p.mutants,
                                "killed": p.killed,
                                "unreached": p.unreached,
                                "survivors": p.survivors,
                            }
                            for p in r.parts
                        ],
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
