"""`/readyz` (bot/readiness.py): each check failing for real, on the running app.

200 when the database answers, is at the head revision and the oldest request
still queued or sending is younger than READY_MAX_QUEUE_AGE_SECONDS; 503 naming
the first check that failed otherwise, with no exception text and no patient
data. `/healthz` stays a liveness probe: it answers 200 whatever the database does.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text, update

from bot.application import RUNTIME
from bot.services import Runtime
from bot.store.db import utcnow
from bot.store.outbox import OutboxRequest
from tests.support.postgres import postgres_url, scratch_postgres
from tests.support.smtp import SAMPLE_PATIENT, sample_payload
from tests.support.teams import BotHarness

ALL_OK = {"database": "ok", "migrations": "ok", "outbox": "ok"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The bot's own SQLite copy, or a new PostgreSQL database (migrated at start-up)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    elif postgres_url():
        async with scratch_postgres() as url:
            yield url
    else:
        pytest.skip("TEST_POSTGRES_URL not set")


def runtime(bot: BotHarness) -> Runtime:
    return bot.client.app[RUNTIME]


async def readyz(bot: BotHarness) -> tuple[int, dict[str, Any], str]:
    response = await bot.client.get("/readyz")
    raw = await response.text()
    return response.status, await response.json(), raw


async def test_ready_when_every_check_passes(make_bot, database_url: str) -> None:
    bot = await make_bot(database_url=database_url)
    status, body, _ = await readyz(bot)
    assert (status, body) == (200, {"status": "ready", "checks": ALL_OK})


async def test_an_unreachable_database_fails_the_database_check(make_bot, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copyfile(tmp_path / "bot.db", folder / "bot.db")
    bot = await make_bot(database_url=f"sqlite+aiosqlite:///{folder}/bot.db")
    await runtime(bot).db.engine.dispose()  # no pooled connection left to reuse
    folder.rename(tmp_path / "moved")  # SQLite cannot open a file in a folder that is not there
    try:
        status, body, raw = await readyz(bot)
        health = await bot.client.get("/healthz")
    finally:
        (tmp_path / "moved").rename(folder)
    assert (status, body) == (
        503,
        {
            "status": "not ready",
            "failed": "database",
            "checks": {"database": "failed", "migrations": "not checked", "outbox": "not checked"},
        },
    )
    assert "Error" not in raw and str(tmp_path) not in raw  # no exception text, no path
    assert health.status == 200 and (await health.json())["status"] == "ok"


@pytest.mark.parametrize(
    "statement",
    ["UPDATE alembic_version SET version_num = '0000'", "DROP TABLE alembic_version"],
    ids=["other revision", "no version table"],
)
async def test_a_database_not_at_the_head_fails_the_migrations_check(
    make_bot, database_url: str, statement: str
) -> None:
    bot = await make_bot(database_url=database_url)
    async with runtime(bot).db.transaction() as session:
        await session.execute(text(statement))
    status, body, _ = await readyz(bot)
    assert (status, body) == (
        503,
        {
            "status": "not ready",
            "failed": "migrations",
            "checks": {"database": "ok", "migrations": "failed", "outbox": "not checked"},
        },
    )


async def queue(bot: BotHarness, form_id: str, age: timedelta, status: str = "queued") -> None:
    """A request submitted `age` ago, left in `status`, not due again for a day."""
    state = runtime(bot)
    submitted = await state.services.outbox.submit(
        form_id=form_id,
        user_id="29:readiness-user",
        practice_ods="G85001",
        trust="kch",
        department="ultrasound",
        priority="Urgent",
        mailbox="kch-tr.us.reception_dh@nhs.net",
        payload=sample_payload(),
        created_at=utcnow() - age,
    )
    async with state.db.transaction() as session:
        await session.execute(
            update(OutboxRequest)
            .where(OutboxRequest.reference == submitted.reference)
            .values(status=status, next_attempt_at=utcnow() + timedelta(days=1))
        )


async def test_a_request_queued_too_long_fails_the_outbox_check(
    make_bot, database_url: str
) -> None:
    # The worker polls once at start and then hourly: it never sees these rows.
    bot = await make_bot(
        database_url=database_url, ready_max_queue_age_seconds=600, outbox_poll_seconds=3600
    )
    await queue(bot, "form-sent-long-ago", timedelta(hours=2), status="sent")
    await queue(bot, "form-queued-just-now", timedelta(minutes=1))
    assert (await readyz(bot))[:2] == (200, {"status": "ready", "checks": ALL_OK})

    await queue(bot, "form-sending-for-ages", timedelta(minutes=11), status="sending")
    status, body, raw = await readyz(bot)
    assert (status, body) == (
        503,
        {
            "status": "not ready",
            "failed": "outbox",
            "checks": {"database": "ok", "migrations": "ok", "outbox": "failed"},
        },
    )
    for value in SAMPLE_PATIENT.values():
        assert value not in raw


async def test_probes_at_the_same_time_share_one_check(bot: BotHarness) -> None:
    """A flood of probes costs one check's queries, not one check each."""
    revision_reads = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "alembic_version" in statement:
            revision_reads.append(statement)

    event.listen(runtime(bot).db.engine.sync_engine, "before_cursor_execute", count)
    readiness = runtime(bot).readiness
    assert await readiness.check() == ALL_OK
    assert len(revision_reads) == 1
    results = await asyncio.gather(*(readiness.check() for _ in range(5)))
    assert results == [ALL_OK] * 5
    assert len(revision_reads) == 2
