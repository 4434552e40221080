"""Two bot processes on one PostgreSQL: every request delivered once, every user told once.

What a two-instance deployment (docs/operations.md, "Several instances") must
survive, played for real: two `python app.py` processes with production
settings (authentication on, RS256 channel tokens against a local JWKS,
tenant allow-list, SMTP, compose child process) on one fresh PostgreSQL
database migrated by the release step, one aiosmtpd server, one connector
stub. Requests come in through both instances while the relay is down, and an
admin declares an ICE outage (drafted on one instance, confirmed on the other,
the app installed through either: the announcement must reach each conversation
once, whichever instance's broadcast worker sends it); when
the relay comes back the first messages go, then one instance is killed with
SIGKILL in the middle of sending a request (the server holds its DATA reply,
so the kill lands mid-send, before any acceptance); the other instance
finishes the queue, the orphaned request after its lease.

The guarantee proven here is the plain one: each reference's Message-ID
accepted by the server exactly once. The scenario does not reach the one
window where a kill can duplicate (after the server's 250, before the store
records "sent"); there the guarantee is "at most one more copy, with the same
Message-ID", which test_faults_crash.py proves with a server that accepts
after the kill.

Runs where TEST_POSTGRES_URL names a server whose role may create databases
(`.ci/run` starts one); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.handlers.orders import TOO_MANY
from tests.support import jwt as channel_jwt
from tests.support.cards import card_text
from tests.support.incidents import ADMIN, EVERYWHERE, NOTE, announcements, install_everywhere
from tests.support.jwt import APP_ID, ChannelKeys
from tests.support.orders import PATIENT, expected_message_id, open_form, reference_of
from tests.support.postgres import postgres_url, scratch_postgres
from tests.support.processes import REPO, BotProcess, RemoteApp, until_or_logs
from tests.support.smtp import STALL, ScriptedSmtp
from tests.support.teams import TENANT, BotHarness, Turn, find_action

channel_keys_server = channel_jwt.channel_keys_server

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.skipif(
        not postgres_url(), reason="TEST_POSTGRES_URL not set: two instances need PostgreSQL"
    ),
]

#: Short, so the orphaned request is claimed again within seconds; still far longer
#: than one attempt takes (compose, SMTP, record, tell: under a second, a few on a
#: loaded machine). A lease shorter than an attempt would be at-least-once at work:
#: another instance would claim and send the request again, same Message-ID.
LEASE = 8.0
#: Per user per hour, counted in the shared database.
LIMIT = 2
#: 30 a minute for the one NHSmail account, split between the instances.
INSTANCES = 2
MAIL_PER_MINUTE = 30 // INSTANCES
#: Who may declare an outage (production settings insist on an Entra object id).
ADMIN_OBJECT_ID = "5f0c2d4e-8a1b-4c3d-9e7f-a1b2c3d4e5f6"
AS_ADMIN: dict[str, Any] = {
    "user_id": ADMIN,
    "extra": {"from": {"id": ADMIN, "name": "ICE admin", "aadObjectId": ADMIN_OBJECT_ID}},
}
#: Four users who order once, and a fifth who orders four times.
USERS = ("29:u1", "29:u2", "29:u3", "29:u4", "29:busy")


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh database, brought to the head revision by the release step (a process of its own)."""
    async with scratch_postgres() as url:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.store.migrations", "upgrade"],
            cwd=REPO,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield url


@pytest.fixture
async def store(database: str) -> AsyncIterator[AsyncEngine]:
    """The test's own view of the shared database (plain SQL, outside the bots)."""
    engine = create_async_engine(database)
    yield engine
    await engine.dispose()


@pytest.fixture
def relay() -> AsyncIterator[ScriptedSmtp]:
    """The one SMTP server both instances use; down until the test starts it."""
    server = ScriptedSmtp(stall_seconds=60)  # a stalled DATA outlives the instance sending it
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def instances(
    tmp_path: Path, database: str, relay: ScriptedSmtp, channel_keys_server: ChannelKeys, session
) -> AsyncIterator[list[BotProcess]]:
    env = {
        "MicrosoftAppId": APP_ID,
        "MicrosoftAppPassword": "not-a-real-secret",
        "TEST_OPENID_METADATA_URL": channel_keys_server.metadata_url,
        "DEV_MODE": "false",
        "HOST": "127.0.0.1",
        "ALLOWED_TENANT_IDS": TENANT,
        "DATABASE_URL": database,
        "MAIL_TRANSPORT": "smtp",
        "MAIL_FROM": "ice-downtime@nhs.net",
        "SMTP_HOST": relay.host,
        "SMTP_PORT": str(relay.port),
        "SMTP_STARTTLS": "false",  # aiosmtpd on loopback; TLS has its own tests
        "MAIL_MAX_PER_MINUTE": str(MAIL_PER_MINUTE),
        # Each attempt composes the email again (PDF included): retries every second or
        # two keep the relay's outage from turning into a CPU storm on a 2-core machine.
        "MAIL_RETRY_BASE_SECONDS": "1",
        "MAIL_RETRY_MAX_SECONDS": "2",
        "MAIL_MAX_ATTEMPTS": "1000",  # the relay is down on purpose; never give up here
        "OUTBOX_POLL_SECONDS": "0.2",
        "OUTBOX_LEASE_SECONDS": str(LEASE),
        "MAX_REQUESTS_PER_HOUR": str(LIMIT),
        "ADMIN_AAD_OBJECT_IDS": ADMIN_OBJECT_ID,
    }
    bots = [
        BotProcess(tmp_path, env, name=name, command=("-m", "tests.support.offline_app"))
        for name in ("a", "b")
    ]
    try:
        await asyncio.gather(*(bot.start(session, seconds=60) for bot in bots))
        yield bots
    finally:
        for bot in bots:
            bot.kill()


