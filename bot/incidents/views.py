"""What the incident and downtime-log cards say: template contexts built from store records.

Every function here takes records that hold no patient data but a masked NHS
number (`LoggedRequest`), so no card built from them can show a name, a date
of birth or clinical text. Times are shown in UK time ("08:12 on 01/12/2026").
Procedure text comes from the directory (the BCP's own words); anything the
bot says of its own (the reminder) is labelled as the bot's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.directory import Directory
from bot.store.broadcasts import Progress
from bot.store.conversations import Audience
from bot.store.incidents import AnnouncementView, IncidentView
from bot.store.request_log import LoggedRequest, Page

LONDON = ZoneInfo("Europe/London")
#: Rows one card lists at most; more are counted ("and 12 more") and are in the CSV.
CARD_ROWS = 40
BOT_REMINDER = "A reminder from this bot, not a step of the BCP."

Shown = Literal["declared", "updated", "restored", "status"]


def when(moment: datetime | None) -> str:
    """ "08:12 on 01/12/2026", in UK time; "" for no time."""
    if moment is None:
        return ""
    local = moment.astimezone(LONDON)
    return f"{local:%H:%M} on {local:%d/%m/%Y}"


def clock(moment: datetime | None) -> str:
    """ "08:12", in UK time."""
    return f"{moment.astimezone(LONDON):%H:%M}" if moment else ""


# --- incidents -----------------------------------------------------------------------


def incident_context(
    incident: IncidentView | None,
    shown: Shown,
    *,
    progress: Progress | None = None,
    audience: int | None = None,
) -> dict[str, Any]:
    """The incident card: an announcement, or the answer to "is ICE down?" and /status.

    `incident` None (with `shown="status"`) is "no outage has been declared".
    """
    if incident is None:
        return {
            "state": "none",
            "headline": "No ICE outage has been declared",
            "bar": "emphasis",
            "lines": [
                "Nobody has declared an ICE outage for all practices in this app.",
                "I can't see ICE myself. If it is not working for you, it may be a problem at "
                "your practice or with your login: the BCP's steps for that are below.",
            ],
            "note": "",
            "note_label": "",
            "facts": [],
            "progress": None,
        }
    restored = incident.restored_at is not None
    headline = {
        "declared": "ICE outage declared",
        "updated": "ICE outage: update",
        "restored": "ICE is back",
        "status": "ICE is back: the outage is over" if restored else "ICE outage declared",
    }[shown]
    facts = [{"title": "Declared", "value": f"{when(incident.declared_at)}"}]
    if not restored and (shown == "status" or incident.updated_at != incident.declared_at):
        facts.append({"title": "Last updated", "value": when(incident.updated_at)})
    if restored:
        facts.append({"title": "Restored", "value": when(incident.restored_at)})
    note = (incident.restored_note or "") if restored else incident.note
    lines = (
        ["Request through ICE as usual again."]
        if restored
        else ["ICE is down for all practices. Follow the downtime procedure: the steps are below."]
        if shown == "status"
        else ["ICE is down for all practices. Follow the downtime procedure."]
    )
    return {
        "state": "restored" if restored else "open",
        "headline": headline,
        "bar": "good" if restored else "attention",
        "lines": lines,
        "note": note,
        "note_label": (
            f"Note from {incident.restored_by_name if restored else incident.updated_by_name}"
            ", an ICE downtime administrator:"
        ),
        "facts": facts,
        "progress": _progress_line(progress, audience),
    }


def announcement_context(announcement: AnnouncementView) -> dict[str, Any]:
    """The announcement card as it was confirmed (not the incident as it is now)."""
    incident = announcement.incident
    restored = announcement.kind == "restored"
    as_announced = IncidentView(
        id=incident.id,
        note=incident.note if restored else announcement.note,
        declared_at=incident.declared_at,
        declared_by_name=incident.declared_by_name,
        updated_at=announcement.created_at,
        updated_by_name=announcement.created_by_name,
        restored_at=announcement.created_at if restored else None,
        restored_by_name=announcement.created_by_name if restored else None,
        restored_note=announcement.note if restored else None,
    )
    return incident_context(as_announced, announcement.kind)


def _progress_line(progress: Progress | None, audience: int | None) -> str | None:
    """For admins: how far the last announcement has gone."""
    if progress is None:
        return None
    total = audience if audience is not None else progress.total
    line = f"Announcement: sent to {progress.sent} of {total} conversations"
    extra = []
    if progress.queued:
        extra.append(f"{progress.queued} still queued")
    if progress.dropped:
        extra.append(f"{progress.dropped} no longer installed")
    if progress.failed:
        extra.append(f"{progress.failed} failed")
    return line + (f" ({', '.join(extra)})" if extra else "") + "."


def confirm_context(
    *,
    action: Literal["declare", "update", "restore"],
    note: str,
    draft_id: str,
    audience: Audience,
    incident: IncidentView | None,
) -> dict[str, Any]:
    """The admin's last look before anything goes out: what, and to how many conversations."""
    title = {
        "declare": "Declare an ICE outage?",
        "update": "Update the ICE outage note?",
        "restore": "Declare ICE restored?",
    }[action]
    reach = (
        f"This goes to {audience.total} conversation{'s' if audience.total != 1 else ''}: "
        f"{audience.teams} team channel{'s' if audience.teams != 1 else ''}, "
        f"{audience.group_chats} group chat{'s' if audience.group_chats != 1 else ''} and "
        f"{audience.personal} personal chat{'s' if audience.personal != 1 else ''}."
    )
    lines = [reach]
    if incident is not None and action != "declare":
        lines.append(f"The outage was declared at {when(incident.declared_at)}.")
    if action == "restore":
        lines.append(
            "Everyone who sent a request during the outage also gets a card listing theirs."
        )
    return {
        "title": title,
        "lines": lines,
        "note": note,
        "draft": {"draft_id": draft_id, "change": "restore" if action == "restore" else "declare"},
        "note_data": note,
        "send_title": "Send" if audience.total else "Save",
    }


