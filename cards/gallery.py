"""Every card the bot can send, in every state that changes how it looks: declared once.

Two things read this list, so a new card or state is pictured and checked by
adding it here once:

- `make cards` renders each sample with Microsoft's renderer in headless
  Chromium, in Teams light and dark at 500 and 360 px, into `docs/cards/`
  (`tools/cards/gallery.py`);
- `tests/test_card_rules.py` checks each one against the design rules
  (contrast, buttons per row, label widths, one name per action), and
  `tests/test_cards.py` validates each against the schema and the 28 KB limit.

Contexts are built the way the handlers build them: the order cards from the
context builders in `bot/orders/form.py`, the help card from the real router's
command list, the lookup cards from the message extension's own catalogue.
The patient is the test patient of `bot/devchat/samples.py`, never a real one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, partial
from typing import Any

from bot.devchat.samples import SAMPLE_REQUEST
from bot.directory import Directory, load_directory
from bot.handlers.orders import SAVE_FAILED, TOO_LARGE
from bot.orders.errors import FORM_ERROR, FormErrors, validate_choice, validate_submission
from bot.orders.form import (
    Status,
    choose_context,
    closed_form_context,
    confirmation_for,
    prefill_from_profile,
    review_context,
    start_context,
    step_context,
    stored_confirmation,
)
from bot.orders.forward_form import (
    forward_choose_context,
    forward_review_context,
    practice_prefill,
)
from bot.orders.forwarded import AttachedFile, ForwardedRequest, validate_forward
from bot.orders.model import RadiologyRequest, remembered_details
from bot.orders.routing import resolve_route
from bot.store.files import HeldFile
from bot.vocabulary import BOROUGHS, SITE_BY_ID

Context = Mapping[str, Any]

#: A fixed moment, so the pictures do not change from one run to the next.
TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 10, 32, tzinfo=UTC)
FORM_ID = "gallery-form"
OWNER = "29:gallery-user"
REFERENCE = "DT-20261129-0007"
#: Every state of a confirmation card.
STATUSES: tuple[Status, ...] = ("queued", "sent", "failed")


@dataclass(frozen=True, slots=True)
class Sample:
    """One card in one state: its template and the context a handler renders it with."""

    name: str
    template: str
    about: str
    context: Callable[[], Context]


def _fixed(context: Context) -> Callable[[], Context]:
    """A sample whose context is already known: nothing to put off until it is drawn."""
    return lambda: context


@cache
def directory() -> Directory:
    return load_directory()


def _commands() -> list[Any]:
    """The help card's list, exactly as the bot's router declares it."""
    from bot.handlers import build_router  # the whole bot: only when a help sample is drawn

    return list(build_router().commands())


def _request(**changes: str) -> RadiologyRequest:
    checked = validate_submission({**SAMPLE_REQUEST, **changes}, directory=directory(), today=TODAY)
    assert isinstance(checked, RadiologyRequest), dict(checked)
    return checked


def _remembered() -> dict[str, str]:
    """What a returning user's form is prefilled with: their practice and themselves."""
    practice, referrer = remembered_details(_request())
    return prefill_from_profile(practice, referrer)


def _step(step: str, trust: str, modality: str, **extra: Any) -> Context:
    """One step of the form as the dialog (and the chat) shows it."""
    route = resolve_route(directory(), trust, modality)
    return step_context(step, form_id=FORM_ID, owner=OWNER, route=route, today=TODAY, **extra)


def _step_with_errors(**extra: Any) -> Context:
    """Step 2 sent back: the summary names each field, each error under its field."""
    typed = {**SAMPLE_REQUEST, "nhs_number": "999 000 0019", "postcode": "SE1"}
    errors = validate_submission(typed, directory=directory(), today=TODAY)
    assert isinstance(errors, FormErrors)
    return _step("patient", "kch", "ultrasound", values=typed, errors=errors, **extra)


def _which_side() -> Context:
    """Step 1 sent back: the examination names a paired part without its side."""
    typed = {**SAMPLE_REQUEST, "examination": "Ultrasound knee", "laterality": ""}
    errors = validate_submission(typed, directory=directory(), today=TODAY)
    assert isinstance(errors, FormErrors) and list(errors) == ["laterality"], errors
    return _step("exam", "kch", "ultrasound", values=typed, errors=errors)


