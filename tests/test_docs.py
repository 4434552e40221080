"""The documentation keeps up with the code.

* Every setting the bot reads (its environment name, the first alias of each
  `bot.settings.Settings` field) is in README.md's configuration table and in
  `infra/env.example`, and neither documents a variable the bot does not read.
* The README's first screen shows `make run` and `make test`.
* Every relative link in README.md and docs/*.md points at a file that exists.
* Every `file::test` reference in the docs names a test function that exists
  (read with `ast`, not by running pytest). Parametrised case ids in brackets
  (`[missing header]`) are not checked here; the function that owns them is.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.support.settings import setting_names

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / "infra" / "env.example"
DOCS = sorted((ROOT / "docs").glob("*.md"))
TEST_DIR = ROOT / "tests"


SETTINGS = setting_names()


def _section(markdown: str, heading: str) -> str:
    """The text under `## heading` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


@cache
def readme_table_names() -> frozenset[str]:
    """Backticked names in the first column of the README's configuration table."""
    names: set[str] = set()
    for line in _section(README.read_text(encoding="utf-8"), "Configuration").splitlines():
        if not line.startswith("|"):
            continue
        first_cell = line.split("|")[1]
        names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", first_cell))
    return frozenset(names)


@cache
def env_example_names() -> frozenset[str]:
    """Variables assigned in env.example, including commented-out assignments (`# HOST=`)."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return frozenset(re.findall(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)=", text, re.M))


def test_settings_are_found() -> None:
    assert len(SETTINGS) >= 30
    assert {"MicrosoftAppId", "PORT", "MAIL_MAX_ATTEMPTS"} <= set(SETTINGS)


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_the_readme_table(name: str) -> None:
    assert name in readme_table_names(), f"add `{name}` to README.md's configuration table"


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_env_example(name: str) -> None:
    assert name in env_example_names(), f"add {name}= (with a comment) to infra/env.example"


def test_readme_table_documents_only_real_settings() -> None:
    assert readme_table_names() - set(SETTINGS) == set()


def test_env_example_holds_only_real_settings() -> None:
    assert env_example_names() - set(SETTINGS) == set()


def test_env_example_holds_no_secrets() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for secret in ("MicrosoftAppPassword", "SMTP_PASSWORD"):
        assert re.search(rf"^{secret}=\s*$", text, re.M), f"{secret} must be empty in env.example"


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    assert "make run" in first_screen
    assert "make test" in first_screen


_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(path: Path) -> list[str]:
    """Link targets that are files in this repository (with any `#anchor` kept)."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return [
        target
        for target in _LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)  # http(s), mailto, ...
    ]


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#{1,6} (.+)$", text, re.M)
    }


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_point_at_files_that_exist(doc: Path) -> None:
    problems = []
    for link in relative_links(doc):
        target, _, anchor = link.partition("#")
        path = (doc.parent / target) if target else doc
        if not path.exists():
            problems.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{link}: no heading #{anchor} in {path.name}")
    assert problems == [], f"{doc.name}: " + "; ".join(problems)


def test_the_link_checker_sees_links() -> None:
    assert "docs/architecture.md" in relative_links(README)


_TEST_REFERENCE = re.compile(r"\b((?:tests/)?[A-Za-z0-9_/]*test_[A-Za-z0-9_]*\.py)::(\w+)")


@cache
def functions_in(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def named_tests(doc: Path) -> list[tuple[str, str]]:
    return sorted(set(_TEST_REFERENCE.findall(doc.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_named_test_exists(doc: Path) -> None:
    """`tests/x.py::test_y` or `x.py::test_y` (relative to tests/, as security.md says)."""
    problems = []
    for file, name in named_tests(doc):
        path = ROOT / file if file.startswith("tests/") else TEST_DIR / file
        if not path.is_file():
            problems.append(f"{file}: no such file")
        elif not name.startswith("test") or name not in functions_in(path):
            problems.append(f"{file}::{name}: no such test function")
    assert problems == [], f"{doc.name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", ["security.md", "clinical-safety.md"])
def test_the_safety_docs_name_their_tests(name: str) -> None:
    """Guards the check above: if the reference format changed, it would pass vacuously."""
    assert len(named_tests(ROOT / "docs" / name)) >= 20