def harness(
    bot: BotProcess, session: aiohttp.ClientSession, connector: Any, keys: ChannelKeys
) -> BotHarness:
    stub, service_url = connector
    remote = RemoteApp(bot.base, session, headers=lambda: keys.bearer(service_url))
    return BotHarness(remote, stub, service_url)  # type: ignore[arg-type]


async def order(bot: BotHarness, user: str, card_id: str) -> Turn:
    """One user's whole order through one instance: `order`, KCH ultrasound, every value, Send."""
    form = await open_form(bot, user_id=user)
    data = {**find_action(form, "order.next")["data"], **PATIENT}
    review = (await bot.execute("order.review", data, user_id=user)).only_card
    send_data = find_action(review, "order.send")["data"]
    return await bot.execute("order.send", send_data, reply_to_id=card_id, user_id=user)


async def rows(store: AsyncEngine, query: str) -> list[Any]:
    async with store.connect() as connection:
        return list(await connection.execute(text(query)))


async def wait_for_rows(
    store: AsyncEngine, query: str, done: Callable[[list[Any]], bool], seconds: float, bots: list
) -> list[Any]:
    found: list[Any] = []

    async def check() -> bool:
        nonlocal found
        found = await rows(store, query)
        return done(found)

    try:
        async with asyncio.timeout(seconds):
            while not await check():  # noqa: ASYNC110 - polls another process's writes
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(
            f"timed out at {found}; logs:\n" + "\n".join(b.log_tail() for b in bots)
        ) from None
    return found


def holding(bots: list[BotProcess], smtp_port: int, client_port: int) -> BotProcess:
    """The instance whose SMTP connection comes from `client_port` (read from the kernel)."""
    for bot in bots:
        assert bot.pid is not None
        for connection in psutil.Process(bot.pid).net_connections(kind="tcp"):
            if (
                connection.laddr
                and connection.raddr
                and connection.laddr.port == client_port
                and connection.raddr.port == smtp_port
            ):
                return bot
    raise AssertionError(f"no instance holds the SMTP connection from port {client_port}")


def log(bot: BotProcess) -> str:
    return "".join(p.read_text(errors="replace") for p in bot.workdir.glob(f"{bot.name}-*.log"))


def outbox_lines(bots: list[BotProcess]) -> str:
    """What each instance's worker did, from its log (for a failure message)."""
    lines = []
    for path in sorted(bots[0].workdir.glob("*.log")):
        lines += [
            f"{path.stem}: {line}" for line in path.read_text().splitlines() if "outbox" in line
        ]
    return "\n".join(lines)


def sent_updates(stub: Any, card_id: str) -> list[Any]:
    return [
        u for u in stub.updates if u.activity_id == card_id and "Sent at" in card_text(u.card or {})
    ]


