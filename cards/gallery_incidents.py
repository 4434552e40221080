"""The incident and downtime-log cards for the gallery (cards/gallery.py), in every state.

Sample records are built the way the store returns them: an incident as
`IncidentView`, requests as `LoggedRequest` (a masked NHS number, never a
name), so each card is drawn exactly as the bot would send it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from bot.incidents.views import (
    announcement_context,
    confirm_context,
    follow_up_context,
    incident_context,
    my_requests_context,
    practice_log_context,
    queued_context,
    reconciliation_context,
)
from bot.store.broadcasts import Progress
from bot.store.conversations import Audience
from bot.store.incidents import AnnouncementKind, AnnouncementView, IncidentView
from bot.store.request_log import LoggedRequest, Page
from cards.gallery import Sample, directory

DECLARED = datetime(2026, 12, 1, 8, 12, tzinfo=UTC)
RESTORED = datetime(2026, 12, 1, 11, 2, tzinfo=UTC)
#: Every kind of announcement, as the gallery shows them.
KINDS: tuple[AnnouncementKind, ...] = ("declared", "updated", "restored")
NOTE = "ICE is down for all practices since 08:10, supplier investigating [see *ICE* status]"


def incident(*, restored: bool = False, updated: bool = False) -> IncidentView:
    return IncidentView(
        id=3,
        note=NOTE,
        declared_at=DECLARED,
        declared_by_name="Jo Admin",
        updated_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC) if updated else DECLARED,
        updated_by_name="Jo Admin",
        restored_at=RESTORED if restored else None,
        restored_by_name="Jo Admin" if restored else None,
        restored_note="Fixed by the supplier at 11:00" if restored else None,
    )


def announcement(kind: AnnouncementKind) -> AnnouncementView:
    return AnnouncementView(
        id=7,
        kind=kind,
        note="Fixed by the supplier at 11:00" if kind == "restored" else NOTE,
        created_at=RESTORED if kind == "restored" else DECLARED,
        created_by_name="Jo Admin",
        audience=212,
        reconciliations=14 if kind == "restored" else 0,
        incident=incident(restored=kind == "restored"),
    )


def logged(
    number: int, status: str = "sent", *, trust: str = "kch", department: str = "ultrasound"
) -> LoggedRequest:
    return LoggedRequest(
        reference=f"DT-20261201-{number:04d}",
        kind="form",
        user_id=f"29:user-{number % 3}",
        practice_ods="G85001",
        trust=trust,
        department=department,
        priority="urgent" if number % 2 else "routine",
        mailbox="kch-tr.us.reception_dh@nhs.net",
        status=status,
        created_at=DECLARED,
        sent_at=RESTORED if status == "sent" else None,
        failed_at=RESTORED if status == "failed" else None,
        masked_nhs_number="*** *** 0018" if number % 4 else None,
    )


ROWS = [
    logged(1),
    logged(2, "failed"),
    logged(3, "queued"),
    logged(4, trust="gstt", department="radiology"),
]
NAMES = {"29:user-0": "Sam Receptionist", "29:user-1": "Dr Alex Example", "29:user-2": "Kim"}


def incident_samples() -> list[Sample]:
    d = directory()

    def practice_log(
        rows: list[LoggedRequest], mailbox: str | None, restored: bool
    ) -> dict[str, Any]:
        return practice_log_context(
            ods_code="G85001",
            incident=incident(restored=restored),
            rows=rows,
            names=NAMES if rows else {},
            directory=d,
            mailbox=mailbox,
            key="a" * 32,
        )

    return [
        Sample(
            "incident-none",
            "incident",
            "Is ICE down? No outage declared",
            lambda: incident_context(None, "status"),
        ),
        Sample(
            "incident-open",
            "incident",
            "Is ICE down? / status: the declared outage",
            lambda: incident_context(incident(updated=True), "status"),
        ),
        Sample(
            "incident-open-admin",
            "incident",
            "status for an admin: how far the announcement has got",
            lambda: incident_context(
                incident(),
                "status",
                progress=Progress(queued=20, sent=190, dropped=2),
                audience=212,
            ),
        ),
        *(
            Sample(
                f"incident-{kind}",
                "incident",
                f"Announcement: {kind}",
                partial(announcement_context, announcement(kind)),
            )
            for kind in KINDS
        ),
        Sample(
            "incident_confirm-declare",
            "incident_confirm",
            "Admin: confirm an outage before it is sent",
            lambda: confirm_context(
                action="declare",
                note=NOTE,
                draft_id="0" * 32,
                audience=Audience(personal=180, group_chats=20, teams=12),
                incident=None,
            ),
        ),
        Sample(
            "incident_confirm-restore",
            "incident_confirm",
            "Admin: confirm ICE restored",
            lambda: confirm_context(
                action="restore",
                note="",
                draft_id="1" * 32,
                audience=Audience(personal=1),
                incident=incident(),
            ),
        ),
        *(
            Sample(
                f"incident_done-{kind}",
                "incident_done",
                f"Admin: the confirmation once sent ({kind})",
                partial(queued_context, announcement(kind)),
            )
            for kind in KINDS
            if kind != "updated"
        ),
        Sample(
            "incident_done-cancelled",
            "incident_done",
            "Admin: cancelled",
            lambda: {"title": "Cancelled: nothing was sent.", "lines": []},
        ),
        Sample(
            "my_requests",
            "my_requests",
            "my requests: sent, failed, queued, newest first",
            lambda: my_requests_context(Page(tuple(ROWS), 0, True), d),
        ),
        Sample(
            "my_requests-page-2",
            "my_requests",
            "my requests: an older page",
            lambda: my_requests_context(Page(tuple(ROWS[:1]), 1, False), d),
        ),
        Sample(
            "my_requests-none",
            "my_requests",
            "my requests: none yet",
            lambda: my_requests_context(Page((), 0, False), d),
        ),
        Sample(
            "practice_log",
            "practice_log",
            "practice log: the last incident, who sent each, email it",
            lambda: practice_log(ROWS, "test.practice@nhs.net", restored=True),
        ),
        Sample(
            "practice_log-full",
            "practice_log",
            "practice log: more requests than a card lists",
            lambda: practice_log(
                [logged(n) for n in range(1, 121)], "test.practice@nhs.net", restored=False
            ),
        ),
        Sample(
            "practice_log-empty",
            "practice_log",
            "practice log: nothing sent, no mailbox known",
            lambda: practice_log([], None, restored=False),
        ),
        Sample(
            "reconciliation",
            "reconciliation",
            "ICE is back: the user's requests, what to do by hand first",
            lambda: reconciliation_context(incident(restored=True), ROWS, d),
        ),
        Sample(
            "follow_up",
            "follow_up",
            "The bot's reminder FOLLOW_UP_HOURS after sending",
            lambda: follow_up_context(ROWS[:2], 72, d),
        ),
    ]


__all__ = ["NOTE", "ROWS", "incident", "incident_samples", "logged"]
