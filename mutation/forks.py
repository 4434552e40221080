"""Run one module's tests against each of its mutants, in forked children, a few at a time.

A mutant of module-level code only takes effect when the module is imported,
so each mutant needs fresh imports of the project. Starting an interpreter per
mutant costs seconds (pytest, botbuilder, SQLAlchemy, pydantic); forking one
that has already imported them costs milliseconds. So the parent first runs
the tests once, unmutated, in a child that reports which modules it imported;
the parent imports the third-party ones among them (never the project's own),
then forks one child per mutant. The child puts an import hook first on
`sys.meta_path` that serves the mutant's source for the module under test
(under its real file name, so `Path(__file__)` still finds data files) and
runs pytest on the module's own test files with `-x`.

The module's file is never changed (children and logs live under
`var/mutation/`), so a developer can go on working, and `make test` can run,
while mutants are tested.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.abc
import importlib.util
import json
import os
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

#: pytest exit codes that mean the mutant was noticed: 1 tests failed, 2 a collection error,
#: 3 an internal error, 4 a conftest that cannot be imported (the arguments themselves are
#: proven good by the unmutated run, which must exit 0).
_KILLING_CODES = frozenset({1, 2, 3, 4})
_CHILD_CRASHED = 70


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the tests made of one mutant: killed, survived, timeout (counted as killed)."""

    status: str
    seconds: float
    log: Path | None = None

    @property
    def killed(self) -> bool:
        return self.status in {"killed", "timeout"}


class ToolError(RuntimeError):
    """The tooling, not a mutant, went wrong (say, the tests fail without any mutant)."""


