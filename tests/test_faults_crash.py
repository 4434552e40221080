"""Crash: the real bot (`python app.py`) killed with SIGKILL, restarted, counted at SMTP.

Each test runs the bot as a subprocess on its own port and SQLite file, talks
to it over HTTP like Teams (replies go to the ConnectorStub in the test), and
counts what a real aiosmtpd server accepted, by Message-ID.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devchat.connector import ConnectorStub
from tests.support.cards import card_text
from tests.support.orders import expected_message_id, reference_of, send
from tests.support.processes import BotProcess, RemoteApp, until_or_logs
from tests.support.smtp import BLOCK, ScriptedSmtp
from tests.support.teams import BotHarness

pytestmark = [pytest.mark.faults, pytest.mark.slow]

LEASE = 2.0


class CrashingBot(BotProcess):
    """`python app.py` in development mode with SMTP delivery, on its own SQLite file."""

    def __init__(self, workdir: Path, smtp: ScriptedSmtp, *, smtp_timeout: float = 30) -> None:
        super().__init__(
            workdir,
            {
                "DEV_MODE": "true",
                "DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/bot.db",
                "MAIL_TRANSPORT": "smtp",
                "MAIL_FROM": "ice-downtime@nhs.net",
                "SMTP_HOST": smtp.host,
                "SMTP_PORT": str(smtp.port),
                "SMTP_STARTTLS": "false",
                "SMTP_TIMEOUT_SECONDS": str(smtp_timeout),
                "ALLOWED_TENANT_IDS": "",
                "MAIL_RETRY_BASE_SECONDS": "0.2",
                "MAIL_RETRY_MAX_SECONDS": "0.5",
                "MAIL_MAX_ATTEMPTS": "1000",  # the relay is down on purpose; never give up here
                "OUTBOX_POLL_SECONDS": "0.1",
                "OUTBOX_LEASE_SECONDS": str(LEASE),
            },
        )

    def rows(self) -> dict[str, tuple[str, int]]:
        """reference -> (status, attempts), read straight from the bot's database file."""
        with sqlite3.connect(self.workdir / "bot.db", timeout=5) as connection:
            found = connection.execute("SELECT reference, status, attempts FROM requests")
            return {reference: (status, attempts) for reference, status, attempts in found}


@pytest.fixture
def bot_process(tmp_path: Path, scripted: ScriptedSmtp) -> AsyncIterator[CrashingBot]:
    process = CrashingBot(tmp_path, scripted)
    try:
        yield process
    finally:
        process.kill()


def harness(
    bot: CrashingBot, session: aiohttp.ClientSession, connector: tuple[ConnectorStub, str]
) -> BotHarness:
    stub, service_url = connector
    return BotHarness(RemoteApp(bot.base, session), stub, service_url)  # type: ignore[arg-type]


async def past_lease() -> None:
    """Long enough for any row left "sending" to be claimed and sent again."""
    await asyncio.sleep(LEASE + 1.0)


def sent_updates(stub: ConnectorStub, card_id: str) -> list[Any]:
    return [
        u
        for u in stub.updates
        if u.activity_id == card_id and u.card and "Sent at" in card_text(u.card)
    ]


async def test_killed_with_requests_queued_delivers_each_exactly_once_after_restart(
    bot_process, scripted, session, connector
) -> None:
    scripted.stop()
    await bot_process.start(session)  # SMTP is down: nothing can leave
    bot = harness(bot_process, session, connector)
    cards = ("card-1", "card-2", "card-3")
    references = []
    for card_id in cards:
        _, turn = await send(bot, reply_to_id=card_id)
        assert "Queued" in card_text(turn.only_card)
        references.append(reference_of(turn.only_card))
    assert set(bot_process.rows()) == set(references)

    bot_process.kill()
    scripted.start()
    await bot_process.start(session)

    expected = sorted(expected_message_id(r) for r in references)
    await until_or_logs(lambda: len(scripted.accepted_ids()) >= len(expected), 20, bot_process)
    await past_lease()
    # Exactly once, in the plain sense: the relay was down the whole time the
    # first process lived, so no attempt ever reached DATA before the kill, and
    # each request was accepted once, by Message-ID, and recorded sent once.
    assert sorted(scripted.accepted_ids()) == expected
    assert len(scripted.attempts) == len(expected)
    assert {r: s for r, (s, _) in bot_process.rows().items()} == dict.fromkeys(references, "sent")
    stub, _ = connector
    await until_or_logs(lambda: all(sent_updates(stub, c) for c in cards), 10, bot_process)
    assert all(len(sent_updates(stub, c)) == 1 for c in cards)


async def test_killed_while_sending_is_delivered_after_restart_with_one_message_id(
    bot_process, scripted, session, connector
) -> None:
    """What "exactly once" means when the process dies inside DATA.

    The bot had sent the whole message and was waiting for the server's reply
    when it was killed. The server then accepted the message, but its "250"
    went to a dead socket: nothing in the bot's store says it was delivered, and
    the bot cannot know. The design is at-least-once with a stable Message-ID:
    after the lease expires the restarted bot claims the row again and sends the
    same message (the same Message-ID, derived from the reference), the server
    acknowledges that copy, and the row is recorded sent.

    So the guarantee asserted here, and nothing weaker:
    - the request is delivered (accepted, acknowledged, recorded "sent");
    - every copy the server holds carries the one Message-ID of the request,
      so the mailbox (and radiology admin) can recognise the repeat;
    - there is exactly one copy per attempt that reached the server: the one
      the dead process never heard acknowledged, and the one the restarted
      process did. No attempt after the acknowledged one, ever;
    - the user is told "sent" once.
    """
    scripted.script(BLOCK)
    scripted.start()
    await bot_process.start(session)
    bot = harness(bot_process, session, connector)
    _, turn = await send(bot, reply_to_id="card-7")
    reference = reference_of(turn.only_card)
    message_id = expected_message_id(reference)

    await until_or_logs(scripted.blocked.is_set, 15, bot_process)  # the bot is inside DATA
    bot_process.kill()
    scripted.release()  # the server accepts; nobody is listening for its reply
    await until_or_logs(lambda: scripted.accepted_ids() == [message_id], 10, bot_process)
    assert bot_process.rows()[reference][0] == "sending"  # the bot never recorded it

    await bot_process.start(session)
    await until_or_logs(lambda: bot_process.rows()[reference][0] == "sent", LEASE + 15, bot_process)
    await past_lease()

    assert scripted.accepted_ids() == [message_id, message_id]
    assert len(scripted.attempts) == 2
    assert bot_process.rows()[reference] == ("sent", 2)
    stub, _ = connector
    await until_or_logs(lambda: sent_updates(stub, "card-7"), 10, bot_process)
    assert len(sent_updates(stub, "card-7")) == 1