def _review(**extra: Any) -> Context:
    return review_context(
        _request(), form_id=FORM_ID, owner=OWNER, directory=directory(), now=NOW, **extra
    )


def _confirmation(status: Status) -> Context:
    return confirmation_for(
        _request(),
        reference=REFERENCE,
        status=status,
        directory=directory(),
        sent_at=NOW if status == "sent" else None,
    )


#: A completed trust form as a user attached it: its name is the user's own (a test
#: patient's), shown back only to them on the two forwarding cards.
HELD = HeldFile(
    form_id=FORM_ID,
    user_id=OWNER,
    name="General imaging - Testpatient 9990000018.pdf",
    media_type="application/pdf",
    extension="pdf",
    size=245_760,
    sha256="0" * 64,
    reference=None,
    purged=False,
)


def _forwarded(**choice: str) -> ForwardedRequest | FormErrors:
    file = AttachedFile(
        media_type=HELD.media_type, extension="pdf", size=HELD.size, sha256=HELD.sha256
    )
    data = {"trust": "kch", "modality": "ultrasound", **_remembered(), **choice}
    return validate_forward(data, directory=directory(), file=file, priority="urgent")


def _forward_choose(*, remembered: bool, **choice: str) -> Context:
    checked = _forwarded(**choice) if choice else None
    errors = checked if isinstance(checked, FormErrors) else None
    practice = practice_prefill(_remembered()) if remembered else {}
    return forward_choose_context(
        form_id=FORM_ID,
        owner=OWNER,
        held=HELD,
        directory=directory(),
        prefill={**practice, **choice},
        priority="urgent",
        ask_practice=not remembered,
        errors=errors,
    )


def _forward_review() -> Context:
    checked = _forwarded()
    assert isinstance(checked, ForwardedRequest), dict(checked)
    return forward_review_context(
        checked, form_id=FORM_ID, owner=OWNER, held=HELD, directory=directory()
    )


def _forwarded_confirmation(status: str) -> Context:
    """As the outbox holds a forwarded request (kind "file"), never as a card submitted it."""
    checked = _forwarded()
    assert isinstance(checked, ForwardedRequest), dict(checked)
    route = checked.route(directory())
    return stored_confirmation(
        reference=REFERENCE,
        status=status,
        trust=checked.trust,
        department=checked.department,
        mailbox=route.mailbox,
        payload=checked.model_dump(mode="json"),
        directory=directory(),
        sent_at=NOW if status == "sent" else None,
        kind="file",
    )


def _lookups() -> list[Sample]:
    from bot.handlers.search import catalogue

    entries = catalogue(directory())
    return [
        Sample(
            f"lookup-{index + 1}",
            "lookup",
            f"Message extension result: {entry.title}",
            _fixed(entry.card),
        )
        for index, entry in enumerate(entries)
    ]


