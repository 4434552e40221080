"""The layers docs/architecture.md describes, checked on the source's imports.

Handlers and the Teams edge speak to the store through its repositories and
`StoreUnavailable`, never SQLAlchemy; the store's own modules import in one
direction: tables <- db <- repositories.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "path",
    [*sorted((BOT / "handlers").glob("*.py")), BOT / "teams" / "bot.py"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_handlers_and_the_teams_edge_do_not_import_sqlalchemy(path: Path) -> None:
    assert [m for m in imports(path) if m.split(".")[0] == "sqlalchemy"] == []


def test_the_store_imports_in_one_direction() -> None:
    store = {p.stem: imports(p) for p in (BOT / "store").glob("*.py") if p.stem != "__init__"}
    assert {m for m in store["tables"] if m.startswith("bot.")} == set()
    assert {m for m in store["db"] if m.startswith("bot.")} == {"bot.store.tables"}
    repositories = set(store) - {"tables", "db"}
    for name in ("tables", "db"):
        assert not any(f"bot.store.{r}" in store[name] for r in repositories), name


def test_the_checks_above_see_imports() -> None:
    """Guards against vacuous passes: the parser does find SQLAlchemy where it is used."""
    assert "sqlalchemy.orm" in imports(BOT / "store" / "tables.py")


def test_mail_knows_nothing_of_teams_handlers_or_incidents() -> None:
    """Delivery's layers: mail, then the order side (bot/orders/delivery.py), then Teams."""
    for path in sorted((BOT / "mail").glob("*.py")):
        above = {
            m
            for m in imports(path)
            if m.startswith(("bot.teams", "bot.handlers", "bot.incidents", "botbuilder"))
        }
        assert above == set(), path.name
    order_side = imports(BOT / "orders" / "delivery.py")
    assert not any(m.startswith(("bot.teams", "botbuilder")) for m in order_side)


def test_the_worker_is_imported_only_where_the_app_is_built() -> None:
    """What the worker says (`DeliveryEvent`) and the compose child are their own modules, so
    the order side, the Teams edge and the downtime log need nothing of the worker itself."""
    users = {
        path.relative_to(BOT).as_posix()
        for path in BOT.rglob("*.py")
        if "bot.mail.worker" in imports(path)
    }
    assert users == {"application.py", "services.py"}


def test_only_bot_telemetry_imports_opentelemetry() -> None:
    """Handlers, the edge, the worker and the store report through `bot.telemetry` alone."""
    users = {
        path.relative_to(BOT).as_posix()
        for path in BOT.rglob("*.py")
        if any(m.startswith(("opentelemetry", "azure.monitor")) for m in imports(path))
    }
    assert users == {"telemetry.py"}


def modules_importing(*roots: str) -> set[str]:
    """The modules of `bot/` (paths from it) that import any of these top-level packages."""
    return {
        path.relative_to(BOT).as_posix()
        for path in BOT.rglob("*.py")
        if any(m.split(".")[0] in roots for m in imports(path))
    }


def test_only_the_edge_imports_botbuilder() -> None:
    """botbuilder (archived upstream) stays behind `bot/teams/` and the HTTP edge."""
    users = modules_importing("botbuilder", "botframework", "msrest")
    assert users
    assert {u for u in users if not u.startswith("teams/") and u != "web.py"} == set()


def test_only_the_store_and_the_readiness_probe_import_sqlalchemy() -> None:
    """`/readyz` asks the engine itself whether a connection opens (bot/readiness.py)."""
    users = modules_importing("sqlalchemy", "alembic")
    assert {u for u in users if not u.startswith("store/")} == {"readiness.py"}


def test_handlers_know_nothing_of_teams_or_http() -> None:
    """Handlers take plain types (bot/turns.py) and return an `Outcome`; the edge does the rest."""
    for path in sorted((BOT / "handlers").glob("*.py")):
        edge = {
            m
            for m in imports(path)
            if m.startswith(("bot.teams", "bot.web", "aiohttp", "botbuilder", "bot.application"))
        }
        assert edge == set(), path.name
