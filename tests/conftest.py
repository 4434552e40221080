"""Every fixture of the suite, each defined once: settings, the connector stub, the running
bot, SMTP servers, clocks, the store, the file servers.

Helpers that are not fixtures live in `tests/support/`; no test module imports
from another (`tests/test_suite_shape.py` checks both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.application import create_app
from bot.settings import Settings
from bot.store.db import Base, Database, utcnow
from bot.store.migrations import upgrade
from bot.store.outbox import Outbox
from tests.support.clock import Clock, Ticks
from tests.support.connector import Outage, RecordingConnector
from tests.support.files import FileServer, serve_files
from tests.support.forwarding import FORM, mail_settings
from tests.support.smtp import ScriptedSmtp, SmtpTestServer, smtp_settings
from tests.support.sqlite_faults import short_busy_timeout as shortened_busy_timeout
from tests.support.teams import TENANT, BotHarness

# The PDF stack is imported lazily in the outbox worker's thread, and hypothesis
# looks for numpy on the test's thread; two threads importing numpy at once can
# see it half-initialised (a CPython import-lock corner). Import it once, here.
with contextlib.suppress(ImportError):
    import numpy  # noqa: F401


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file brought to the head revision once per run, by the real migrations.

    Each test's bot starts from a copy: its start-up finds the schema current
    (one query), as a production instance does after the release step,
    instead of paying for Alembic in every test.
    """
    path = tmp_path_factory.mktemp("migrated") / "head.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def make_settings(tmp_path: Path, migrated_sqlite: Path) -> Callable[..., Settings]:
    """Settings isolated from the developer's environment and `.env`.

    The default database is a copy of `migrated_sqlite` at `tmp_path/bot.db`.
    """
    if not (tmp_path / "bot.db").exists():
        shutil.copyfile(migrated_sqlite, tmp_path / "bot.db")

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "dev_mode": True,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            "allowed_tenant_ids": frozenset({TENANT}),
            "mail_transport": "file",
            "mail_dir": tmp_path / "mail",
            # Compose in the worker's thread: a child process per test app would
            # add a second of start-up to every emailing test. The process path
            # is tested on its own (test_order_e2e) and by every `python app.py` test.
            "mail_compose_process": False,
            "log_level": "DEBUG",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build


@pytest.fixture
async def connector(aiohttp_server) -> tuple[RecordingConnector, str]:
    """The connector stub the bot replies to, and its service URL (tests/support/connector.py)."""
    stub = RecordingConnector()
    server = await aiohttp_server(stub.app())
    return stub, str(server.make_url("")).rstrip("/") + "/"


@pytest.fixture
def outage(connector: tuple[RecordingConnector, str]) -> Outage:
    """The connector's outage switch: while down, the calls it names fail."""
    return connector[0].outage


@pytest.fixture
async def make_bot(connector, aiohttp_client, make_settings):
    """Start the real app (CloudAdapter and all) with the given setting overrides.

    `connector` is requested before `aiohttp_client` so that it is torn down
    after the app: an outbox worker still telling a user "sent" when a test
    ends then reaches the stub instead of retrying against a closed port.
    """
    stub, service_url = connector

    async def start(*, clock: Callable[[], datetime] | None = None, **overrides: Any) -> BotHarness:
        app = create_app(make_settings(**overrides), clock=clock or utcnow)
        client = await aiohttp_client(app)
        return BotHarness(client, stub, service_url)

    return start


@pytest.fixture
async def bot(make_bot) -> BotHarness:
    return await make_bot()


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    """A real SMTP server on loopback that accepts every message (tests/support/smtp.py)."""
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
async def mail_bot(make_bot, smtp: SmtpTestServer) -> BotHarness:
    """The running app mailing `smtp`, with delivery retries at test timescales."""
    return await make_bot(**smtp_settings(smtp))


@pytest.fixture
async def forwarding_bot(make_bot, smtp: SmtpTestServer) -> BotHarness:
    """`mail_bot`, also fetching attached forms from the loopback file servers."""
    return await make_bot(**mail_settings(smtp))


@pytest.fixture
def scripted() -> Iterator[ScriptedSmtp]:
    """A real SMTP server whose replies the test scripts (tests/support/smtp.py)."""
    with ScriptedSmtp() as server:
        yield server


@pytest.fixture
async def sharepoint(aiohttp_server) -> FileServer:
    """A loopback file server on an allowed host, holding a completed form as `form.pdf`."""
    return await serve_files(aiohttp_server, {"form.pdf": FORM})


@pytest.fixture
async def elsewhere(aiohttp_server) -> FileServer:
    """A server on another loopback address: not on the list, so never to be asked."""
    return await serve_files(aiohttp_server, {"form.pdf": FORM}, host="127.0.0.2")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client, for talking to bots started as processes."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    """UTC "now" that moves only when the test (or something sleeping on it) moves it."""
    return Clock()


@pytest.fixture
def ticks() -> Ticks:
    """Monotonic seconds that move only when the test moves them."""
    return Ticks()


@pytest.fixture
def short_busy_timeout() -> Iterator[None]:
    """SQLite waits at most 0.3 s for a lock, so a held lock is a store fault at once."""
    with shortened_busy_timeout():
        yield


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The bot's INFO log lines, where delivery and notice outcomes are recorded."""
    caplog.set_level(logging.INFO)
    return caplog


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The store on SQLite, and on PostgreSQL when TEST_POSTGRES_URL names a throwaway database.

    `.ci/run` provides one, so the SKIP LOCKED and ON CONFLICT paths run in CI.
    """
    postgres_url = os.environ.get("TEST_POSTGRES_URL", "")
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            database = Database(f"sqlite+aiosqlite:///{tmp_path}/store.db")
        elif postgres_url:
            await stack.enter_async_context(_database_to_ourselves(postgres_url))
            database = Database(postgres_url)
            async with database.engine.begin() as connection:
                await connection.run_sync(Base.metadata.drop_all)
        else:
            pytest.skip("TEST_POSTGRES_URL not set")
        await database.create_schema()
        yield database
        await database.close()


@pytest.fixture
def outbox(db: Database, clock: Clock) -> Outbox:
    """The requests table on `db`, on the test's clock."""
    return Outbox(db, clock=clock)


@contextlib.asynccontextmanager
async def _database_to_ourselves(url: str) -> AsyncIterator[None]:
    """Hold a PostgreSQL advisory lock for one test: other test processes wait their turn.

    Each test drops and recreates the tables, so two processes on one database
    (`make mutation`'s parallel workers, two checkouts) would pull them from under
    each other. The lock is the connection's: it goes when the connection closes,
    even if the process is killed.
    """
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(15150)"))
            yield
    finally:
        await engine.dispose()
