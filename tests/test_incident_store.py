"""The incident tables on SQLite and PostgreSQL: the registry, incidents, the broadcast queue,
follow-ups and the downtime log's reads.

The PostgreSQL variants run when TEST_POSTGRES_URL names a throwaway database
(`.ci/run` provides one), so SKIP LOCKED, ON CONFLICT and the one-open-incident
constraint are exercised where several instances would share them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from bot.store.broadcasts import ANNOUNCEMENT, FOLLOW_UP, RECONCILIATION, BroadcastQueue
from bot.store.conversations import ConversationRecord, Conversations
from bot.store.db import Database
from bot.store.follow_ups import FollowUps
from bot.store.incidents import Draft, Incidents, NothingToRestore
from bot.store.outbox import Outbox
from bot.store.request_log import RequestLog
from bot.store.tables import LOG
from tests.support.requests import queue_request

NOW = datetime(2026, 12, 1, 8, 12, tzinfo=UTC)
TENANT = "tenant-sel"


def personal(user: str, tenant: str = TENANT, source: str = "use") -> ConversationRecord:
    reference = {"conversation": {"id": f"a:{user}"}, "user": {"id": user, "name": f"Name {user}"}}
    return ConversationRecord(f"a:{user}", "personal", tenant, user, reference, source)  # type: ignore[arg-type]


def team(team_id: str, channel: str, source: str = "use") -> ConversationRecord:
    reference = {"conversation": {"id": channel, "conversationType": "channel"}}
    return ConversationRecord(f"team:{team_id}", "channel", TENANT, None, reference, source)  # type: ignore[arg-type]


def draft(n: int, action: str = "declare", note: str = "down", at: datetime = NOW) -> Draft:
    return Draft(f"{n:032x}", action, note, "aad-admin", "Jo Admin", at, frozenset({TENANT}))  # type: ignore[arg-type]


submit = queue_request


# --- the registry -------------------------------------------------------------------


async def test_a_conversation_is_written_once_while_nothing_changes(db: Database) -> None:
    conversations = Conversations(db)
    assert await conversations.record(personal("29:a"))
    assert not await conversations.record(personal("29:a")), "the same reference: no write"
    assert await conversations.record(personal("29:a", source="install")), "an install writes"
    assert (await conversations.get("a:29:a")).source == "install"


async def test_a_teams_channel_is_the_one_it_was_installed_in(db: Database) -> None:
    conversations = Conversations(db)
    await conversations.record(team("19:t", "19:ops", source="install"))
    await conversations.record(team("19:t", "19:random"))  # used in another channel
    row = await conversations.get("team:19:t")
    assert row.reference["conversation"]["id"] == "19:ops"


async def test_the_audience_counts_each_kind_for_allowed_tenants_only(db: Database) -> None:
    conversations = Conversations(db)
    for record in (personal("29:a"), personal("29:b"), personal("29:x", "elsewhere")):
        await conversations.record(record)
    await conversations.record(team("19:t", "19:ops"))
    audience = await conversations.audience(frozenset({TENANT}))
    assert (audience.personal, audience.group_chats, audience.teams) == (2, 0, 1)
    assert (await conversations.audience(None)).total == 4
    assert await conversations.remove("a:29:a")
    assert not await conversations.remove("a:29:a")
    assert (await conversations.audience(frozenset({TENANT}))).total == 2


# --- incidents ----------------------------------------------------------------------


async def test_declare_update_restore_and_one_incident_open(db: Database) -> None:
    incidents, conversations = Incidents(db), Conversations(db)
    await conversations.record(personal("29:a"))
    declared = await incidents.announce(draft(1))
    updated = await incidents.announce(draft(2, note="fix by 14:00", at=NOW + timedelta(hours=1)))
    assert (declared.kind, updated.kind) == ("declared", "updated")
    assert declared.incident.id == updated.incident.id
    current = await incidents.current()
    assert current is not None and current.note == "fix by 14:00"
    restored = await incidents.announce(draft(3, "restore", "back", NOW + timedelta(hours=3)))
    assert restored.kind == "restored" and await incidents.current() is None
    latest = await incidents.latest()
    assert latest is not None and latest.restored_note == "back"
    with pytest.raises(NothingToRestore):
        await incidents.announce(draft(4, "restore"))


async def test_a_draft_confirmed_twice_announces_once(db: Database) -> None:
    incidents, conversations = Incidents(db), Conversations(db)
    await conversations.record(personal("29:a"))
    first = await incidents.announce(draft(1))
    again = await incidents.announce(draft(1))
    assert again.id == first.id and first.audience == 1
    assert len(await BroadcastQueue(db).rows()) == 1


async def test_two_admins_declaring_at_once_open_one_incident(db: Database) -> None:
    incidents = Incidents(db)
    results = await asyncio.gather(*(incidents.announce(draft(n)) for n in (1, 2)))
    assert sorted(r.kind for r in results) == ["declared", "updated"]
    assert len({r.incident.id for r in results}) == 1


async def test_announcements_go_to_allowed_tenants_and_reconciliations_to_requesters(
    db: Database,
) -> None:
    incidents, conversations, outbox = Incidents(db), Conversations(db), Outbox(db)
    for record in (personal("29:a"), personal("29:b"), personal("29:x", "elsewhere")):
        await conversations.record(record)
    await submit(outbox, "before", "29:a", NOW - timedelta(hours=1))
    declared = await incidents.announce(draft(1))
    assert declared.audience == 2, "the other tenant's conversation is not told"
    await submit(outbox, "during", "29:b", NOW + timedelta(minutes=5))
    restored = await incidents.announce(draft(2, "restore", "", NOW + timedelta(hours=2)))
    assert restored.reconciliations == 1
    rows = await BroadcastQueue(db).rows(RECONCILIATION)
    assert [(r.conversation_key, r.user_id) for r in rows] == [("a:29:b", "29:b")]


async def test_an_incident_and_its_announcements_read_back_as_written(db: Database) -> None:
    """What the board and the cards show: who declared, updated and restored, and when."""
    incidents = Incidents(db)
    declared = await incidents.announce(draft(1, note="ICE down at KCH"))
    assert await incidents.get(declared.incident.id + 1) is None
    assert await incidents.announcement(declared.id + 1) is None
    assert await incidents.last_announcement(declared.incident.id + 1) is None
    later = NOW + timedelta(hours=1)
    updated = await incidents.announce(
        Draft("b" * 32, "declare", "fix by 14:00", "aad-2", "Sam Second", later, None)
    )
    incident = await incidents.get(declared.incident.id)
    assert incident is not None and incident.id == declared.incident.id and incident.is_open
    assert (incident.note, incident.declared_at, incident.declared_by_name) == (
        "fix by 14:00",
        NOW,
        "Jo Admin",
    )
    assert (incident.updated_at, incident.updated_by_name) == (later, "Sam Second")
    assert (incident.restored_at, incident.restored_by_name, incident.restored_note) == (
        None,
        None,
        None,
    )
    last = await incidents.last_announcement(incident.id)
    assert last == updated
    assert (last.id, last.kind, last.note, last.created_at, last.created_by_name) == (
        updated.id,
        "updated",
        "fix by 14:00",
        later,
        "Sam Second",
    )
    first = await incidents.announcement(declared.id)
    assert first is not None and (first.id, first.kind, first.note) == (
        declared.id,
        "declared",
        "ICE down at KCH",
    )
    assert (first.created_at, first.created_by_name) == (NOW, "Jo Admin")
    assert first.incident == incident, "an announcement carries its incident as it is now"


async def test_a_restored_incident_says_when_and_by_whom_and_is_closed(db: Database) -> None:
    incidents = Incidents(db)
    await incidents.announce(draft(1))
    back = NOW + timedelta(hours=3)
    restored = await incidents.announce(
        Draft("c" * 32, "restore", "all clear", "aad-3", "Ri Restorer", back, None)
    )
    for view in (restored.incident, await incidents.get(restored.incident.id)):
        assert view is not None and not view.is_open
        assert (view.restored_at, view.restored_by_name, view.restored_note) == (
            back,
            "Ri Restorer",
            "all clear",
        )
        assert (view.updated_at, view.updated_by_name) == (back, "Ri Restorer")


async def test_incidents_open_and_close_again_and_again(db: Database) -> None:
    """One open at a time, but any number restored: each restore frees the slot."""
    incidents = Incidents(db)
    assert await incidents.latest() is None and await incidents.current() is None
    ids = []
    for n in range(3):
        opened = await incidents.announce(draft(2 * n + 1, at=NOW + timedelta(days=n)))
        await incidents.announce(draft(2 * n + 2, "restore", at=NOW + timedelta(days=n, hours=1)))
        ids.append(opened.incident.id)
    assert len(set(ids)) == 3
    latest = await incidents.latest()
    assert latest is not None and latest.id == ids[-1] and not latest.is_open
    reopened = await incidents.announce(draft(9, at=NOW + timedelta(days=5)))
    latest = await incidents.latest()
    assert latest is not None and latest.id == reopened.incident.id and latest.is_open


async def test_no_one_to_tell_counts_nobody(db: Database) -> None:
    incidents = Incidents(db)
    declared = await incidents.announce(draft(1))
    restored = await incidents.announce(draft(2, "restore", at=NOW + timedelta(hours=1)))
    assert (declared.audience, restored.audience, restored.reconciliations) == (0, 0, 0)
    assert await BroadcastQueue(db).rows() == []


async def test_a_conflict_that_keeps_coming_back_is_tried_three_times_then_raised(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another admin's simultaneous declare is read again (a few times at most): it never
    loops, and a conflict that persists reaches the caller as the database's error."""
    calls = 0

    async def conflict(self: Incidents, session: Any, confirmed: Draft) -> Any:
        nonlocal calls
        calls += 1
        raise IntegrityError("INSERT", {}, Exception("unique open_slot"))

    monkeypatch.setattr(Incidents, "_announce_in", conflict)
    with pytest.raises(IntegrityError):
        await Incidents(db).announce(draft(1))
    assert calls == 3


