"""Render contexts for the two cards of a forwarded form: where it goes, then review.

The user attached the trust's own completed form; the bot asks only what
routes it (trust, then for King's the modality) and, when the profile does not
hold them, the practice details replies go to. The card data carries
`form_id` (the held file's key), `owner` and the priority the message named;
the file's facts always come from the store, never from the card.

The user's file name is shown on these cards: they are in the user's own
personal chat, and the name is how they recognise their file. Titles,
`fallbackText` and `speak` (notifications) never carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.directory import Directory
from bot.files.content import BY_EXTENSION, megabytes
from bot.orders.errors import FORM_ERROR
from bot.orders.fields import PRACTICE_INPUTS
from bot.orders.form import _choice_element, _Input, field_inputs, route_notes
from bot.orders.forwarded import ForwardedRequest, forward_values
from bot.store.files import HeldFile
from bot.vocabulary import MODALITIES

VERB_FORWARD_REVIEW = "forward.review"
VERB_FORWARD_EDIT = "forward.edit"
VERB_FORWARD_SEND = "forward.send"
CHOOSE_TITLE = "Send your completed form"
REVIEW_TITLE = "Review: send your completed form"
_ASKED_PRACTICE = ("practice_name", "practice_ods", "practice_email")
_ASKED = frozenset(_ASKED_PRACTICE)


def file_facts(held: HeldFile) -> list[dict[str, str]]:
    kind = BY_EXTENSION.get(held.extension)
    return [
        {"title": "File", "value": held.name or "(pasted image)"},
        {
            "title": "Type",
            "value": f"{kind.label if kind else held.extension}, {megabytes(held.size)}",
        },
    ]


def _data(form_id: str, owner: str, priority: str | None) -> dict[str, str]:
    data = {"form_id": form_id, "owner": owner}
    if priority:
        data["priority"] = priority
    return data


def forward_choose_context(
    *,
    form_id: str,
    owner: str,
    held: HeldFile,
    directory: Directory,
    prefill: Mapping[str, Any],
    priority: str | None,
    ask_practice: bool,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Context for `forward_choose`: trust, modality (King's only) and, if needed, the practice."""
    errors = errors or {}
    values = {k: v for k, v in prefill.items() if isinstance(v, str)}
    inputs = [
        _Input(
            _choice_element(
                "trust",
                "Trust",
                [(t.id, f"{t.short_name}: {t.name}") for t in directory.trusts],
                values,
                style="expanded",
            )
        ),
        _Input(
            _choice_element(
                "modality",
                "Type of imaging (needed for King's)",
                [(m.id, m.name) for m in MODALITIES],
                values,
                required=False,
            )
        ),
    ]
    asking = ask_practice or any(key in errors for key in _ASKED_PRACTICE)
    if asking:  # the bot's own form's practice inputs, the phone left out (not needed here)
        inputs += field_inputs(_ASKED_PRACTICE, values)
    shown = [_Input(item.element, errors.get(item.element["id"], "")) for item in inputs]
    ids = {item.element["id"] for item in shown}
    data = _data(form_id, owner, priority)
    if not asking:  # remembered: carried as data, shown on the review card (Edit changes them)
        data |= {key: values[key] for key in _ASKED_PRACTICE if key in values}
    return {
        "title": CHOOSE_TITLE,
        "file": file_facts(held),
        "notes": route_notes(directory),
        "inputs": shown,
        "form_errors": [message for key, message in errors.items() if key not in ids],
        "data": data,
        "verb": VERB_FORWARD_REVIEW,
    }


def forward_review_context(
    request: ForwardedRequest,
    *,
    form_id: str,
    owner: str,
    held: HeldFile,
    directory: Directory,
) -> dict[str, Any]:
    """Context for `forward_review`: the file, the exact mailbox, Reply-To, then Send or Edit."""
    route = request.route(directory)
    facts = [
        *file_facts(held),
        {"title": "Trust", "value": route.trust.name},
        {"title": "Department", "value": route.department_label},
    ]
    if request.priority:
        facts.append({"title": "Priority", "value": request.priority_title})
    facts.append(
        {
            "title": "Practice",
            "value": f"{request.practice.name} ({request.practice.ods_code})",
        }
    )
    data = _data(form_id, owner, request.priority) | forward_values(request)
    return {
        "title": REVIEW_TITLE,
        "mailbox": route.mailbox,
        "reply_to": request.practice.email,
        "facts": facts,
        "send": {"title": "Send", "verb": VERB_FORWARD_SEND, "data": data},
        "edit": {"title": "Edit", "verb": VERB_FORWARD_EDIT, "data": data},
    }


def practice_prefill(practice: Mapping[str, Any] | None) -> dict[str, str]:
    """The remembered practice details the forwarding card needs, when all are there."""
    values = {
        key: value
        for key, value in (practice or {}).items()
        if key in PRACTICE_INPUTS and isinstance(value, str)
    }
    return values if all(values.get(key) for key in _ASKED_PRACTICE) else {}


__all__ = [
    "FORM_ERROR",
    "VERB_FORWARD_EDIT",
    "VERB_FORWARD_REVIEW",
    "VERB_FORWARD_SEND",
    "forward_choose_context",
    "forward_review_context",
    "practice_prefill",
]
