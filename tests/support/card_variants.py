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
from bot.vocabulary import BOROUGHS, SITE_BY_ID, SITES

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


# Every variant of every card: (id, template, context). The validity test runs
# over all of them; the template-coverage test reads the template names from here.
VARIANTS: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
    ("welcome", "welcome", lambda: {"directory": DIRECTORY}),
    ("triage", "triage", lambda: {}),
    ("triage-with-directory", "triage", lambda: {"directory": DIRECTORY}),
    ("downtime_steps", "downtime_steps", lambda: {"directory": DIRECTORY}),
    ("access-desk", "access_steps", bromley_access),
    (
        "access-no-desk",
        "access_steps",
        lambda: {"directory": DIRECTORY, "desk": None, "borough": None, "boroughs": list(BOROUGHS)},
    ),
    (
        "access-outside",
        "access_steps",
        lambda: {
            "directory": DIRECTORY,
            "desk": None,
            "borough": None,
            "boroughs": list(BOROUGHS),
            "outside": "Croydon",
        },
    ),
    ("pcn", "pcn", lambda: {"directory": DIRECTORY}),
    *(
        (f"helpdesk-{b}", "helpdesk", lambda b=b: {"desk": DIRECTORY.desk_for(b), "borough": b})
        for b in BOROUGHS
    ),
    ("helpdesk_picker", "helpdesk_picker", lambda: {"boroughs": list(BOROUGHS)}),
    (
        "helpdesk_picker-outside",
        "helpdesk_picker",
        lambda: {"boroughs": list(BOROUGHS), "outside": "Croydon"},
    ),
    *(
        (
            f"mailbox-{t.id}-{d.id}",
            "mailbox",
            lambda t=t, d=d: mailbox_context(t, d),
        )
        for t in DIRECTORY.trusts
        for d in t.departments
    ),
    *(
        (
            f"mailbox-site-{site.id}",
            "mailbox",
            lambda site=site: mailbox_context(
                DIRECTORY.trust(site.trust), DIRECTORY.trust(site.trust).departments[0], site
            ),
        )
        for site in SITES
    ),
    (
        "mailbox_picker-all",
        "mailbox_picker",
        lambda: {"trusts": list(DIRECTORY.trusts), "trust": None},
    ),
    *(
        (
            f"mailbox_picker-{t.id}",
            "mailbox_picker",
            lambda t=t: {"trusts": list(DIRECTORY.trusts), "trust": t},
        )
        for t in DIRECTORY.trusts
    ),
    (
        "mailbox_picker-pruh",
        "mailbox_picker",
        lambda: {"trusts": list(DIRECTORY.trusts), "trust": kch(), "site": SITE_BY_ID["pruh"]},
    ),
    ("mailbox_unsupported", "mailbox_unsupported", lambda: {"trust": kch(), "modality": "CT"}),
    *(
        (f"info-{topic}", "info", lambda topic=topic: {"directory": DIRECTORY, "topic": topic})
        for topic in ("next", "walk_in", "rejections", "results")
    ),
    ("help", "help", lambda: {"commands": COMMANDS, "not_understood": False}),
    ("help-not-understood", "help", lambda: {"commands": COMMANDS, "not_understood": True}),
    ("help-no-commands", "help", lambda: {"commands": [], "not_understood": True}),
    ("coming_soon", "coming_soon", lambda: {"feature": "Ordering from Teams"}),
    *(
        (f"lookup-{i}", "lookup", lambda card=card: card)
        for i, (_, card) in enumerate(lookup_cards())
    ),
]
# Cards inserted into other chats by the message extension: facts only, no bot buttons.
NO_BUTTONS = {"lookup"}