async def test_reconciliations_cover_the_incident_window_inclusive_and_nothing_else(
    db: Database,
) -> None:
    """Requests made from the declared moment to the restored moment, both included; not
    before, not after, not a downtime log email, not in another tenant, and only in the
    requester's personal chat."""
    incidents, conversations, outbox = Incidents(db), Conversations(db), Outbox(db)
    users = ("29:before", "29:start", "29:end", "29:after", "29:log", "29:grp")
    for user in users:
        await conversations.record(personal(user))
    await conversations.record(personal("29:x", "elsewhere"))
    group = {"conversation": {"id": "19:g", "conversationType": "groupChat"}}
    await conversations.record(ConversationRecord("19:g", "groupChat", TENANT, "29:grp", group))
    restored_at = NOW + timedelta(hours=2)
    await submit(outbox, "f0", "29:before", NOW - timedelta(seconds=1))
    declared = await incidents.announce(draft(1))
    await submit(outbox, "f1", "29:start", NOW)
    await submit(outbox, "f2", "29:end", restored_at)
    await submit(outbox, "f3", "29:after", restored_at + timedelta(seconds=1))
    await submit(outbox, "f4", "29:log", NOW + timedelta(minutes=1), kind=LOG)
    await submit(outbox, "f5", "29:x", NOW + timedelta(minutes=1))
    await submit(outbox, "f6", "29:grp", NOW + timedelta(minutes=1))
    restored = await incidents.announce(draft(2, "restore", "", restored_at))
    rows = await BroadcastQueue(db).rows(RECONCILIATION)
    assert sorted((r.conversation_key, r.user_id) for r in rows) == [
        ("a:29:end", "29:end"),
        ("a:29:grp", "29:grp"),
        ("a:29:start", "29:start"),
    ]
    assert restored.reconciliations == 3
    assert {r.subject for r in rows} == {str(declared.incident.id)}


