"""What one running app holds, typed and frozen: built once by `create_app`, before the bot.

Two layers:

* `Services`: what a handler may ask for by name, besides the turn itself. A
  handler declares `directory` or `cards` as a parameter and the router passes
  the one instance the application built. The names are its fields, and the
  router refuses at registration a handler asking for a name that is neither
  one of these, nor part of the turn, nor a slot or card field it can fill.
* `Runtime`: everything else the app owns (the database, the workers, the
  bot), grouped by the resource whose start-up context starts and stops it
  (`bot/application.py`). Handlers never see it; tests read it.

Everything here is constructed before anything starts: building opens no
connection and starts no task, so the app can be made, inspected and thrown
away without an event loop having run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing these here would make an import circle
    from bot.broadcast import BroadcastWorker
    from bot.directory import Directory
    from bot.files.download import FileDownloader
    from bot.incidents.board import IncidentBoard
    from bot.incidents.downtime_log import DowntimeLog
    from bot.incidents.follow_up import FollowUpScheduler
    from bot.mail.process import ComposeProcess
    from bot.mail.worker import OutboxWorker
    from bot.readiness import Readiness
    from bot.router import Router
    from bot.settings import Settings
    from bot.store import ActivityLog, Database, Profiles
    from bot.store.broadcasts import BroadcastQueue
    from bot.store.confirmations import Confirmations, Notices
    from bot.store.conversations import Conversations
    from bot.store.files import ReceivedFiles
    from bot.store.outbox import Outbox
    from bot.teams.adapter import Connector
    from bot.teams.bot import IceBot
    from bot.teams.proactive import DeliveryNotifier
    from cards import CardRenderer


@dataclass(frozen=True, slots=True)
class Services:
    """The long-lived objects handlers use."""

    settings: Settings
    directory: Directory
    cards: CardRenderer
    profiles: Profiles
    router: Router
    outbox: Outbox
    confirmations: Confirmations
    #: Completed forms users attached, held until sent (bot/store/files.py).
    files: ReceivedFiles
    #: Fetches an attached file from an allowed host, checked (bot/files/download.py).
    downloader: FileDownloader
    #: The open incident (cached) and the admins' declare/restore.
    incidents: IncidentBoard
    #: My requests, the practice log and its email.
    downtime_log: DowntimeLog
    #: Now, as an aware UTC datetime (tests pass a fixed clock).
    clock: Callable[[], datetime]
    #: Wake the outbox worker: a request was just queued.
    kick: Callable[[], None]

    def by_name(self) -> Mapping[str, Any]:
        """The services as the router passes them: name -> object (read-only)."""
        return MappingProxyType({f.name: getattr(self, f.name) for f in fields(self)})


SERVICE_NAMES: frozenset[str] = frozenset(f.name for f in fields(Services))


@dataclass(frozen=True, slots=True)
class Delivery:
    """The mail outbox's moving parts: started and stopped together."""

    #: Composes each email in a child process; None with MAIL_COMPOSE_PROCESS=false.
    compose_process: ComposeProcess | None
    #: Claims due requests, sends them, records the outcome (bot/mail/worker.py).
    worker: OutboxWorker
    #: Tells the user the outcome, and re-tells what Teams did not take at the time.
    notifier: DeliveryNotifier
    notices: Notices


@dataclass(frozen=True, slots=True)
class Broadcasts:
    """Proactive Teams messages: the queue, its worker, and the reminder scan."""

    queue: BroadcastQueue
    worker: BroadcastWorker
    #: None with FOLLOW_UP_HOURS=0.
    reminders: FollowUpScheduler | None


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything one running app holds; each part is opened and closed by its own context."""

    settings: Settings
    services: Services
    db: Database
    activity_log: ActivityLog
    conversations: Conversations
    #: The way out to Teams: the adapter and the one HTTP session its clients share.
    connector: Connector
    delivery: Delivery
    broadcasts: Broadcasts
    readiness: Readiness
    bot: IceBot


__all__ = ["SERVICE_NAMES", "Broadcasts", "Delivery", "Runtime", "Services"]
