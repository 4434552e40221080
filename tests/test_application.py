"""The app factory (bot/application.py): everything built first, each resource opened by its own
start-up context and closed in reverse order.

The running app's behaviour is every other end-to-end test's business; these
tests hold the shape: building opens nothing, the parts are frozen and the bot
has its services from the start, and a start-up that is refused or a stop
leaves nothing running.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.application import RUNTIME, SERVING, create_app
from bot.services import SERVICE_NAMES
from bot.settings import Settings
from bot.store.migrations import SchemaNotCurrent


def test_building_the_app_opens_nothing(make_settings: Callable[..., Settings], tmp_path: Path):
    """No event loop, no database file, no thread, no child process until the app starts."""
    threads = threading.active_count()
    url = f"sqlite+aiosqlite:///{tmp_path}/fresh/bot.db"
    app = create_app(make_settings(database_url=url, mail_compose_process=True))
    runtime = app[RUNTIME]
    assert not (tmp_path / "fresh" / "bot.db").exists()
    assert threading.active_count() == threads
    assert runtime.delivery.compose_process is not None
    assert runtime.delivery.compose_process.child_pids() == []
    assert app[SERVING].started is False
    assert create_app(make_settings())[RUNTIME].db is not runtime.db  # nothing shared


def test_the_parts_are_frozen_and_the_bot_has_its_services_from_the_start(
    make_settings: Callable[..., Settings],
) -> None:
    runtime = create_app(make_settings())[RUNTIME]
    with pytest.raises(dataclasses.FrozenInstanceError):
        runtime.bot = None  # type: ignore[misc]  # the point: a frozen field cannot be set
    with pytest.raises(dataclasses.FrozenInstanceError):
        runtime.services.kick = print  # type: ignore[misc]
    # The one worker the handlers wake is the one the delivery context starts.
    assert runtime.services.kick == runtime.delivery.worker.kick
    assert runtime.bot._services.keys() == SERVICE_NAMES
    assert runtime.bot._services["outbox"] is runtime.services.outbox


#: The app's background tasks, by the names `create_app` gives them ("telemetry-gauges"
#: too, which returns at once with telemetry off, as here).
BACKGROUND = {"outbox", "broadcast", "notice-retry", "follow-ups", "housekeeping"}


def running() -> set[str]:
    names = {task.get_name() for task in asyncio.all_tasks() if not task.done()}
    return names & (BACKGROUND | {"telemetry-gauges"})


async def test_every_background_task_runs_while_serving_and_none_after_the_stop(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(follow_up_hours=4))
    server = TestServer(app)
    await server.start_server()
    try:
        assert app[SERVING].started
        assert running() == BACKGROUND
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.make_url("/healthz")) as health,
        ):
            assert health.status == 200
    finally:
        await server.close()
    assert running() == set()
    assert app[SERVING].started is False


async def test_a_refused_schema_closes_the_database_and_starts_no_worker(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Production refuses a database not at the head revision (app.py exits 2)."""
    settings = make_settings(
        dev_mode=False,
        app_id="00000000-0000-0000-0000-000000000001",
        app_password="secret",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db",
    )
    app = create_app(settings)
    runner = web.AppRunner(app)
    with pytest.raises(SchemaNotCurrent):
        await runner.setup()
    assert running() == set()
    assert app[SERVING].started is False