class _ServeSource(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook: `name` comes from `source`, with `path` as its file."""

    def __init__(self, name: str, path: Path, source: str) -> None:
        self._name, self._path, self._source = name, path, source

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != self._name:
            return None
        return importlib.util.spec_from_file_location(fullname, self._path, loader=self)

    def create_module(self, spec: object) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(compile(self._source, str(self._path), "exec"), module.__dict__)


class ForkRunner:
    """The tests of one module, run against mutant sources of it."""

    def __init__(
        self,
        *,
        root: Path,
        module_path: str,
        tests: Sequence[str],
        jobs: int,
        work: Path,
    ) -> None:
        self.root = root.resolve()
        self.path = self.root / module_path
        self.module = module_path.removesuffix(".py").replace("/", ".")
        self.tests = list(tests)
        self.jobs = max(1, jobs)
        self.work = work
        self.limit = 60.0

    # -- set-up ------------------------------------------------------------------------------
    def prepare(self) -> float:
        """Run the tests unmutated, preload what they import, and prove a broken module fails.

        Returns the unmutated run's seconds. Raises ToolError when the tests do
        not pass as they are, or when a module that raises on import is not
        noticed (then mutants would not be seen either).
        """
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self._forget_project()
        modules = self.work / "modules.json"
        source = self.path.read_text(encoding="utf-8")
        (clean,) = self._run_all([source], modules_out=modules, keep_logs=True)
        if clean.status != "survived":
            raise ToolError(f"{self.module}: the tests fail without any mutant (see {clean.log})")
        self.limit = max(15.0, clean.seconds * 4 + 10)
        self._preload(json.loads(modules.read_text()))
        broken = source + "\nraise RuntimeError('mutation tooling: forced failure')\n"
        (forced,) = self._run_all([broken], keep_logs=True)
        if not forced.killed:
            raise ToolError(f"{self.module}: a module that fails on import was not noticed")
        return clean.seconds

    def _forget_project(self) -> None:
        """Drop the project's modules a previous module's run preloaded in this process."""
        venv = Path(sys.prefix).resolve()
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file:
                where = Path(file).resolve()
                if where.is_relative_to(self.root) and not where.is_relative_to(venv):
                    del sys.modules[name]

    def _preload(self, imported: list[list[str]]) -> None:
        """Import in this process what the tests imported, except what depends on the module.

        Third-party modules, and the project's modules that do not import the
        module under test (directly, through others, or inside a function), are
        the same for every mutant, so each child inherits them. Modules that do
        import it, and test files (pytest imports those itself, rewriting their
        asserts), are imported afresh by every child.
        """
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no thread pools across fork()
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        venv = Path(sys.prefix).resolve()
        project: dict[str, Path] = {}
        for name, file in imported:
            where = Path(file).resolve() if file else None
            if where and where.is_relative_to(self.root) and not where.is_relative_to(venv):
                project[name] = where
        fresh = _dependents(self.module, project)
        tests = [self.root / "tests", *(self.root / t for t in self.tests)]
        sys.path.insert(0, str(self.root))  # the project under test, not the one we run from
        for name, _file in imported:
            if name in sys.modules or name in fresh or name in {"__main__", "__mp_main__"}:
                continue
            where = project.get(name)
            if where and any(where.is_relative_to(t) or where == t for t in tests):
                continue
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        if early := sorted(fresh & set(sys.modules)):
            raise ToolError(f"{self.module}: preloading imported {early}, which must stay fresh")

    # -- running -------------------------------------------------------------------------------
    def run(
        self, sources: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> list[Outcome]:
        return self._run_all(sources, progress=progress)

    def _run_all(
        self,
        sources: Sequence[str],
        *,
        modules_out: Path | None = None,
        keep_logs: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(sources)
        waiting = deque(range(len(sources)))
        running: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        done = 0
        while waiting or running:
            while waiting and len(running) < self.jobs:
                index = waiting.popleft()
                pid = self._fork(index, sources[index], modules_out)
                running[pid] = (index, time.monotonic())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                self._stop_overdue(running)
                time.sleep(0.02)
                continue
            if pid not in running:
                continue
            index, started = running.pop(pid)
            outcome = self._outcome(index, status, time.monotonic() - started, keep_logs)
            outcomes[index] = outcome
            done += 1
            if progress:
                progress(done, len(sources))
        return [o for o in outcomes if o is not None]

    def _stop_overdue(self, running: dict[int, tuple[int, float]]) -> None:
        now = time.monotonic()
        for pid, (index, started) in running.items():
            if now - started > self.limit:
                (self.work / f"{index}.timeout").touch()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)

    def _outcome(self, index: int, status: int, seconds: float, keep_logs: bool) -> Outcome:
        log = self.work / f"{index}.log"
        shutil.rmtree(self.work / f"tmp{index}", ignore_errors=True)
        timed_out = self.work / f"{index}.timeout"
        if timed_out.exists():
            timed_out.unlink()
            return Outcome("timeout", seconds, log)
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            return Outcome("survived", seconds, log)
        if code in _KILLING_CODES or code < 0:  # a negative code: killed by a signal (a crash)
            if not keep_logs:
                log.unlink(missing_ok=True)
            return Outcome("killed", seconds, None if not keep_logs else log)
        raise ToolError(f"{self.module}: pytest exited {code} (see {log})")

    def _fork(self, index: int, source: str, modules_out: Path | None) -> int:
        log = self.work / f"{index}.log"
        basetemp = self.work / f"tmp{index}"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        try:  # the child: never returns
            os.setpgid(0, 0)
            code = self._child(source, log, basetemp, modules_out)
        except BaseException:  # noqa: BLE001 - report any failure as an exit code, never return
            code = _CHILD_CRASHED
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    def _child(self, source: str, log: Path, basetemp: Path, modules_out: Path | None) -> int:
        output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.chdir(self.root)
        sys.dont_write_bytecode = True
        sys.path.insert(0, str(self.root))
        sys.meta_path.insert(0, _ServeSource(self.module, self.path, source))
        import pytest

        code = int(
            pytest.main(
                [
                    *self.tests,
                    "-x",
                    "-q",
                    "--no-header",
                    "-p",
                    "no:cacheprovider",
                    "--hypothesis-seed=0",
                    f"--basetemp={basetemp}",
                    f"--rootdir={self.root}",
                ]
            )
        )
        if modules_out is not None:
            imported = [
                [name, getattr(module, "__file__", None) or ""]
                for name, module in list(sys.modules.items())
            ]
            modules_out.write_text(json.dumps(imported))
        return code


def _dependents(target: str, project: dict[str, Path]) -> set[str]:
    """The target and every project module that imports it, directly or through others."""
    importers: dict[str, set[str]] = {}
    for name, file in project.items():
        for imported in _imports(name, file):
            importers.setdefault(imported, set()).add(name)
    found, todo = {target}, [target]
    while todo:
        for importer in importers.get(todo.pop(), ()):
            if importer not in found:
                found.add(importer)
                todo.append(importer)
    return found


def _imports(name: str, file: Path) -> set[str]:
    """Every module `file` imports anywhere in it, and the packages it sits in.

    Importing `bot.handlers.common` runs `bot/handlers/__init__.py` first, so a
    module depends on its parent packages as much as on what it imports.
    """
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    parts = name.split(".")
    found = {".".join(parts[:i]) for i in range(1, len(parts))}
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found
