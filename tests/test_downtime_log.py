"""The downtime log service (bot/incidents/downtime_log.py) on a real store, rule by rule.

`tests/test_downtime_log_e2e.py` runs the same paths through the bot over
HTTP with real SMTP; these state each rule on its own, quickly: the practice
is only ever the one remembered for the user, the log email goes only to that
practice's remembered mailbox with the outage's window, a log email's outcome
goes back only to whoever asked for it, and other outcomes go on as before.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.directory import load_directory
from bot.incidents.downtime_log import DowntimeLog, Practice, is_log_email, with_log_notices
from bot.incidents.views import summary_of, when
from bot.mail.events import DeliveryEvent
from bot.store import Profiles
from bot.store.broadcasts import LOG_EMAIL, BroadcastQueue
from bot.store.conversations import ConversationRecord, Conversations
from bot.store.db import Database
from bot.store.incidents import IncidentView
from bot.store.outbox import Outbox, TooManyRequests
from bot.store.request_log import RequestLog
from tests.support.requests import queue_request

NOW = datetime(2026, 12, 1, 8, 12, tzinfo=UTC)
TENANT = "tenant-sel"


class Kicks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def service(db: Database, kick: Kicks | None = None) -> DowntimeLog:
    return DowntimeLog(
        RequestLog(db),
        Profiles(db),
        Conversations(db),
        BroadcastQueue(db),
        load_directory(),
        kick_broadcast=kick or Kicks(),
        tenants=frozenset({TENANT}),
    )


def incident(restored_at: datetime | None = None) -> IncidentView:
    return IncidentView(
        id=7,
        note="down",
        declared_at=NOW,
        declared_by_name="Jo Admin",
        updated_at=NOW,
        updated_by_name="Jo Admin",
        restored_at=restored_at,
        restored_by_name="Jo Admin" if restored_at else None,
        restored_note=None,
    )


async def chat(db: Database, user: str, name: str, tenant: str = TENANT) -> None:
    reference = {"conversation": {"id": f"a:{user}"}, "user": {"id": user, "name": name}}
    await Conversations(db).record(
        ConversationRecord(f"a:{user}", "personal", tenant, user, reference)
    )


async def request(db: Database, form: str, user: str, at: datetime, ods: str = "G85001") -> str:
    return await queue_request(Outbox(db), form, user, at, ods=ods)


@pytest.mark.parametrize(
    ("practice", "expected"),
    [
        ({"practice_ods": " g85001 ", "practice_email": "gp@nhs.net"}, ("G85001", "gp@nhs.net")),
        ({"practice_ods": "G85001", "practice_email": ""}, ("G85001", None)),
        ({"practice_ods": "G85001", "practice_email": 42}, ("G85001", None)),
        ({"practice_ods": "G85001"}, ("G85001", None)),
        ({"practice_ods": "   ", "practice_email": "gp@nhs.net"}, None),
        ({"practice_ods": 85001, "practice_email": "gp@nhs.net"}, None),
        ({"practice_email": "gp@nhs.net"}, None),
        ({}, None),
    ],
)
async def test_the_practice_is_the_one_remembered_for_the_user(
    db: Database, practice: dict[str, Any], expected: tuple[str, str | None] | None
) -> None:
    logs = service(db)
    assert await logs.practice_of("29:a") is None, "no profile: no practice"
    await Profiles(db).update("29:a", practice=practice)
    found = await logs.practice_of("29:a")
    assert (None if found is None else (found.ods_code, found.mailbox)) == expected
    assert await logs.practice_of("29:b") is None, "another user's practice is not theirs"


async def test_the_practice_log_is_its_requests_in_the_outage_with_senders_names(
    db: Database,
) -> None:
    await chat(db, "29:a", "Sam Receptionist")
    before = await request(db, "f0", "29:a", NOW - timedelta(minutes=1))
    during = await request(db, "f1", "29:a", NOW + timedelta(minutes=5))
    await request(db, "f2", "29:b", NOW + timedelta(minutes=6), ods="G85002")
    after = await request(db, "f3", "29:a", NOW + timedelta(hours=3))
    entry = await service(db).practice_log(Practice("G85001", "gp@nhs.net"), incident())
    assert [r.reference for r in entry.rows] == [during, after], "still open: up to now"
    assert entry.names == {"29:a": "Sam Receptionist"}
    assert entry.practice == Practice("G85001", "gp@nhs.net") and entry.incident == incident()
    closed = incident(NOW + timedelta(hours=2))
    entry = await service(db).practice_log(Practice("G85001", None), closed)
    assert [r.reference for r in entry.rows] == [during]
    assert before not in {r.reference for r in entry.rows}


async def test_the_log_email_goes_to_the_practice_mailbox_with_its_window(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await chat(db, "29:a", "Sam Receptionist")
    made = await request(db, "f1", "29:a", NOW + timedelta(minutes=5))
    logs = service(db)
    restored = NOW + timedelta(hours=2)
    entry = await logs.practice_log(Practice("G85001", "gp@nhs.net"), incident(restored))
    with caplog.at_level(logging.INFO, logger="bot.incidents.downtime_log"):
        queued = await logs.email(entry, user_id="29:a", key="k1", now=restored, most_per_hour=5)
        assert [r.getMessage() for r in caplog.records] == [
            f"practice log queued reference={queued.reference} ods=G85001 rows=1"
        ]
        again = await logs.email(entry, user_id="29:a", key="k1", now=restored, most_per_hour=5)
    assert again.reference == queued.reference and again.duplicate and not queued.duplicate
    assert len(caplog.records) == 1, "a repeated press is not logged as another email"
    claimed = await Outbox(db).claim_due("w", restored, 60, limit=5)
    (row,) = [c for c in claimed if c.reference == queued.reference]
    assert (row.kind, row.mailbox, row.practice_ods, row.user_id) == (
        "log",
        "gp@nhs.net",
        "G85001",
        "29:a",
    )
    payload = row.payload or {}
    assert {k: payload[k] for k in ("kind", "ods_code", "mailbox", "incident")} == {
        "kind": "log",
        "ods_code": "G85001",
        "mailbox": "gp@nhs.net",
        "incident": 7,
    }
    assert payload["window"] == f"From {when(NOW)} to {when(restored)}"
    assert payload["summary"] == summary_of(entry.rows)
    assert made in payload["csv"] and "Sam Receptionist" in payload["csv"]
    assert "Testpatient" not in payload["csv"] and "9990000018" not in payload["csv"]


async def test_a_log_of_an_outage_still_open_says_so(db: Database) -> None:
    logs = service(db)
    entry = await logs.practice_log(Practice("G85001", "gp@nhs.net"), incident())
    queued = await logs.email(entry, user_id="29:a", key="k1", now=NOW, most_per_hour=5)
    (row,) = await Outbox(db).claim_due("w", NOW, 60)
    assert row.reference == queued.reference
    assert (row.payload or {})["window"] == f"From {when(NOW)} (outage still open)"


async def test_log_emails_are_limited_per_hour_with_the_users_requests(db: Database) -> None:
    """The hour is the last hour: a request 59 minutes ago counts, one 61 minutes ago not."""
    logs = service(db)
    await request(db, "old", "29:a", NOW - timedelta(minutes=61))
    await request(db, "recent", "29:a", NOW - timedelta(minutes=59))
    entry = await logs.practice_log(Practice("G85001", "gp@nhs.net"), incident())
    await logs.email(entry, user_id="29:a", key="k1", now=NOW, most_per_hour=2)
    with pytest.raises(TooManyRequests):
        await logs.email(entry, user_id="29:a", key="k2", now=NOW, most_per_hour=2)


async def test_my_requests_are_mine_a_page_at_a_time(db: Database) -> None:
    made = [await request(db, f"f{n}", "29:a", NOW + timedelta(minutes=n)) for n in range(12)]
    await request(db, "theirs", "29:b", NOW)
    logs = service(db)
    first, second = await logs.mine("29:a"), await logs.mine("29:a", 1)
    assert [r.reference for r in first.rows] == made[::-1][:10] and first.page == 0
    assert [r.reference for r in second.rows] == made[::-1][10:] and not second.more


def event(reference: str, user: str = "29:a", status: str = "sent") -> DeliveryEvent:
    return DeliveryEvent(reference, user, status, "gp@nhs.net", NOW if status == "sent" else None)  # type: ignore[arg-type]


async def test_a_log_emails_outcome_goes_once_to_whoever_asked(db: Database) -> None:
    await chat(db, "29:a", "Sam Receptionist")
    kicks = Kicks()
    logs = service(db, kicks)
    await logs.tell_outcome(event("LOG-20261201-ABC123"), NOW)
    await logs.tell_outcome(event("LOG-20261201-ABC123"), NOW)  # the worker told twice
    await logs.tell_outcome(event("LOG-20261201-DEF456", status="failed"), NOW)
    await logs.tell_outcome(event("LOG-20261201-ABC999", user="29:nochat"), NOW)
    rows = await BroadcastQueue(db).rows(LOG_EMAIL)
    assert [(r.subject, r.conversation_key, r.user_id) for r in rows] == [
        ("LOG-20261201-ABC123:sent", "a:29:a", "29:a"),
        ("LOG-20261201-DEF456:failed", "a:29:a", "29:a"),
    ]
    assert rows[0].payload == {
        "reference": "LOG-20261201-ABC123",
        "status": "sent",
        "mailbox": "gp@nhs.net",
        "sent_at": NOW.isoformat(),
    }
    assert rows[1].payload is not None and rows[1].payload["sent_at"] is None
    assert kicks.count == 2, "the broadcast worker is woken only for a message it must send"


async def test_a_log_emails_outcome_is_not_told_in_another_tenant(db: Database) -> None:
    await chat(db, "29:a", "Sam Receptionist", tenant="elsewhere")
    kicks = Kicks()
    await service(db, kicks).tell_outcome(event("LOG-20261201-ABC123"), NOW)
    assert await BroadcastQueue(db).rows(LOG_EMAIL) == [] and kicks.count == 0


def test_a_log_email_is_known_by_its_reference() -> None:
    assert is_log_email("LOG-20261201-ABC123")
    assert not is_log_email("DT-20261201-0001")
    assert not is_log_email("log-20261201-abc123")
    assert not is_log_email("XLOG-1")


async def test_outcomes_go_to_the_log_or_on_to_the_usual_notice(db: Database) -> None:
    await chat(db, "29:a", "Sam Receptionist")
    heard: list[str] = []

    async def notify(delivered: DeliveryEvent) -> None:
        heard.append(delivered.reference)

    later = NOW + timedelta(minutes=3)
    dispatch = with_log_notices(notify, service(db), lambda: later)
    await dispatch(event("DT-20261201-0001"))
    await dispatch(event("LOG-20261201-ABC123"))
    assert heard == ["DT-20261201-0001"]
    (row,) = await BroadcastQueue(db).rows(LOG_EMAIL)
    assert row.subject == "LOG-20261201-ABC123:sent" and row.created_at.replace(tzinfo=UTC) == later