async def test_two_instances_deliver_every_request_once_through_an_outage_and_a_kill(
    instances: list[BotProcess],
    relay: ScriptedSmtp,
    store: AsyncEngine,
    session: aiohttp.ClientSession,
    connector: Any,
    channel_keys_server: ChannelKeys,
) -> None:
    stub, _ = connector
    a, b = (harness(bot, session, connector, channel_keys_server) for bot in instances)

    # 1. The relay is down. Four users order through alternate instances; a fifth
    #    user orders four times, alternating too, and is stopped at the hourly limit.
    cards: dict[str, str] = {}  # card id -> reference
    for number, (bot, user) in enumerate(zip([a, b, a, b], USERS[:4], strict=True)):
        turn = await order(bot, user, f"card-{number}")
        assert "Queued" in card_text(turn.only_card), turn
        cards[f"card-{number}"] = reference_of(turn.only_card)
    limited = [await order(bot, USERS[4], f"busy-{n}") for n, bot in enumerate([a, b, a, b])]
    for turn in limited[:LIMIT]:
        cards[turn.reply_to_id or ""] = reference_of(turn.only_card)
    too_many = TOO_MANY.format(limit=LIMIT)
    for turn in limited[LIMIT:]:  # refused by whichever instance, counting both
        assert turn.invoke_card is None and turn.texts == [], turn
        assert too_many in str(turn.body), turn.body
    references = sorted(cards.values())
    assert len(references) == 6 == len(set(references))

    # Both workers have tried (and failed) to send while the relay was down; so both
    # have their compose process running, and no attempt from now on starts one.
    def both_tried() -> bool:
        return all("outbox retry" in log(bot) for bot in instances)

    await until_or_logs(both_tried, 30, *instances)
    await wait_for_rows(
        store,
        "SELECT reference, status, attempts, last_error FROM requests",
        lambda found: len(found) == 6 and all(r.attempts >= 1 and r.last_error for r in found),
        20,
        instances,
    )
    busy = await rows(store, "SELECT reference FROM requests WHERE user_id = '29:busy'")
    assert len(busy) == LIMIT

    # Meanwhile ICE goes down: the app is installed in chats through one instance, the
    # outage drafted on one and confirmed on the other; both broadcast workers share the queue.
    await install_everywhere(b)
    await a.say("hello", **AS_ADMIN)  # the admin's personal chat, registered by use
    confirm = (await a.say(f"/outage {NOTE}", **AS_ADMIN)).only_card
    data = find_action(confirm, "incident.confirm")["data"]
    await b.execute("incident.confirm", data, **AS_ADMIN)
    everywhere = EVERYWHERE | {f"a:personal-conversation-{user}" for user in USERS}
    await until_or_logs(lambda: len(announcements(a)) >= len(everywhere), 20, *instances)

    # 2. The relay is back: two messages are accepted, the third DATA is held with no
    #    reply. The instance sending it is killed with SIGKILL while it holds that row.
    relay.script(250, 250, STALL)
    relay.start()
    await until_or_logs(relay.stalled.is_set, 20, *instances)
    victim = holding(instances, relay.port, relay.stalled_peers[0][1])
    survivor = next(bot for bot in instances if bot is not victim)
    (stalled,) = [x for x in relay.attempts if not x.accepted]
    in_flight = await rows(
        store, "SELECT reference, status, lease_owner FROM requests WHERE status = 'sending'"
    )
    assert stalled.message_id in {expected_message_id(r.reference) for r in in_flight}
    victim.kill()

    # 3. The survivor sends the rest, and the orphaned request once its lease is over.
    await wait_for_rows(
        store,
        "SELECT reference, status FROM requests",
        lambda found: all(r.status == "sent" for r in found),
        LEASE + 30,
        [survivor],
    )
    await asyncio.sleep(1.0)  # a copy still being sent (there must be none) would arrive now

    # Each reference's Message-ID accepted exactly once; the held copy never was.
    accepted = sorted(relay.accepted_ids())
    assert accepted == sorted(expected_message_id(r) for r in references), outbox_lines(instances)
    assert [x.message_id for x in relay.attempts if not x.accepted] == [stalled.message_id]
    final = {
        r.reference: r
        for r in await rows(store, "SELECT reference, status, attempts, message_id FROM requests")
    }
    assert {r.status for r in final.values()} == {"sent"}
    assert all(r.message_id == expected_message_id(ref) for ref, r in final.items())
    orphan = next(ref for ref in references if expected_message_id(ref) == stalled.message_id)
    assert final[orphan].attempts >= 2  # claimed again after the kill

    # Every user told "sent" once: one card update per request, whoever sent it.
    await until_or_logs(lambda: all(sent_updates(stub, card) for card in cards), 15, survivor)
    await asyncio.sleep(0.5)
    assert {card: len(sent_updates(stub, card)) for card in cards} == dict.fromkeys(cards, 1)
    notices = await rows(store, "SELECT reference, status, told_at FROM notices")
    assert {n.reference for n in notices if n.status == "sent" and n.told_at} == set(references)

    # The outage reached every conversation once, whichever instance sent it.
    assert Counter(s.conversation_id for s in announcements(a)) == Counter(everywhere)
    broadcast = await rows(
        store, "SELECT status, count(*) AS n FROM broadcast_deliveries GROUP BY 1"
    )
    assert [(r.status, r.n) for r in broadcast] == [("sent", len(everywhere))]

    # The survivor still answers, and is ready.
    answer = await harness(survivor, session, connector, channel_keys_server).say("help")
    assert answer.status == 200 and answer.cards, answer
    async with session.get(survivor.base + "/readyz") as response:
        assert response.status == 200, await response.text()
