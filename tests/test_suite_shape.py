"""The suite's own shape: helpers in `tests/support/`, every fixture defined once.

A test module that imports from another makes the second one a library nobody
maintains as one (and runs its tests' module-level code twice); a fixture
defined in two places means a reader cannot tell which one a test gets.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def modules() -> list[Path]:
    return sorted([*TESTS.glob("*.py"), *(TESTS / "support").glob("*.py")])


def fixture_names(path: Path) -> list[str]:
    """Every function in `path` decorated `@pytest.fixture` (called or not)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr == "fixture":
                found.append(node.name)
    return found


def imported_modules(path: Path) -> list[str]:
    """Every module `path` imports, relative imports spelt with their dots."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found += [module] if node.module else [module + a.name for a in node.names]
    return found


def is_test_module(module: str) -> bool:
    name = module.lstrip(".").removeprefix("tests.")
    return name.startswith(("test_", "conftest"))


def test_no_test_module_imports_another() -> None:
    imports = {
        f"{path.name}: {module}"
        for path in modules()
        for module in imported_modules(path)
        if is_test_module(module)
    }
    assert imports == set()


def test_every_fixture_is_defined_once() -> None:
    counts = Counter(name for path in modules() for name in fixture_names(path))
    assert {name: n for name, n in counts.items() if n > 1} == {}


def test_the_checks_above_see_fixtures_and_imports() -> None:
    """Guards against vacuous passes: conftest's fixtures are found."""
    assert {"make_bot", "smtp", "clock", "connector"} <= set(fixture_names(TESTS / "conftest.py"))
    assert "tests.support.teams" in imported_modules(TESTS / "conftest.py")
    assert all(is_test_module(m) for m in ("tests.test_order_e2e", ".conftest", "test_x"))
    assert not is_test_module("tests.support.orders")
