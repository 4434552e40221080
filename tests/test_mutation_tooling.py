"""The mutation tooling (`make mutation`) itself works: a smoke test on a tiny fixture module.

`make mutation` is too slow for every run, so these prove in seconds that its
parts still do their job: the own mutator makes the mutants that mutmut
cannot (a letter set, a regex count, a module constant, a decorated
function), the forked runner kills a mutant the tests notice and reports one
they do not, and the target table names files that exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from mutation.mutmut_runs import mutmut_config, stage
from mutation.own_mutants import own_mutants
from mutation.patterns import is_letter_set, pattern_mutants
from mutation.targets import TARGETS

REPO = Path(__file__).resolve().parent.parent

FIXTURE = textwrap.dedent(
    '''
    """A tiny module whose rules sit where mutmut does not look."""

    import re
    from functools import cached_property

    CODE = re.compile(r"^[A-Z][0-9]{3}$")
    LETTERS = "ABDE"
    LIMIT = 3


    def is_number(value: str) -> bool:
        """mutmut mutates this body; only its pattern is ours."""
        return re.fullmatch(r"[0-9]+", value) is not None


    class Box:
        @cached_property
        def size(self) -> int:
            return LIMIT + 1
    '''
)


def changes(source: str) -> set[str]:
    return {f"{m.before} -> {m.after}" for m in own_mutants(source)}


def test_own_mutants_cover_what_mutmut_leaves_out() -> None:
    made = changes(FIXTURE)
    assert 'LETTERS = "ABDE" -> LETTERS = "ABE"' in made  # a letter set loses D
    assert 'LETTERS = "ABDE" -> LETTERS = "A-E"' in made  # ... or gains C
    assert r'CODE = re.compile(r"^[A-Z][0-9]{3}$") -> CODE = re.compile(r"^[A-Z][0-9]{2}$")' in made
    assert r'CODE = re.compile(r"^[A-Z][0-9]{3}$") -> CODE = re.compile(r"^[A-Z][1-9]{3}$")' in made
    assert "LIMIT = 3 -> LIMIT = 4" in made  # mutmut's number operator, at module level
    assert "return LIMIT + 1 -> return LIMIT - 1" in made  # a decorated method's body
    assert any(m.what == "decorator @cached_property removed" for m in own_mutants(FIXTURE))
    # Inside a function mutmut mutates, only the regex is ours (mutmut makes the rest).
    assert (
        'return re.fullmatch(r"[0-9]+", value) is not None -> '
        'return re.fullmatch(r"[0-9]*", value) is not None'
    ) in made
    assert not any("is None" in change.split(" -> ")[1] for change in made)
    assert not any("mutmut mutates" in change for change in made)  # docstrings are left alone


def test_the_public_names_list_is_not_mutated() -> None:
    """`__all__` carries no rule (nothing star-imports; ruff F822 checks its names exist)."""
    made = changes('__all__ = ["LIMIT"]\nLIMIT = 3\n')
    assert made == {"LIMIT = 3 -> LIMIT = 4", "LIMIT = 3 -> LIMIT = None"}


def test_pattern_mutants_are_valid_regexes_one_rule_at_a_time() -> None:
    texts = {m.text for m in pattern_mutants(r"^(?:\+|00)[0-9]{2,3}\s*$")}
    assert r"^(?:00)[0-9]{2,3}\s*$" in texts and r"^(?:\+)[0-9]{2,3}\s*$" in texts
    assert r"^(?:\+|00)[0-9]{2,3}$" in texts  # the optional spaces never allowed
    assert r"^(?:\+|00)[0-9]{3,3}\s*$" in texts and r"^(?:\+|00)[0-9]{2,4}\s*$" in texts
    assert is_letter_set("A-PR-UWYZ") and not is_letter_set("GMC") and not is_letter_set("HCPC")
    # an f-string keeps its placeholders whole and its doubled braces doubled
    f_texts = {m.text for m in pattern_mutants("{FIRST}[0-9]{{1,2}}", fstring=True)}
    assert "{FIRST}[0-9]{{1,1}}" in f_texts and "{FIRST}[1-9]{{1,2}}" in f_texts


def test_the_runner_kills_what_the_tests_notice_and_reports_what_they_do_not(
    tmp_path: Path,
) -> None:
    (tmp_path / "rules.py").write_text(
        textwrap.dedent(
            """
            import re

            AREA = r"[A-Z]{1,2}"
            AREA_MESSAGE = "Enter the postcode area"


            def is_area(text: str) -> bool:
                return re.fullmatch(AREA, text) is not None
            """
        )
    )
    (tmp_path / "test_rules.py").write_text(
        textwrap.dedent(
            """
            from rules import is_area


            def test_areas():
                assert is_area("A") and is_area("ZZ") and is_area("SE")
                assert not is_area("") and not is_area("ABC")
            """
        )
    )
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mutation",
            "--root",
            str(tmp_path),
            "--module",
            "rules.py",
            "--tests",
            "test_rules.py",
            "--part",
            "own",
            "--json",
            str(report),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    ((module,),) = [[r for r in json.loads(report.read_text())]]
    (part,) = module["parts"]
    # Every mutant of the tested rule dies ([A-Z] -> [B-Z], {1,2} -> {1,3}, ...) ...
    assert part["mutants"] - part["killed"] == len(part["survivors"])
    assert not [s for s in part["survivors"] if "AREA =" in s]
    # ... and the untested message's mutants are reported, each of them.
    assert part["survivors"] and all("AREA_MESSAGE" in s for s in part["survivors"])
    assert part["killed"] >= 6


def test_every_target_names_a_module_and_its_test_files() -> None:
    for target in TARGETS:
        assert (REPO / target.module).is_file(), target.module
        for test in target.tests:
            assert (REPO / test).is_file(), test


def test_mutmut_gets_one_module_and_only_its_test_files() -> None:
    (target,) = [t for t in TARGETS if t.module == "bot/directory.py"]
    config = tomllib.loads(mutmut_config(target, ["bot", "cards"]))["tool"]["mutmut"]
    assert config["only_mutate"] == ["bot/directory.py"]
    assert config["source_paths"] == ["bot"] and config["also_copy"] == ["cards", "docs"]
    assert config["pytest_add_cli_args_test_selection"] == list(target.tests)


def test_the_staged_copy_holds_the_documents_tests_compare_but_not_the_gallery(
    tmp_path: Path,
) -> None:
    """A test that keeps docs/request-form.md equal to the form reads it from the staged copy."""
    (target,) = [t for t in TARGETS if t.module == "bot/orders/fields.py"]
    staged = stage(target, root=REPO, work=tmp_path / "staged")
    assert (staged / "docs" / "request-form.md").read_bytes() == (
        REPO / "docs" / "request-form.md"
    ).read_bytes()
    assert not (staged / "docs" / "cards").exists()
