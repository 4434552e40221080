"""The downtime log: `my requests`, `practice log`, and emailing the log to the practice.

Both lists show requests with the NHS number masked to its last four digits,
never a patient's name, and only in the user's personal chat: asked in a
channel or group chat, the answer goes to the personal chat instead.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.directory import Directory
from bot.incidents.board import IncidentBoard
from bot.incidents.downtime_log import DowntimeLog
from bot.incidents.views import my_requests_context, practice_log_context
from bot.nlu import Intent
from bot.router import Command, Router
from bot.settings import Settings
from bot.store import StoreUnavailable
from bot.store.outbox import TooManyRequests
from bot.turns import Conversation, Outcome, Reply, User
from cards import CardRenderer

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Kick = Callable[[], None]

NO_PRACTICE = (
    "I don't know your practice yet: I remember it from the first request you send with me "
    "(type 'order'). Type 'my requests' for your own."
)
NO_INCIDENT = (
    "No ICE outage has been declared in this app yet, so there is no incident log. Type "
    "'my requests' for the requests you sent."
)
NO_MAILBOX = "I don't have your practice's nhs.net mailbox: it comes from your next request."
LOG_CHANGED = "The log has changed since that card was made. Type 'practice log' again."
LOG_QUEUED = (
    "The practice log ({count}) is on its way to {mailbox} as a CSV file, reference "
    "{reference}. I'll tell you here when it has been sent."
)
LOG_ALREADY = "That log was already queued to be emailed, reference {reference}."
TOO_MANY = (
    "You have sent {limit} requests and logs in the last hour, the most allowed. Please try "
    "again later."
)
NOT_SAVED = "The log could not be queued just now, so nothing was sent. Please try again."
PERSONAL_ONLY = "The downtime log is shown only in your personal chat with me."
_KEY = re.compile(r"^[0-9a-f]{32}$")
_MAX_PAGE = 1000


def register(router: Router) -> None:
    @router.intent(
        Intent.MY_REQUESTS,
        command=Command(
            "my requests",
            "my requests",
            "The requests you sent and whether each has gone",
            scopes=("personal",),
        ),
    )
    async def my_requests(
        cards: CardRenderer,
        directory: Directory,
        downtime_log: DowntimeLog,
        user: User,
        conversation: Conversation,
    ) -> Outcome:
        page = await downtime_log.mine(user.id, 0)
        card = cards.render("my_requests", my_requests_context(page, directory))
        return _personal(conversation, card)

    router.action("myrequests.show")(my_requests)

    @router.action("myrequests.page", fields=("page",))
    async def my_requests_page(
        cards: CardRenderer,
        directory: Directory,
        downtime_log: DowntimeLog,
        user: User,
        conversation: Conversation,
        page: object = 0,
    ) -> Outcome:
        """Older or newer: the list is replaced in place, one card however far one pages."""
        if not conversation.is_personal:
            return Outcome.message(PERSONAL_ONLY)
        found = await downtime_log.mine(user.id, _page_number(page))
        return Outcome(update=cards.render("my_requests", my_requests_context(found, directory)))

    @router.intent(Intent.PRACTICE_LOG)
    async def practice_log(
        cards: CardRenderer,
        directory: Directory,
        downtime_log: DowntimeLog,
        incidents: IncidentBoard,
        user: User,
        conversation: Conversation,
    ) -> Outcome:
        """The requests made under the user's practice during the current or last incident."""
        practice = await downtime_log.practice_of(user.id)
        if practice is None:
            return _personal_text(conversation, NO_PRACTICE)
        incident = await incidents.latest()
        if incident is None:
            return _personal_text(conversation, NO_INCIDENT)
        entry = await downtime_log.practice_log(practice, incident)
        context = practice_log_context(
            ods_code=practice.ods_code,
            incident=incident,
            rows=entry.rows,
            names=entry.names,
            directory=directory,
            mailbox=practice.mailbox,
            key=uuid.uuid4().hex,
        )
        return _personal(conversation, cards.render("practice_log", context))

    router.action("log.show")(practice_log)

    @router.action("log.email", fields=("key", "incident"))
    async def email_log(
        downtime_log: DowntimeLog,
        incidents: IncidentBoard,
        settings: Settings,
        user: User,
        conversation: Conversation,
        clock: Clock,
        kick: Kick,
        key: str | None = None,
        incident: object = None,
    ) -> Outcome:
        """Queue the log as CSV to the practice's remembered mailbox (never one a card names)."""
        if not conversation.is_personal:
            return Outcome.message(PERSONAL_ONLY)
        if not (key and _KEY.fullmatch(key)):
            return Outcome.message(LOG_CHANGED)
        practice = await downtime_log.practice_of(user.id)
        if practice is None:
            return Outcome.message(NO_PRACTICE)
        if practice.mailbox is None:
            return Outcome.message(NO_MAILBOX)
        latest = await incidents.latest()
        if latest is None or latest.id != incident:
            return Outcome.message(LOG_CHANGED)
        entry = await downtime_log.practice_log(practice, latest)
        try:
            queued = await downtime_log.email(
                entry,
                user_id=user.id,
                key=key,
                now=clock(),
                most_per_hour=settings.max_requests_per_hour,
            )
        except TooManyRequests as error:
            return Outcome.message(TOO_MANY.format(limit=error.most))
        except StoreUnavailable as error:
            log.error("practice log not queued: %s", error)
            return Outcome.message(NOT_SAVED)
        if queued.duplicate:
            return Outcome.message(LOG_ALREADY.format(reference=queued.reference))
        kick()  # the mail worker sends it now, not at its next poll
        count = f"{len(entry.rows)} request{'s' if len(entry.rows) != 1 else ''}"
        return Outcome.message(
            LOG_QUEUED.format(count=count, mailbox=practice.mailbox, reference=queued.reference)
        )


def _page_number(page: object) -> int:
    """The page a card asked for, from 0 to _MAX_PAGE: an int, or decimal digits as text.

    Card data comes from the client. Not `str.isdigit`: it is true of "²", which
    int() refuses, as it refuses text longer than its digit limit.
    """
    if isinstance(page, int):
        number = page
    elif isinstance(page, str) and page.isdecimal() and len(page) <= len(str(_MAX_PAGE)):
        number = int(page)
    else:
        number = 0
    return min(max(number, 0), _MAX_PAGE)


def _personal(conversation: Conversation, card: dict[str, Any]) -> Outcome:
    if conversation.is_personal:
        return Outcome.card(card)
    return Outcome(private=[Reply(card=card)])


def _personal_text(conversation: Conversation, text: str) -> Outcome:
    if conversation.is_personal:
        return Outcome.message(text)
    return Outcome(private=[Reply(text=text)])


__all__ = ["register"]
