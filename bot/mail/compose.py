"""Turn a `RequestDocument` into the one email radiology receives.

Headers carry only routing facts (trust, department, priority, reference,
mailboxes); patient data lives in the body and the PDF. Every header value is
checked for CR/LF so user-influenced text can never add a header or a recipient.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.orders.document import RequestDocument

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_PREFIX = "ICE downtime radiology request"

_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


class HeaderInjectionError(ValueError):
    """A value meant for a header could add a header or a recipient; nothing is sent."""


def compose_email(
    doc: RequestDocument,
    *,
    sender: str,
    render_attachment: Callable[[RequestDocument], bytes] | None = None,
) -> EmailMessage:
    """The complete message: routing headers, text + HTML body, `<reference>.pdf`.

    `render_attachment` exists so tests that are not about the PDF can skip its
    ~0.3 s of font work; the app keeps the default. The PDF module (fpdf2,
    fontTools, Pillow) is imported only when the first PDF is made: it is a
    third of the bot's start-up time and a good part of its memory.
    """
    if render_attachment is None:
        from bot.mail.pdf import render_pdf

        render_attachment = render_pdf
    message = _addressed(doc, sender)
    context = _template_context(doc)
    message.set_content(render_text(doc, context))
    message.add_alternative(
        _templates().get_template("request.html.j2").render(context), subtype="html"
    )
    message.add_attachment(
        render_attachment(doc),
        maintype="application",
        subtype="pdf",
        filename=f"{safe_reference(doc.reference)}.pdf",
    )
    return message


def compose_forwarded(
    doc: RequestDocument,
    *,
    sender: str,
    attachment: bytes,
    media_type: str,
    extension: str,
    kind_label: str,
) -> EmailMessage:
    """The email for a form the user completed and attached: a covering note and the file.

    The file is attached byte for byte, named `<reference>.<extension>` (the
    extension of the type its content was found to be): the user's own file
    name, which often holds a patient's name, appears nowhere in the email.
    """
    message = _addressed(doc, sender)
    context = {
        **_template_context(doc),
        "attachment_name": attachment_name(doc.reference, extension),
        "attachment_kind": kind_label,
    }
    message.set_content(_templates().get_template("forwarded.txt.j2").render(context))
    maintype, _, subtype = media_type.partition("/")
    message.add_attachment(
        attachment,
        maintype=maintype,
        subtype=subtype,
        filename=attachment_name(doc.reference, extension),
    )
    return message


def attachment_name(reference: str, extension: str) -> str:
    """`DT-20261129-0007.pdf`: a generic name that says nothing about the patient."""
    if not extension.isalnum():
        raise HeaderInjectionError("attachment extension has unexpected characters")
    return f"{safe_reference(reference)}.{extension}"


def _addressed(doc: RequestDocument, sender: str) -> EmailMessage:
    """A message with every header: routing facts only, each checked for CR/LF.

    To the matched mailbox; Reply-To and Cc the practice, so a rejection
    reaches it (which recipients the transport delivers to first is the
    transport's business).
    """
    sender = safe_address(sender, "sender")
    mailbox = safe_address(doc.mailbox, "mailbox")
    practice = safe_address(doc.practice_email, "practice email")
    reference = safe_reference(doc.reference)

    message = EmailMessage()
    message["From"] = sender
    message["To"] = mailbox
    message["Cc"] = practice
    message["Reply-To"] = practice
    # Stored already folded: the email package folds a 70-77 character value onto
    # a continuation line, leaving "Subject:" empty, and readers then see the
    # subject with a leading space. Every later serialisation keeps these lines.
    message.set_raw("Subject", fold_header("Subject", subject_for(doc)))
    message["Date"] = format_datetime(_aware(doc.created_at))
    message["Message-ID"] = message_id_for(reference, sender)
    message["X-ICE-Downtime-Reference"] = reference
    return message


def render_text(doc: RequestDocument, context: dict[str, Any] | None = None) -> str:
    """The plain-text body: also what a user is given to email by hand after a failure."""
    template = _templates().get_template("request.txt.j2")
    return template.render(context if context is not None else _template_context(doc))


def subject_for(doc: RequestDocument) -> str:
    """Trust, department, priority (when known), reference: enough to route, no patient data."""
    parts = (
        f"{safe_text(doc.trust_short)} {safe_text(doc.department)}",
        safe_text(doc.priority),
        safe_reference(doc.reference),
    )
    return " | ".join((SUBJECT_PREFIX, *(part for part in parts if part)))


def fold_header(name: str, value: str, width: int = 78) -> str:
    """`value` folded at spaces so that no line of `name: value` passes `width` (RFC 5322's 78).

    The first line always carries text. A word longer than a line stays whole
    (RFC 5322 allows lines up to 998 characters); unfolding gives `value` back.
    """
    lines = [""]
    room = width - len(name) - 2
    for word in value.split(" "):
        if lines[-1] and len(lines[-1]) + 1 + len(word) > room:
            lines.append(" " + word)
            room = width
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return "\n".join(lines)


def message_id_for(reference: str, sender: str) -> str:
    """Derived from the reference alone, so a resend is the same message to every mail system."""
    domain = safe_address(sender, "sender").rpartition("@")[2]
    return f"<{safe_reference(reference)}.ice-downtime@{domain}>"


def safe_text(value: str) -> str:
    """Header text with every control character (CR/LF included) folded to a space.

    Subject parts come from the directory and fixed choices, so a control
    character there is a bug or an attack; folding keeps the subject readable
    while making an injected header impossible.
    """
    return " ".join(_CONTROL.sub(" ", value).split())


def safe_address(value: str, what: str) -> str:
    """One plain addr-spec; anything else (CR/LF, commas, display names) is refused.

    Addresses decide who receives patient data, so they are rejected rather
    than repaired: a mangled address must fail visibly, not be guessed.
    """
    candidate = value.strip()
    if _CONTROL.search(value) or not _ADDRESS.fullmatch(candidate):
        raise HeaderInjectionError(f"{what} is not a single plain email address")
    return candidate


def safe_reference(reference: str) -> str:
    if not _REFERENCE.fullmatch(reference):
        raise HeaderInjectionError("request reference has unexpected characters")
    return reference


@cache
def _templates() -> Environment:
    """Built once per process: compiling templates per email would be wasted work.

    HTML is autoescaped so markup typed into a free-text field shows as text;
    the plain-text template is not escaped (there is nothing to escape into).
    """
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _template_context(doc: RequestDocument) -> dict[str, object]:
    return {"doc": doc, "created_local": _local_time(doc.created_at)}


def _local_time(moment: datetime) -> str:
    """Radiology admin work in UK time; show it with its zone so nobody has to guess."""
    try:
        zone: tzinfo = ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:  # a slim image without tzdata: say UTC rather than lie
        zone = UTC
    return _aware(moment).astimezone(zone).strftime("%d/%m/%Y %H:%M %Z")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