# --- the broadcast queue --------------------------------------------------------------


async def queued(db: Database, count: int) -> BroadcastQueue:
    conversations = Conversations(db)
    for n in range(count):
        await conversations.record(personal(f"29:{n}"))
    await Incidents(db).announce(draft(1))
    return BroadcastQueue(db)


async def test_two_workers_never_claim_the_same_delivery(db: Database) -> None:
    queue = await queued(db, 12)
    claims = await asyncio.gather(*(queue.claim_due(f"w{n}", NOW, 60, limit=4) for n in range(4)))
    ids = [row.id for claim in claims for row in claim]
    assert len(ids) == len(set(ids)) == 12
    assert all(row.reference is not None for claim in claims for row in claim)


async def test_a_dead_workers_lease_expires_and_an_outcome_needs_the_lease(db: Database) -> None:
    queue = await queued(db, 1)
    (row,) = await queue.claim_due("dead", NOW, 60, limit=1)
    assert await queue.claim_due("other", NOW + timedelta(seconds=30), 60, limit=1) == []
    (again,) = await queue.claim_due("other", NOW + timedelta(seconds=61), 60, limit=1)
    assert again.id == row.id and again.attempts == 2
    assert not await queue.mark_sent(row.id, owner="dead", activity_id="x", sent_at=NOW)
    assert await queue.mark_sent(row.id, owner="other", activity_id="act-1", sent_at=NOW)
    (stored,) = await queue.rows()
    assert (stored.status, stored.activity_id) == ("sent", "act-1")
    assert await queue.claim_due("third", NOW + timedelta(days=1), 60, limit=1) == []