def queued_context(announcement: AnnouncementView) -> dict[str, Any]:
    """The confirmation card once confirmed: what was queued."""
    kind = announcement.kind
    title = {
        "declared": "ICE outage declared",
        "updated": "Outage note updated",
        "restored": "ICE declared restored",
    }[kind]
    lines = [
        f"The announcement is on its way to {announcement.audience} conversation"
        f"{'s' if announcement.audience != 1 else ''}.",
    ]
    if kind == "restored":
        lines.append(
            f"{announcement.reconciliations} user{'s' if announcement.reconciliations != 1 else ''}"
            " who sent requests during the outage will get a card listing them."
        )
    lines.append("Type /status to see how far it has gone.")
    return {"title": title, "lines": lines, "when": when(announcement.created_at)}


# --- the downtime log ----------------------------------------------------------------


def request_rows(
    rows: Iterable[LoggedRequest],
    directory: Directory,
    *,
    names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per request: what a card lists (and the CSV's columns, see `csv_rows`)."""
    out = []
    for row in rows:
        status, bar = status_of(row)
        parts = [place_of(row, directory), row.priority.capitalize()]
        detail = [p for p in parts if p]
        if row.masked_nhs_number:
            detail.append(f"NHS {row.masked_nhs_number}")
        if names is not None:
            detail.append(f"sent by {names.get(row.user_id, 'a colleague')}")
        out.append(
            {
                "reference": row.reference,
                "status": status,
                "bar": bar,
                "detail": " · ".join(detail),
            }
        )
    return out


def status_of(row: LoggedRequest) -> tuple[str, str]:
    """The status as a user reads it, and the tint of its row (dark text on every tint).

    A mark as well as the tint, so the status never depends on colour alone.
    """
    if row.status == "sent":
        return f"✓ Sent {when(row.sent_at)}", "default"
    if row.status == "failed":
        return "⚠ Not sent: email it yourself", "attention"
    return "… Queued, not sent yet", "warning"


def place_of(row: LoggedRequest, directory: Directory) -> str:
    """ "KCH Ultrasound": the trust's short name and the department."""
    trust = directory.trust(row.trust)
    department = directory.department(row.trust, row.department) if trust else None
    name = department.name if department else row.department
    return " ".join(p for p in (trust.short_name if trust else row.trust.upper(), name) if p)


def my_requests_context(page: Page, directory: Directory) -> dict[str, Any]:
    return {
        "rows": request_rows(page.rows, directory),
        "page": page.page,
        "older": page.more,
        "newer": page.page > 0,
        "empty": not page.rows,
    }


def practice_log_context(
    *,
    ods_code: str,
    incident: IncidentView,
    rows: Sequence[LoggedRequest],
    names: Mapping[str, str],
    directory: Directory,
    mailbox: str | None,
    key: str,
) -> dict[str, Any]:
    window = f"From {when(incident.declared_at)}" + (
        f" to {when(incident.restored_at)}" if incident.restored_at else " (outage still open)"
    )
    shown = rows[:CARD_ROWS]
    return {
        "ods_code": ods_code,
        "window": window,
        "summary": summary_of(rows),
        "rows": request_rows(shown, directory, names=names),
        "more": len(rows) - len(shown),
        "mailbox": mailbox,
        "email": {"key": key, "incident": incident.id} if mailbox and rows else None,
    }


def summary_of(rows: Sequence[LoggedRequest]) -> str:
    sent = sum(r.status == "sent" for r in rows)
    failed = sum(r.status == "failed" for r in rows)
    queued = len(rows) - sent - failed
    total = f"{len(rows)} request{'s' if len(rows) != 1 else ''}"
    if not rows:
        return "No requests were sent through this bot under this practice code in that time."
    return f"{total}: {sent} sent, {queued} queued, {failed} not sent."


def after_sending(directory: Directory) -> list[str]:
    """The BCP's own after-sending facts, in its words (the reconciliation card).

    The results mailboxes follow on the card from `directory.results`, each
    address on a line of its own.
    """
    return [
        directory.after_sending.epic_entry,
        directory.after_sending.walk_in,
        directory.rejections.rejected,
    ]


def reconciliation_context(
    incident: IncidentView, rows: Sequence[LoggedRequest], directory: Directory
) -> dict[str, Any]:
    """Failed and still-queued requests first, each with what to do by hand."""
    order = {"failed": 0, "queued": 1, "sending": 1}
    ranked = sorted(rows, key=lambda r: (order.get(r.status, 2), r.created_at))
    shown = ranked[:CARD_ROWS]
    attention = [_by_hand(r) for r in shown if r.status != "sent"]
    return {
        "window": f"{when(incident.declared_at)} to {when(incident.restored_at)}",
        "attention": attention,
        "rows": request_rows(shown, directory),
        "more": len(ranked) - len(shown),
        "after": after_sending(directory),
        "results": directory.results,
    }


def _by_hand(row: LoggedRequest) -> dict[str, str]:
    """What to do by hand for a request that did not go: the mailbox on a line of its own."""
    if row.status == "failed":
        return {
            "style": "attention",
            "headline": f"⚠ {row.reference} was NOT sent.",
            "action": "Email the trust's form yourself to",
            "mailbox": row.mailbox,
            "after": "quoting the reference. Its text was sent to you in this chat when it failed.",
        }
    return {
        "style": "warning",
        "headline": f"⚠ {row.reference} is still queued.",
        "action": "If it has not gone within the hour, email the trust's form yourself to",
        "mailbox": row.mailbox,
        "after": "quoting the reference.",
    }


def follow_up_context(
    rows: Sequence[LoggedRequest], hours: int, directory: Directory
) -> dict[str, Any]:
    return {
        "label": BOT_REMINDER,
        "intro": (
            f"You sent these requests about {hours} hours ago. You may want to check the "
            "patient has heard from radiology:"
        ),
        "rows": request_rows(rows[:CARD_ROWS], directory),
        "more": max(0, len(rows) - CARD_ROWS),
        "bcp": directory.after_sending.epic_entry,
    }


# --- the emailed log -----------------------------------------------------------------

CSV_COLUMNS = (
    "reference",
    "sent_by",
    "trust",
    "department",
    "priority",
    "status",
    "created",
    "sent",
    "nhs_number_masked",
)


def csv_rows(
    rows: Iterable[LoggedRequest], names: Mapping[str, str], directory: Directory
) -> list[list[str]]:
    """The practice log's columns, for the emailed CSV: no patient names, masked NHS only."""
    out = [list(CSV_COLUMNS)]
    for row in rows:
        trust = directory.trust(row.trust)
        department = directory.department(row.trust, row.department) if trust else None
        out.append(
            [
                row.reference,
                names.get(row.user_id, ""),
                trust.short_name if trust else row.trust,
                department.name if department else row.department,
                row.priority,
                row.status,
                when(row.created_at),
                when(row.sent_at),
                row.masked_nhs_number or "",
            ]
        )
    return out


__all__ = [
    "BOT_REMINDER",
    "CARD_ROWS",
    "CSV_COLUMNS",
    "after_sending",
    "announcement_context",
    "clock",
    "confirm_context",
    "csv_rows",
    "follow_up_context",
    "incident_context",
    "my_requests_context",
    "practice_log_context",
    "queued_context",
    "reconciliation_context",
    "request_rows",
    "when",
]
