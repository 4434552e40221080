"""Every variant of every conversational card, with the context a handler renders it with.

The card tests validate and read each one; the router tests check that every
button on each reaches a handler that reads the data it sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.directory import load_directory
from bot.handlers.search import catalogue
from bot.router import Command
from bot.vocabulary import BOROUGHS
from cards.gallery import samples

DIRECTORY = load_directory()

COMMANDS = [
    Command("ice", "ICE is down", "Steps when ICE is down"),
    Command("helpdesk", "helpdesk", "Your borough's IT service desk"),
    Command("mailbox", "mailbox", "Where to email a request, e.g. mailbox kings ultrasound"),
]


def kch() -> Any:
    trust = DIRECTORY.trust("kch")
    assert trust is not None
    return trust


def gstt() -> Any:
    trust = DIRECTORY.trust("gstt")
    assert trust is not None
    return trust


def bromley_access() -> dict[str, Any]:
    return {
        "directory": DIRECTORY,
        "desk": DIRECTORY.desk_for("Bromley"),
        "borough": "Bromley",
        "boroughs": list(BOROUGHS),
    }


def mailbox_context(trust: Any, department: Any, site: Any = None) -> dict[str, Any]:
    return {"directory": DIRECTORY, "trust": trust, "department": department, "site": site}


def lookup_cards() -> list[tuple[str, dict[str, Any]]]:
    """The message extension's card contexts, exactly as the search builds them."""
    return [(entry.title, entry.card) for entry in catalogue(DIRECTORY)]


# Every variant of every card: (id, template, context), from the one declared list that
# `make cards` also pictures (cards/gallery.py); a few more states only the tests need.
VARIANTS: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
    *((s.name, s.template, lambda s=s: dict(s.context())) for s in samples()),
    ("triage-with-directory", "triage", lambda: {"directory": DIRECTORY}),
    ("help-no-commands", "help", lambda: {"commands": [], "not_understood": True}),
    (
        "access-desk-no-borough",
        "access_steps",
        lambda: {
            "directory": DIRECTORY,
            "desk": DIRECTORY.desk_for("Lewisham"),
            "borough": None,
            "boroughs": list(BOROUGHS),
        },
    ),
]
# Cards inserted into other chats by the message extension: facts only, no bot buttons.
NO_BUTTONS = {"lookup"}
