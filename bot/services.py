"""What a handler may ask for by name, besides the turn itself: built once at start-up.

A handler declares `directory` or `cards` as a parameter and the router passes
the one instance the application built. The names are the fields below, and the
router refuses at registration a handler asking for a name that is neither one
of these, nor part of the turn, nor a slot or card field it can fill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing these here would make an import circle
    from bot.directory import Directory
    from bot.files.download import FileDownloader
    from bot.incidents.board import IncidentBoard
    from bot.incidents.downtime_log import DowntimeLog
    from bot.router import Router
    from bot.settings import Settings
    from bot.store import Profiles
    from bot.store.confirmations import Confirmations
    from bot.store.files import ReceivedFiles
    from bot.store.outbox import Outbox
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

    def by_name(self) -> dict[str, Any]:
        """The services as the router passes them: name -> object."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SERVICE_NAMES: frozenset[str] = frozenset(f.name for f in fields(Services))

__all__ = ["SERVICE_NAMES", "Services"]
