"""mutmut 3 on one module, in a staging copy of the project, with that module's tests only.

mutmut reads its settings from the `pyproject.toml` of the folder it runs in
and writes `mutants/` there, so each module gets its own staging folder under
`var/mutation/` holding a copy of the project's packages and tests and a
`pyproject.toml` with a `[tool.mutmut]` section made from the target table:
`only_mutate` is the module, `pytest_add_cli_args_test_selection` its test
files. mutmut then records which of those tests reach each function and runs
only those for each mutant (in `--max-children` forked workers).

Results are read back through mutmut's own commands (`results`, `show`), so
its exit-code meanings stay its own.

mutmut swaps a mutant in when its function is called, in a process that has
already imported the module; a function called while the module is imported
(`_letters` building the postcode classes) never runs as a mutant, so its
mutants survive whatever the tests check. Every survivor's whole-module source
is therefore rebuilt from mutmut's mutated file (`_MutantSources`) so that the
caller can test it again with a fresh import.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from mutation.own_mutants import changed_lines
from mutation.targets import Target

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
#: Files outside the packages that tests read: the documents a test keeps equal to the
#: code (docs/request-form.md). The card gallery's pictures are left behind.
_DOCUMENTS = "docs"
_DOCUMENTS_IGNORED = shutil.ignore_patterns("cards")
_RESULT = re.compile(r"^\s*(\S+): (.+)$")


@dataclass(frozen=True, slots=True)
class MutmutMutant:
    """One of mutmut's mutants and its status ("killed", "survived", "no tests", ...)."""

    name: str
    status: str
    before: str = ""
    after: str = ""
    #: The whole module with this mutant in it (for survivors only).
    source: str = ""

    @property
    def killed(self) -> bool:
        return self.status in {"killed", "timeout", "caught by type check"}

    @property
    def label(self) -> str:
        # mutmut names a mutant bot.mod.x_function__mutmut_3 or bot.mod.xǁClassǁmethod__mutmut_3
        function, _, number = self.name.rpartition(".")[2].rpartition("__mutmut_")
        if function.startswith("xǁ"):
            function = function[2:].replace("ǁ", ".")
        else:
            function = function.removeprefix("x_")
        return f"{function} #{number} ({self.status}): `{self.before}` -> `{self.after}`"


def mutmut_config(target: Target, packages: list[str]) -> str:
    """The `[tool.mutmut]` section for one target, appended to the staged pyproject.toml."""
    package = target.module.split("/")[0]
    settings = {
        "source_paths": [package],
        "only_mutate": [target.module],
        "also_copy": [*(p for p in packages if p != package), _DOCUMENTS],
        "pytest_add_cli_args_test_selection": list(target.tests),
        # Hypothesis draws the same examples for every mutant.
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "--hypothesis-seed=0"],
    }
    lines = ["", "[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def project_packages(root: Path) -> list[str]:
    """The project's top-level packages that tests may import (not this tooling)."""
    return sorted(
        p.name
        for p in root.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"mutation", "tests"}
    )


def stage(target: Target, *, root: Path, work: Path) -> Path:
    """A fresh copy of the project for mutmut to run in; returns its folder."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    packages = project_packages(root)
    for name in [*packages, "tests"]:
        shutil.copytree(root / name, work / name, ignore=_IGNORED)
    if (root / _DOCUMENTS).is_dir():
        shutil.copytree(root / _DOCUMENTS, work / _DOCUMENTS, ignore=_DOCUMENTS_IGNORED)
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    if "[tool.mutmut]" in pyproject:
        raise ValueError("pyproject.toml has its own [tool.mutmut]: the targets table owns it")
    (work / "pyproject.toml").write_text(pyproject + mutmut_config(target, packages))
    return work


def run_mutmut(target: Target, *, root: Path, work: Path, jobs: int) -> list[MutmutMutant]:
    """Every mutmut mutant of the target's module with its status; survivors with their change."""
    folder = stage(target, root=root, work=work)
    log = folder / "mutmut.log"
    with log.open("w") as output:
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if run.returncode != 0:
        raise RuntimeError(f"mutmut failed on {target.module} (exit {run.returncode}); see {log}")
    listed = _mutmut(folder, "results", "--all", "True")
    sources = _MutantSources(
        (root / target.module).read_text(encoding="utf-8"),
        (folder / "mutants" / target.module).read_text(encoding="utf-8"),
    )
    mutants = []
    for line in listed.splitlines():
        if match := _RESULT.match(line):
            name, status = match.groups()
            mutant = MutmutMutant(name, status)
            if not mutant.killed:
                before, after, source = sources.survivor(name)
                mutant = MutmutMutant(name, status, before, after, source)
            mutants.append(mutant)
    if not mutants:
        raise RuntimeError(f"mutmut made no mutants of {target.module}; see {log}")
    return mutants


def _mutmut(folder: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


class _MutantSources:
    """Survivors' whole-module sources, from mutmut's mutated file parsed once.

    mutmut's mutated file holds each mutant as a function of its own
    (`x_name__mutmut_3`, or `xǁClassǁname__mutmut_3` in the class body): for a
    module of 800 mutants it is 20,000 lines, which libcst takes seconds to
    parse, so it is parsed once here, not once per survivor (and the changed
    line is found by a diff here, not by a `mutmut show` per survivor).
    """

    def __init__(self, original: str, mutated_file: str) -> None:
        self._module = cst.parse_module(original)
        self._mutated = cst.parse_module(mutated_file)
        self._functions = _functions(self._mutated)

    def survivor(self, name: str) -> tuple[str, str, str]:
        """The first changed line before and after, and the whole module with the mutant in it."""
        mangled = name.rpartition(".")[2]
        function_name = mangled.rpartition("__mutmut_")[0]
        if function_name.startswith("xǁ"):
            class_name, _, plain = function_name[2:].partition("ǁ")
        else:
            class_name, plain = "", function_name.removeprefix("x_")
        mutant = self._functions[(class_name, mangled)]
        target = _function(self._module, class_name, plain)
        replacement = mutant.with_changes(name=cst.Name(plain), decorators=target.decorators)
        before, after = changed_lines(
            self._module.code_for_node(target), self._module.code_for_node(replacement)
        )
        replaced = self._module.deep_replace(target, replacement)
        assert isinstance(replaced, cst.Module)
        return before, after, replaced.code


def _functions(module: cst.Module) -> dict[tuple[str, str], cst.FunctionDef]:
    """Every function of the module and of its classes, by (class name or "", name)."""
    found: dict[tuple[str, str], cst.FunctionDef] = {}
    for node in module.body:
        if isinstance(node, cst.FunctionDef):
            found[("", node.name.value)] = node
        elif isinstance(node, cst.ClassDef) and isinstance(node.body, cst.IndentedBlock):
            for member in node.body.body:
                if isinstance(member, cst.FunctionDef):
                    found[(node.name.value, member.name.value)] = member
    return found


def _function(module: cst.Module, class_name: str, name: str) -> cst.FunctionDef:
    body: Sequence[cst.CSTNode] = module.body
    if class_name:
        (cls,) = [n for n in body if isinstance(n, cst.ClassDef) and n.name.value == class_name]
        assert isinstance(cls.body, cst.IndentedBlock)
        body = cls.body.body
    (function,) = [n for n in body if isinstance(n, cst.FunctionDef) and n.name.value == name]
    return function
