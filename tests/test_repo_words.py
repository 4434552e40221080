"""The repo stands alone: no word in it points at something its reader cannot open, and
settings carry no alias beyond the Bot Framework names Azure sets.

Notes kept outside the repo, and issue numbers of a tracker the repo does not
ship, told a reader where a fact came from but not the fact. The facts are in
`docs/` now (the SDK's traps in docs/architecture.md, hazards in
docs/clinical-safety.md, decisions in docs/decisions.md); these tests keep
the pointers from coming back. A public issue elsewhere is cited by its URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from bot.settings import DatabaseSettings, DevDefaultSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
#: Where the repo's own words are: code, templates, tests, docs, build and deployment files.
FOLDERS = (
    "bot",
    "cards",
    "tests",
    "manifest",
    "infra",
    "docs",
    "bench",
    "mutation",
    "tools",
    ".ci",
)
FILES = ("README.md", "Makefile", "app.py", "pyproject.toml", "Dockerfile")
SKIPPED_PARTS = {"__pycache__", "node_modules", ".venv"}
#: Notes that live outside the repo, and "issue 8" / "issue #8" / "issues 8/14".
UNOPENABLE = re.compile(
    r"TEAMS-NOTES|\bTEAMS NOTES\b|\bDOMAIN\.md\b|\bDESIGN\.md\b|\bissues?\s*#?\d", re.IGNORECASE
)
#: The environment names Azure, the Teams Toolkit and the deployment guides use.
AZURE_NAMES = {
    "app_id": "MicrosoftAppId",
    "app_password": "MicrosoftAppPassword",
    "app_type": "MicrosoftAppType",
    "app_tenant_id": "MicrosoftAppTenantId",
}


def repo_texts() -> dict[Path, str]:
    """Every text file of the repo's own, by path (binary files, such as PNGs, skipped)."""
    paths = [ROOT / name for name in FILES if (ROOT / name).is_file()]
    for folder in FOLDERS:
        paths += [
            path
            for path in sorted((ROOT / folder).rglob("*"))
            if path.is_file() and not SKIPPED_PARTS & set(path.relative_to(ROOT).parts)
        ]
    texts = {}
    for path in paths:
        try:
            texts[path] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def unopenable(text: str) -> list[str]:
    """Each pointer in `text` a reader of the repo cannot follow, with the line it is on."""
    return [
        f"line {text.count(chr(10), 0, match.start()) + 1}: {match.group(0)!r}"
        for match in UNOPENABLE.finditer(text)
    ]


def test_no_word_points_at_notes_or_issues_outside_the_repo() -> None:
    found = {
        str(path.relative_to(ROOT)): hits
        for path, text in repo_texts().items()
        if path != Path(__file__).resolve() and (hits := unopenable(text))
    }
    assert found == {}


@pytest.mark.parametrize(
    ("text", "hits"),
    [
        ("see TEAMS-NOTES trap 1", 1),
        ("as DOMAIN.md says", 1),
        ("(issue 8)", 1),
        ("issue #12 asked", 1),
        ("Issue 10 split the model", 1),
        ("before issues 8/14", 1),
        ("(AdaptiveCards issue\n5677)", 1),
        ("https://github.com/microsoft/AdaptiveCards/issues/5677", 0),
        ("tissue 5 and the issue of consent", 0),
        ("docs/architecture.md, the SDK's traps", 0),
    ],
)
def test_the_check_sees_the_pointers_and_only_them(text: str, hits: int) -> None:
    assert len(unopenable(text)) == hits


def test_the_check_reads_the_repo() -> None:
    """Guards against a vacuous pass: code, tests, docs and templates are all read."""
    names = {str(path.relative_to(ROOT)) for path in repo_texts()}
    assert {"bot/settings.py", "tests/conftest.py", "docs/architecture.md", "README.md"} <= names
    assert any(name.startswith("cards/templates/") for name in names)


@pytest.mark.parametrize("model", [DatabaseSettings, Settings, DevDefaultSettings])
def test_settings_alias_only_the_names_azure_sets(model: type[DatabaseSettings]) -> None:
    """Any other setting is read by its own name, in any case: an alias would only repeat it."""
    assert model.model_config.get("case_sensitive", False) is False
    aliases = {
        name: field.validation_alias
        for name, field in model.model_fields.items()
        if field.validation_alias is not None
    }
    expected = {
        name: AliasChoices(azure, name)
        for name, azure in AZURE_NAMES.items()
        if name in model.model_fields
    }
    assert aliases == expected


@pytest.mark.parametrize(
    ("variable", "value", "field", "read"),
    [
        ("PORT", "4101", "port", 4101),
        ("port", "4102", "port", 4102),
        ("DATABASE_URL", "sqlite+aiosqlite:///elsewhere.db", "database_url", None),
        ("SMTP_HOST", "send.nhs.net", "smtp_host", "send.nhs.net"),
        ("MAIL_MAX_ATTEMPTS", "3", "mail_max_attempts", 3),
        ("CONNECTOR_RETRY_BASE_SECONDS", "0", "connector_retry_base_seconds", 0.0),
        ("FILE_DOWNLOAD_HOSTS", "*.example.org", "file_download_hosts", ("*.example.org",)),
        ("MicrosoftAppId", "0b5c4e8a-1111-2222-3333-444455556666", "app_id", None),
        ("MicrosoftAppType", "SingleTenant", "app_type", "SingleTenant"),
        ("MicrosoftAppTenantId", "0b5c4e8a-aaaa-2222-3333-444455556666", "app_tenant_id", None),
    ],
)
def test_each_setting_is_read_from_its_environment_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, read: object
) -> None:
    monkeypatch.setenv(variable, value)
    settings = DevDefaultSettings(_env_file=None)
    assert getattr(settings, field) == (value if read is None else read)
    if field == "database_url":
        assert DatabaseSettings(_env_file=None).database_url == value


def test_a_dotenv_file_is_read_by_the_names_the_readme_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_text("PORT=4103\nDATABASE_URL=sqlite+aiosqlite:///dotenv.db\nLOG_LEVEL=DEBUG\n")
    for name in ("PORT", "DATABASE_URL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    settings = DevDefaultSettings(_env_file=env)
    assert (settings.port, settings.database_url, settings.log_level) == (
        4103,
        "sqlite+aiosqlite:///dotenv.db",
        "DEBUG",
    )