async def test_released_deliveries_are_due_at_once_without_an_attempt(db: Database) -> None:
    queue = await queued(db, 2)
    claimed = await queue.claim_due("w", NOW, 60, limit=2)
    await queue.release([r.id for r in claimed], owner="w", now=NOW)
    again = await queue.claim_due("w2", NOW, 60, limit=2)
    assert sorted(r.id for r in again) == sorted(r.id for r in claimed)
    assert all(r.attempts == 1 for r in again)


async def test_a_removed_conversation_is_claimed_without_a_reference(db: Database) -> None:
    queue = await queued(db, 1)
    await Conversations(db).remove("a:29:0")
    (row,) = await queue.claim_due("w", NOW, 60, limit=1)
    assert row.reference is None and row.topic == ANNOUNCEMENT


# --- follow-ups ----------------------------------------------------------------------


async def test_each_sent_request_is_reminded_about_once_in_one_message_per_user(
    db: Database,
) -> None:
    conversations, outbox, follow_ups = Conversations(db), Outbox(db), FollowUps(db)
    await conversations.record(personal("29:a"))
    references = [await submit(outbox, f"f{n}", "29:a", NOW) for n in range(2)]
    orphan = await submit(outbox, "f9", "29:nochat", NOW)
    for _ in [*references, orphan]:
        (claimed,) = await outbox.claim_due("w", NOW, 60)
        await outbox.mark_sent(claimed.reference, owner="w", message_id="m", sent_at=NOW)
    assert await follow_ups.queue_due(NOW + timedelta(hours=71), hours=72) == 0
    assert await follow_ups.queue_due(NOW + timedelta(hours=72, minutes=5), hours=72) == 1
    assert await follow_ups.queue_due(NOW + timedelta(hours=73), hours=72) == 0
    (row,) = await BroadcastQueue(db).rows(FOLLOW_UP)
    assert row.conversation_key == "a:29:a"
    assert row.payload == {"references": sorted(references)}


async def test_a_reminder_a_day_overdue_is_not_sent(db: Database) -> None:
    conversations, outbox = Conversations(db), Outbox(db)
    await conversations.record(personal("29:a"))
    await submit(outbox, "f1", "29:a", NOW)
    (claimed,) = await outbox.claim_due("w", NOW, 60)
    await outbox.mark_sent(claimed.reference, owner="w", message_id="m", sent_at=NOW)
    late = NOW + timedelta(hours=72 + 25)
    assert await FollowUps(db).queue_due(late, hours=72) == 0


# --- the downtime log's reads ----------------------------------------------------------------


async def test_the_log_masks_the_nhs_number_and_keeps_the_rest_after_the_purge(
    db: Database,
) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    reference = await submit(outbox, "f1", "29:a", NOW)
    (row,) = (await log.mine("29:a")).rows
    assert row.masked_nhs_number == "*** *** 0018"
    assert "Testpatient" not in repr(row) and "9990000018" not in repr(row).replace(" ", "")
    (claimed,) = await outbox.claim_due("w", NOW, 60)
    await outbox.mark_sent(claimed.reference, owner="w", message_id="m", sent_at=NOW)
    assert await outbox.purge(NOW + timedelta(days=15), 14) == 1
    (purged,) = await log.for_practice("g85001", NOW - timedelta(hours=1), None)
    assert purged.reference == reference and purged.masked_nhs_number is None
    assert (purged.department, purged.status, purged.sent_at) == ("ultrasound", "sent", NOW)


async def test_my_requests_are_newest_first_a_page_at_a_time(db: Database) -> None:
    outbox, log = Outbox(db), RequestLog(db)
    made = [await submit(outbox, f"f{n}", "29:a", NOW + timedelta(minutes=n)) for n in range(12)]
    await submit(outbox, "other", "29:b", NOW)
    first, second = await log.mine("29:a", 0, 10), await log.mine("29:a", 1, 10)
    assert [r.reference for r in first.rows] == made[::-1][:10] and first.more
    assert [r.reference for r in second.rows] == made[::-1][10:] and not second.more