def samples() -> list[Sample]:
    """Every card the bot can send, each in every state that looks different."""
    d = directory()
    boroughs = list(BOROUGHS)
    kch = d.trust("kch")
    assert kch is not None
    found: list[Sample] = [
        Sample("welcome", "welcome", "Welcome, when the bot is added", lambda: {"directory": d}),
        Sample("triage", "triage", "Which applies to you? (`down`, or ICE unclear)", dict),
        Sample(
            "downtime_steps",
            "downtime_steps",
            "ICE is down: the BCP's steps and every mailbox",
            lambda: {"directory": d},
        ),
        Sample(
            "access_steps-bromley",
            "access_steps",
            "Can't get in, borough known (Bromley)",
            lambda: {
                "directory": d,
                "desk": d.desk_for("Bromley"),
                "borough": "Bromley",
                "boroughs": boroughs,
            },
        ),
        Sample(
            "access_steps-ask",
            "access_steps",
            "Can't get in, borough not known yet",
            lambda: {"directory": d, "desk": None, "borough": None, "boroughs": boroughs},
        ),
        Sample(
            "access_steps-outside",
            "access_steps",
            "Can't get in, a borough outside the BCP (Croydon)",
            lambda: {
                "directory": d,
                "desk": None,
                "borough": None,
                "boroughs": boroughs,
                "outside": "Croydon",
            },
        ),
        Sample("pcn", "pcn", "PCNs and Federations", lambda: {"directory": d}),
        *(
            Sample(
                f"helpdesk-{desk.id}",
                "helpdesk",
                f"Service desk for {', '.join(desk.boroughs)}",
                _fixed({"desk": desk, "borough": desk.boroughs[0]}),
            )
            for desk in d.service_desks
        ),
        Sample(
            "helpdesk_picker",
            "helpdesk_picker",
            "Which borough? (service desk)",
            lambda: {"boroughs": boroughs, "outside": None},
        ),
        Sample(
            "helpdesk_picker-outside",
            "helpdesk_picker",
            "A borough outside the BCP (Croydon)",
            lambda: {"boroughs": boroughs, "outside": "Croydon"},
        ),
        *(
            Sample(
                f"mailbox-{trust.id}-{dept.id}",
                "mailbox",
                f"{trust.short_name} {dept.name} mailbox",
                _fixed({"directory": d, "trust": trust, "department": dept, "site": None}),
            )
            for trust in d.trusts
            for dept in trust.departments
        ),
        Sample(
            "mailbox-kch-xray-pruh",
            "mailbox",
            "A hospital site named (PRUH X-ray)",
            lambda: {
                "directory": d,
                "trust": kch,
                "department": kch.departments[0],
                "site": SITE_BY_ID["pruh"],
            },
        ),
        Sample(
            "mailbox_picker",
            "mailbox_picker",
            "Every downtime mailbox, pick a trust",
            lambda: {"trusts": list(d.trusts), "trust": None, "site": None},
        ),
        Sample(
            "mailbox_picker-kch",
            "mailbox_picker",
            "King's mailboxes, pick a department",
            lambda: {"trusts": list(d.trusts), "trust": kch, "site": None},
        ),
        Sample(
            "mailbox_picker-kch-pruh",
            "mailbox_picker",
            "King's mailboxes for a site (PRUH)",
            lambda: {"trusts": list(d.trusts), "trust": kch, "site": SITE_BY_ID["pruh"]},
        ),
        Sample(
            "mailbox_unsupported",
            "mailbox_unsupported",
            "A KCH modality the BCP does not list (CT)",
            lambda: {"trust": kch, "modality": "CT"},
        ),
        *(
            Sample(
                f"info-{topic}",
                "info",
                f"Answer: {topic.replace('_', ' ')}",
                _fixed({"directory": d, "topic": topic}),
            )
            for topic in ("next", "walk_in", "rejections", "results")
        ),
        Sample(
            "help",
            "help",
            "Help (`help`)",
            lambda: {"commands": _commands(), "not_understood": False},
        ),
        Sample(
            "help-not_understood",
            "help",
            "Anything the bot cannot place",
            lambda: {"commands": _commands(), "not_understood": True},
        ),
        *_lookups(),
        Sample(
            "order_start",
            "order_start",
            "`order kings us`: New request opens the form as a dialog",
            lambda: start_context(d, "kch", "ultrasound"),
        ),
        Sample(
            "order_choose",
            "order_choose",
            "Request: trust and type of imaging (when not named yet)",
            lambda: choose_context(form_id=FORM_ID, owner=OWNER, directory=d),
        ),
        Sample(
            "order_choose-refused",
            "order_choose",
            "Request: KCH CT refused under its field",
            lambda: choose_context(
                form_id=FORM_ID,
                owner=OWNER,
                directory=d,
                prefill={"trust": "kch", "modality": "ct"},
                errors=validate_choice_errors({"trust": "kch", "modality": "ct"}),
            ),
        ),
        Sample(
            "order_step-1-kch-us",
            "order_step",
            "Step 1 of 3: KCH ultrasound (no safety questions)",
            lambda: _step("exam", "kch", "ultrasound"),
        ),
        Sample(
            "order_step-1-gstt-ct",
            "order_step",
            "Step 1 of 3: GSTT CT (ionising, contrast)",
            lambda: _step("exam", "gstt", "ct"),
        ),
        Sample(
            "order_step-1-gstt-mri",
            "order_step",
            "Step 1 of 3: GSTT MRI (the MRI safety questions)",
            lambda: _step("exam", "gstt", "mri"),
        ),
        Sample(
            "order_step-1-which_side",
            "order_step",
            "Step 1 of 3: a paired body part without its side",
            _which_side,
        ),
        Sample(
            "order_step-2",
            "order_step",
            "Step 2 of 3: the patient (access needs folded)",
            lambda: _step("patient", "kch", "ultrasound"),
        ),
        Sample(
            "order_step-2-pregnancy",
            "order_step",
            "Step 2 of 3: an X-ray of the pelvic region (pregnancy questions)",
            lambda: _step("patient", "kch", "xray", values={"region": "yes"}),
        ),
        Sample(
            "order_step-2-errors",
            "order_step",
            "Step 2 of 3: returned with errors, named at the top and under their fields",
            _step_with_errors,
        ),
        Sample(
            "order_step-2-compact",
            "order_step",
            "Step 2 of 3: too much to show in full (errors named only)",
            lambda: _step_with_errors(compact=True),
        ),
        Sample(
            "order_step-3",
            "order_step",
            "Step 3 of 3: referrer and practice, a new user",
            lambda: _step("practice", "kch", "ultrasound"),
        ),
        Sample(
            "order_step-3-remembered",
            "order_step",
            "Step 3 of 3: remembered, one line with Change",
            lambda: _step("practice", "kch", "ultrasound", values=_remembered()),
        ),
        Sample(
            "order_step-too_large",
            "order_step",
            "Step 1 of 3: a request too long for a Teams card",
            lambda: _step("exam", "kch", "ultrasound", errors=FormErrors({FORM_ERROR: TOO_LARGE})),
        ),
        Sample(
            "order_review",
            "order_review",
            "Review, Send or Back",
            _review,
        ),
        Sample(
            "order_review-save_failed",
            "order_review",
            "The request could not be saved: Nothing was sent, Send again at the top",
            lambda: _review(failure=SAVE_FAILED),
        ),
        *(
            Sample(
                f"order_confirmation-{status}",
                "order_confirmation",
                f"Request {status}",
                partial(_confirmation, status),
            )
            for status in STATUSES
        ),
        Sample(
            "order_confirmation-closed",
            "order_confirmation",
            "A used form answered with the request as stored",
            lambda: closed_form_context(
                _confirmation("sent"), trust="kch", modality="ultrasound", purged_after=None
            ),
        ),
        Sample(
            "forward_choose",
            "forward_choose",
            "A completed form attached with 'kings us urgent': where it goes, the practice asked",
            lambda: _forward_choose(remembered=False, trust="kch", modality="ultrasound"),
        ),
        Sample(
            "forward_choose-remembered",
            "forward_choose",
            "A completed form attached with no text, the practice remembered",
            lambda: _forward_choose(remembered=True),
        ),
        Sample(
            "forward_choose-refused",
            "forward_choose",
            "KCH CT refused, and a radiology mailbox given as the practice's",
            lambda: _forward_choose(
                remembered=False,
                **{
                    **practice_prefill(_remembered()),
                    "trust": "kch",
                    "modality": "ct",
                    "practice_email": "kch-tr.us.reception_dh@nhs.net",
                },
            ),
        ),
        Sample(
            "forward_review",
            "forward_review",
            "A completed form routed: the file, the mailbox and Reply-To, Send or Edit",
            _forward_review,
        ),
        *(
            Sample(
                f"order_confirmation-forwarded-{status}",
                "order_confirmation",
                f"A completed form the user attached, {status}",
                partial(_forwarded_confirmation, status),
            )
            for status in ("queued", "failed")
        ),
        Sample(
            "order_confirmation-forwarded-closed",
            "order_confirmation",
            "A sent completed form answered with the request as stored",
            lambda: closed_form_context(
                _forwarded_confirmation("sent"),
                trust="kch",
                modality="ultrasound",
                purged_after=None,
                kind="file",
            ),
        ),
    ]
    from cards.gallery_incidents import incident_samples  # it builds on this module

    return found + incident_samples()


def validate_choice_errors(data: Mapping[str, str]) -> FormErrors:
    route = validate_choice({**data, "form_id": FORM_ID}, directory=directory())
    assert isinstance(route, FormErrors), "the sample choice was expected to be refused"
    return route


def rendered(sample: Sample, renderer: Any | None = None) -> dict[str, Any]:
    """The card as the bot sends it."""
    from cards.render import CardRenderer

    return (renderer or CardRenderer()).render(sample.template, sample.context())


__all__ = ["Sample", "directory", "rendered", "samples"]
