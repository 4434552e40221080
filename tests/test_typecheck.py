"""The type checker's rules hold: strict everywhere it looks, and every exception explained.

mypy itself runs in `make lint` (so in `make test` and CI); these tests keep its
configuration from quietly loosening (docs/decisions.md, D27):

* `strict = true`, and no override switches errors off or names our own code;
* every `# type: ignore` names its error code and gives its reason on the same
  line, after the ignore;
* mypy is pinned in the dev dependencies, and `make test` runs it through `make lint`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MYPY = PYPROJECT["tool"]["mypy"]
OWN = ("bot", "cards", "manifest", "app")

#: `# type: ignore[code, ...]` followed by `# why`, on the same line.
EXPLAINED = re.compile(r"#\s*type:\s*ignore\[[a-z0-9-]+(?:,\s*[a-z0-9-]+)*\]\s+#\s*\S")
IGNORE = re.compile(r"#\s*type:\s*ignore\b")


def _checked_files() -> list[Path]:
    found: list[Path] = []
    for entry in MYPY["files"]:
        path = ROOT / entry
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def unexplained(line: str) -> bool:
    """A line holding an ignore that lacks its code or its reason."""
    return bool(IGNORE.search(line)) and not EXPLAINED.search(line)


def test_mypy_is_strict_over_everything_that_ships() -> None:
    assert MYPY["strict"] is True
    assert {"bot", "cards", "manifest", "app.py"} <= set(MYPY["files"])
    assert "ignore-without-code" in MYPY["enable_error_code"]


@pytest.mark.parametrize("override", MYPY.get("overrides", []), ids=lambda o: ",".join(o["module"]))
def test_no_override_silences_errors_or_names_our_code(override: dict[str, object]) -> None:
    assert "ignore_errors" not in override
    assert "disable_error_code" not in override
    modules = override["module"]
    assert isinstance(modules, list)
    for module in modules:
        assert module.split(".")[0] not in OWN, f"an override for our own {module}"


def test_every_ignore_says_its_code_and_why() -> None:
    checked = _checked_files()
    assert len(checked) > 50, "the checked paths were not found"
    bad = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in checked
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if unexplained(line)
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("x = f(y)  # type: ignore", True),
        ("x = f(y)  # type: ignore[arg-type]", True),
        ("# the SDK says str\nx = f(y)  # type: ignore[arg-type]".splitlines()[1], True),
        ("x = f(y)  # type: ignore[arg-type]  # the SDK passes None", False),
        ("x = f(y)  # type: ignore[arg-type, union-attr]  # msrest's declared None", False),
        ("x = f(y)  # a comment, no ignore", False),
    ],
)
def test_the_ignore_rule_tells_explained_from_bare(line: str, flagged: bool) -> None:
    """Control: the rule above flags a bare or unexplained ignore and passes an explained one."""
    assert unexplained(line) is flagged


def test_mypy_is_pinned_for_make_venv() -> None:
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    assert any(re.fullmatch(r"mypy==[0-9.]+", requirement) for requirement in dev)


def test_make_test_runs_the_type_checker() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test:[^\n#]*\blint\b", makefile, re.M)
    assert re.search(r"^lint:[^\n#]*\btypecheck\b", makefile, re.M)
    assert re.search(r"^typecheck:[^\n]*\n\t\$\(PY\) -m mypy\s*$", makefile, re.M)
