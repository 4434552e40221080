"""Render contexts for the four request cards: choose, form, review, confirmation.

Plain functions from the model, errors and prefill to the dictionaries the
templates in `cards/templates/order_*.json.j2` need; no Bot Framework here, so
every card can be built and checked in a unit test.

Every action's `data` carries `form_id` (one random id per form instance, for
idempotency) and `owner` (the Teams user who opened the form, so the handler
can refuse anyone else's submission), and after the choose step `trust`,
`department` and `modality`. Input ids are the `FIELDS` ids in model.py, so a
submission's merged `data` is exactly what `validate_submission` reads.

Card titles, `fallbackText` and `speak` appear in notifications, so they never
carry patient data.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from bot.directory import Directory
from bot.orders.document import DocumentField
from bot.orders.forwarded import attached_description
from bot.orders.model import (
    CLINICAL_MIN,
    EXAM_MAX,
    FIELD_BY_ID,
    FORM_ERROR,
    HISTORY_MAX,
    LATERALITY_CHOICES,
    LINE_MAX,
    LONDON,
    NAME_MAX,
    NOTE_MAX,
    PREGNANCY_CHOICES,
    PRIORITY_CHOICES,
    QUESTION_MAX,
    SEX_CHOICES,
    TOWN_MAX,
    YES_NO_CHOICES,
    RadiologyRequest,
    Route,
    RouteError,
    cut_to_size,
    fit_to_card,
    form_values,
    resolve_route,
)
from bot.orders.validation import CLIENT_RULES, earliest_birth_date, mask_nhs_number
from bot.store.tables import FILE, FORM
from bot.vocabulary import MODALITIES

FORM_TITLE = "Radiology request form"
REVIEW_TITLE = "Review radiology request"
VERB_CHOOSE = "order.choose"
VERB_REVIEW = "order.review"
VERB_SEND = "order.send"
VERB_EDIT = "order.edit"
VERB_TEXT = "order.text"
REVIEW_REFERENCE = "Allocated when you press Send"
#: Marks the form's own guidance, which is not part of the BCP (sources: docs/clinical-safety.md).
FORM_CHECK = "Form check (not a BCP step): "
LONG_VALUE = 60

Status = Literal["queued", "sent", "failed"]
Choices = tuple[tuple[str, str], ...]


def new_form_id() -> str:
    """A fresh, unguessable id for one form instance, minted when the choose step starts."""
    return secrets.token_urlsafe(16)


def _base_data(form_id: str, owner: str, route: Route | None = None) -> dict[str, str]:
    data = {"form_id": form_id, "owner": owner}
    if route is not None:
        data |= {
            "trust": route.trust.id,
            "department": route.department.id,
            "modality": route.modality.id,
        }
    return data


def _clean(value: object) -> str:
    """Prefill text safe to put in a card: a lone surrogate would make the JSON unencodable."""
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _and(names: Iterable[str]) -> str:
    """ "X-ray, Ultrasound and Fluoroscopy": lists read as a sentence."""
    items = list(names)
    return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]])) if items else ""


def _choices(pairs: Choices) -> list[dict[str, str]]:
    return [{"title": title, "value": value} for value, title in pairs]


@dataclass(frozen=True, slots=True)
class _Input:
    """An input element and the server error to show under it."""

    element: dict[str, Any]
    error: str


# --- Step 1: trust and modality ---------------------------------------------------------


def route_notes(directory: Directory) -> list[str]:
    """What the BCP gives each trust, under the trust choice of either kind of request."""
    single = [
        f"The BCP gives one radiology mailbox for {trust.bcp_name}."
        for trust in directory.trusts
        if trust.single_mailbox
    ]
    by_modality = [
        f"The BCP lists {_and(d.name for d in trust.departments)} for {trust.bcp_name}."
        for trust in directory.trusts
        if not trust.single_mailbox
    ]
    return single + by_modality


def choose_context(
    *,
    form_id: str,
    owner: str,
    directory: Directory,
    prefill: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Context for `order_choose`: pick the trust and modality, which decide the mailbox.

    Asked first because they decide which questions the form needs (pregnancy,
    contrast) and because a KCH modality without a mailbox must be refused
    before anyone types patient details.
    """
    values = prefill or {}
    errors = errors or {}
    trust_input = _choice_input(
        "trust",
        "Trust",
        [(t.id, f"{t.short_name}: {t.name}") for t in directory.trusts],
        values,
        style="expanded",
    )
    modality_input = _choice_input(
        "modality",
        "Type of imaging",
        [(m.id, m.name) for m in MODALITIES],
        values,
    )
    inputs = [
        _Input(item.element, errors.get(item.element["id"], ""))
        for item in (trust_input, modality_input)
    ]
    return {
        "title": FORM_TITLE,
        "notes": route_notes(directory),
        "inputs": inputs,
        "form_errors": [msg for key, msg in errors.items() if key not in ("trust", "modality")],
        "data": _base_data(form_id, owner),
        "verb": VERB_CHOOSE,
    }


# --- Step 2: the form -------------------------------------------------------------------


def form_context(
    *,
    form_id: str,
    owner: str,
    route: Route,
    today: date,
    prefill: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Context for `order_form`: the minimum data set, prefilled, with errors under their fields.

    `prefill` is either the user's remembered practice/referrer details or the
    values of a submission being returned with `errors`; the same card serves
    both so nothing the user typed is lost. Pregnancy questions appear only for
    ionising examinations and the allergy question only for contrast studies.
    """
    values = {key: _clean(value) for key, value in (prefill or {}).items() if value is not None}
    errors = dict(errors or {})
    sections = [
        _section("Examination", _exam_inputs(values), errors),
        _section("Clinical details", _clinical_inputs(values), errors),
    ]
    safety = _safety_inputs(route, values, today)
    if safety:
        sections.append(_section("Safety", safety, errors, note=_safety_note(route)))
    sections += [
        _section("Patient", _patient_inputs(values, today), errors),
        _section("Access needs", _access_inputs(values), errors),
        _section(
            "Referrer",
            _referrer_inputs(values),
            errors,
            note=FORM_CHECK + "a registered referrer makes the request; their registration "
            "number stands in for a signature.",
        ),
        _section(
            "Practice",
            _practice_inputs(values),
            errors,
            note=FORM_CHECK + "the email's Reply-To and copy go to this mailbox, so use one "
            "that is read.",
        ),
    ]
    shown = {item.element["id"] for section in sections for item in section["inputs"]}
    return {
        "title": FORM_TITLE,
        "route": _route_facts(route),
        "mailbox": route.mailbox,
        "sections": sections,
        "error_count": sum(1 for key in errors if key in shown),
        "form_errors": [message for key, message in errors.items() if key not in shown],
        "data": _base_data(form_id, owner, route),
        "verb": VERB_REVIEW,
    }


def _route_facts(route: Route) -> list[dict[str, str]]:
    return [
        {"title": "Trust", "value": route.trust.name},
        {"title": "Department", "value": route.department_label},
    ]


def _section(
    title: str, inputs: list[_Input], errors: Mapping[str, str], note: str = ""
) -> dict[str, Any]:
    return {
        "title": title,
        "note": note,
        "inputs": [_Input(item.element, errors.get(item.element["id"], "")) for item in inputs],
    }


def _text_input(
    input_id: str,
    values: Mapping[str, str],
    *,
    max_length: int,
    required: bool = True,
    label: str | None = None,
    rule: str | None = None,
    placeholder: str = "",
    multiline: bool = False,
    style: str | None = None,
    min_length: int | None = None,
) -> _Input:
    label = label or FIELD_BY_ID[input_id].label
    element: dict[str, Any] = {
        "type": "Input.Text",
        "id": input_id,
        "label": label,
        "maxLength": max_length,
        "isRequired": required,
        "errorMessage": f"{label} is required" if required else f"Check {label}",
    }
    if rule:
        element["regex"] = CLIENT_RULES[rule].regex
        element["errorMessage"] = CLIENT_RULES[rule].error_message
    if min_length:
        element["regex"] = rf"^\s*\S[\s\S]{{{min_length - 2},}}\S\s*$"
        element["errorMessage"] = (
            f"{label}: write at least {min_length} characters, enough to justify the examination"
        )
    if placeholder:
        element["placeholder"] = placeholder
    if multiline:
        element["isMultiline"] = True
    if style:
        element["style"] = style
    if input_id in values:
        # Cut to what a card can carry: what the user typed comes back even when it was
        # too long, and the form around it must still fit in Teams' 28 KB.
        element["value"] = fit_to_card(values[input_id], max_length)
    return _Input(element, "")


def _choice_input(
    input_id: str,
    label: str,
    pairs: Choices | list[tuple[str, str]],
    values: Mapping[str, Any],
    *,
    required: bool = True,
    style: str = "compact",
) -> _Input:
    element: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": style,
        "isRequired": required,
        "errorMessage": f"Choose one option for {label}",
        "choices": _choices(tuple(pairs)),
    }
    if style == "compact":
        element["placeholder"] = "Choose"
    else:  # radio buttons: a trust's full name must not be cut on a phone
        element["wrap"] = True
    value = values.get(input_id)
    if isinstance(value, str) and value in {choice for choice, _ in pairs}:
        element["value"] = value
    return _Input(element, "")


def _date_input(
    input_id: str,
    values: Mapping[str, str],
    *,
    minimum: date,
    maximum: date,
    required: bool = True,
    label: str | None = None,
) -> _Input:
    label = label or FIELD_BY_ID[input_id].label
    element: dict[str, Any] = {
        "type": "Input.Date",
        "id": input_id,
        "label": label,
        "isRequired": required,
        "errorMessage": f"{label}: choose a date from {minimum:%d/%m/%Y} to {maximum:%d/%m/%Y}",
        "min": minimum.isoformat(),
        "max": maximum.isoformat(),
    }
    if input_id in values:
        element["value"] = values[input_id]
    return _Input(element, "")


def _exam_inputs(values: Mapping[str, str]) -> list[_Input]:
    return [
        _text_input(
            "examination",
            values,
            max_length=EXAM_MAX,
            placeholder="For example: X-ray left knee, ultrasound abdomen",
        ),
        _choice_input(
            "laterality", "Laterality (for paired body parts)", LATERALITY_CHOICES, values
        ),
        _choice_input("priority", "Priority", PRIORITY_CHOICES, values, style="expanded"),
    ]


def _clinical_inputs(values: Mapping[str, str]) -> list[_Input]:
    return [
        _text_input(
            "clinical_history",
            values,
            max_length=HISTORY_MAX,
            multiline=True,
            min_length=CLINICAL_MIN,
            placeholder="Symptoms, duration, relevant findings and history",
        ),
        _text_input(
            "clinical_question",
            values,
            max_length=QUESTION_MAX,
            multiline=True,
            min_length=CLINICAL_MIN,
            placeholder="What should the examination answer?",
        ),
    ]


def _safety_note(route: Route) -> str:
    notes = []
    if route.ionising:
        notes.append(
            "pregnancy status and LMP are asked when the area is between the diaphragm and "
            "the knees and the patient is not male and aged 12 to 55."
        )
    if route.contrast:
        notes.append(f"{route.modality.name} may use contrast: record any allergies.")
    return FORM_CHECK + " ".join(notes) if notes else ""


def _safety_inputs(route: Route, values: Mapping[str, str], today: date) -> list[_Input]:
    inputs: list[_Input] = []
    if route.ionising:
        inputs += [
            _choice_input(
                "region",
                "Does the examination include the area between the diaphragm and the knees?",
                YES_NO_CHOICES,
                values,
                style="expanded",
            ),
            _choice_input(
                "pregnancy_status", "Pregnancy status", PREGNANCY_CHOICES, values, required=False
            ),
            _date_input(
                "lmp_date",
                values,
                minimum=earliest_birth_date(today),
                maximum=today,
                required=False,
                label="First day of last menstrual period (LMP)",
            ),
        ]
    if route.contrast:
        inputs.append(
            _text_input(
                "contrast_allergies",
                values,
                max_length=NOTE_MAX,
                multiline=True,
                placeholder='For example: None known, or "iodinated contrast: urticaria"',
            )
        )
    return inputs


def _patient_inputs(values: Mapping[str, str], today: date) -> list[_Input]:
    return [
        _text_input("patient_surname", values, max_length=NAME_MAX),
        _text_input("patient_forenames", values, max_length=NAME_MAX),
        _date_input(
            "patient_dob",
            values,
            minimum=earliest_birth_date(today) + timedelta(days=1),
            maximum=today,
        ),
        _text_input(
            "nhs_number", values, max_length=20, rule="nhs_number", placeholder="10 digits"
        ),
        _choice_input("patient_sex", "Sex", SEX_CHOICES, values),
        _text_input("address_line1", values, max_length=LINE_MAX),
        _text_input(
            "address_line2",
            values,
            max_length=LINE_MAX,
            required=False,
            label="Address line 2 (optional)",
        ),
        _text_input("address_town", values, max_length=TOWN_MAX),
        _text_input("postcode", values, max_length=10, rule="postcode"),
        _text_input("patient_phone", values, max_length=25, rule="phone", style="tel"),
    ]


def _access_inputs(values: Mapping[str, str]) -> list[_Input]:
    toggle: dict[str, Any] = {
        "type": "Input.Toggle",
        "id": "interpreter_needed",
        "title": "An interpreter is needed",
        "valueOn": "yes",
        "valueOff": "no",
        "value": "yes" if values.get("interpreter_needed") == "yes" else "no",
        "wrap": True,
    }
    return [
        _Input(toggle, ""),
        _text_input(
            "interpreter_language",
            values,
            max_length=60,
            required=False,
            label="Interpreter language (if needed)",
        ),
        _text_input(
            "mobility_needs",
            values,
            max_length=NOTE_MAX,
            required=False,
            multiline=True,
            label="Mobility / transport needs (optional)",
        ),
        _text_input(
            "reasonable_adjustments",
            values,
            max_length=NOTE_MAX,
            required=False,
            multiline=True,
            label="Reasonable adjustments (optional)",
        ),
    ]


def _referrer_inputs(values: Mapping[str, str]) -> list[_Input]:
    return [
        _text_input("referrer_name", values, max_length=NAME_MAX),
        _text_input(
            "referrer_role",
            values,
            max_length=60,
            placeholder="For example: GP, nurse practitioner, physiotherapist",
        ),
        _text_input(
            "referrer_registration",
            values,
            max_length=12,
            rule="registration",
            label="GMC, NMC or HCPC registration number",
        ),
    ]


def _practice_inputs(values: Mapping[str, str]) -> list[_Input]:
    return [
        _text_input("practice_name", values, max_length=120),
        _text_input(
            "practice_ods", values, max_length=8, rule="ods_code", placeholder="For example: G85001"
        ),
        _text_input(
            "practice_email",
            values,
            max_length=LINE_MAX,
            rule="nhs_mail",
            style="email",
            label="Practice nhs.net reply mailbox (monitored)",
        ),
        _text_input("practice_phone", values, max_length=25, rule="phone", style="tel"),
    ]


# --- Step 3: review ---------------------------------------------------------------------


def review_context(
    request: RadiologyRequest,
    *,
    form_id: str,
    owner: str,
    directory: Directory,
    now: datetime,
    shortened: bool = False,
) -> dict[str, Any]:
    """Context for `order_review`: the request as radiology will read it, and where it goes.

    Laid out from the same RequestDocument as the email, so what the user checks
    is what is sent. Send and Edit both carry the request's values, keeping the
    bot stateless until Send, where `validate_submission` checks them again.

    `shortened` is for a request whose full review would not fit in a Teams
    card (long text in other alphabets, emoji, many short lines): each value
    is shown cut short, with a note saying so. Send and Edit still carry every
    value in full, and the email and PDF hold all of it.
    """
    route = request.route(directory)
    document = request.as_document(REVIEW_REFERENCE, now, directory)
    data = _base_data(form_id, owner, route) | form_values(request)
    return {
        "title": REVIEW_TITLE,
        "mailbox": document.mailbox,
        "reply_to": document.practice_email,
        "shortened": SHORTENED_NOTE if shortened else "",
        "sections": [
            {"title": section.title, "blocks": _blocks(section.fields, shortened=shortened)}
            for section in document.sections
        ],
        "send": {"title": "Send", "verb": VERB_SEND, "data": data},
        "edit": {"title": "Edit", "verb": VERB_EDIT, "data": data},
    }


SHORTENED_NOTE = (
    "This request is too long to show in full on a Teams card, so long text is cut short "
    "here (…). The email and its PDF carry every field in full; press Edit to see or "
    "change any of it."
)
#: In a shortened review, each value shows at most this many lines and escaped bytes.
SHORT_LINES = 2
SHORT_SIZE = 60


def _short(value: str) -> str:
    lines = [line for line in value.splitlines() if line.strip()]
    cut = cut_to_size("\n".join(lines[:SHORT_LINES]), SHORT_SIZE)
    return value if cut == value else cut.rstrip() + " …"


def _blocks(fields: Iterable[DocumentField], *, shortened: bool = False) -> list[dict[str, Any]]:
    """Fields in document order: runs of short values as a FactSet, long text on its own.

    Keeping the order means the review reads exactly like the email.
    """
    blocks: list[dict[str, Any]] = []
    for field in fields:
        value = _short(field.value) if shortened else field.value
        fact = {"title": field.label, "value": value}
        if _is_long(value):
            blocks.append({"kind": "text", "title": field.label, "lines": _lines(value)})
        elif blocks and blocks[-1]["kind"] == "facts":
            blocks[-1]["facts"].append(fact)
        else:
            blocks.append({"kind": "facts", "facts": [fact]})
    return blocks


def _lines(value: str) -> list[str]:
    """One TextBlock per line: markdown would otherwise fold the user's line breaks away."""
    return [line for line in value.splitlines() if line.strip()] or [""]


def _is_long(value: str) -> bool:
    """Long or multi-line text reads badly squeezed into a FactSet column."""
    return len(value) > LONG_VALUE or "\n" in value


# --- Step 4: confirmation ---------------------------------------------------------------

#: The status bar: dark text on a coloured container style, readable in Teams light and dark.
_STATUS_BAR: Mapping[str, tuple[str, str]] = {
    "queued": ("Queued: sending now", "accent"),
    "sent": ("✓ Sent", "good"),
    "failed": ("Not sent: delivery failed", "attention"),
}
#: How the card names the mailbox: only a sent request was emailed to it.
_MAILBOX_LABEL: Mapping[str, str] = {
    "queued": "Sending to",
    "sent": "Emailed to",
    "failed": "Not delivered to",
}
#: What the failed card's "Email it now" opens: the mailbox, and the reference in the subject.
#: Nothing else: a link is handed to the browser, so no patient detail goes in it.
EMAIL_IT_NOW = "Email it now"


def confirmation_context(
    *,
    reference: str,
    trust: str,
    department: str,
    status: Status,
    directory: Directory,
    modality: str | None = None,
    nhs_number: str | None = None,
    sent_at: datetime | None = None,
    mailbox: str | None = None,
    attached: str | None = None,
) -> dict[str, Any]:
    """Context for `order_confirmation`: a status bar, the reference once, two lines.

    Takes only what survives the retention purge plus the NHS number, which it
    masks itself so no caller can show it in full. Used for the first
    "queued" card and for the proactive update to "sent" or "failed". The
    failed card is never a dead end: the mailbox large, "Email it now" and
    "Show request text" (the by-hand text again, `VERB_TEXT`).
    `mailbox` is the one the request was stored with (the directory's route
    otherwise); trust and department are named from the directory.
    `attached` describes a forwarded form ("completed form attached (PDF, 240 KB)"),
    never by its file name.
    """
    trust_name, department_label, routed_mailbox = _route_names(
        directory, trust, department, modality
    )
    mailbox = mailbox or routed_mailbox
    status_text, style = _STATUS_BAR[status]
    if status == "sent" and sent_at is not None:
        local = sent_at.astimezone(LONDON) if sent_at.tzinfo else sent_at
        status_text = f"✓ Sent at {local:%H:%M} on {local:%d/%m/%Y}"
    about = f"{trust_name} {department_label}"
    if nhs_number:
        about += f" · NHS number {mask_nhs_number(nhs_number)}"
    if attached:
        about += f" · {attached}"
    return {
        "title": f"Request {reference} {status}",
        "reference": reference,
        "status": status,
        "status_text": status_text,
        "status_style": style,
        "about": about,
        "mailbox_label": _MAILBOX_LABEL[status],
        "mailbox": mailbox,
        "email_subject": f"Radiology request {reference}",
        "email_title": EMAIL_IT_NOW,
        "text_verb": VERB_TEXT,
        "notice": "",
        "new_request": None,
    }


def _route_names(
    directory: Directory, trust_id: str, department_id: str, modality_id: str | None
) -> tuple[str, str, str]:
    """Trust short name, department label and mailbox; the stored ids if the route is gone.

    A purged request has no modality any more, and the directory may have
    changed since it was sent: the card must still be shown.
    """
    try:
        route = resolve_route(directory, trust_id, modality_id or department_id, department_id)
    except RouteError:
        found = directory.trust(trust_id)
        department = found.department(department_id) if found else None
        return (
            found.short_name if found else trust_id,
            department.name if department else department_id,
            str(department.mailbox) if department else "",
        )
    return route.trust.short_name, route.department_label, route.mailbox


def stored_confirmation(
    *,
    reference: str,
    status: str,
    trust: str,
    department: str,
    mailbox: str,
    payload: Mapping[str, Any] | None,
    directory: Directory,
    sent_at: datetime | None = None,
    kind: str = FORM,
) -> dict[str, Any]:
    """`confirmation_context` for a request as the outbox holds it, never as a card submitted it.

    `status` is the stored one: "sending" is shown as queued, because nothing
    is shown as sent before the mail server accepted it. `kind` is the stored
    request's (`bot.store.tables.Kind`): a forwarded form is described by its
    type and size, never its file name.
    """
    held = payload if isinstance(payload, Mapping) else {}
    patient = held.get("patient")
    nhs_number = patient.get("nhs_number") if isinstance(patient, Mapping) else None
    modality = held.get("modality")
    shown: Status = "sent" if status == "sent" else "failed" if status == "failed" else "queued"
    return confirmation_context(
        reference=reference,
        trust=trust,
        department=department,
        modality=modality if isinstance(modality, str) else None,
        status=shown,
        directory=directory,
        nhs_number=nhs_number if isinstance(nhs_number, str) else None,
        sent_at=sent_at,
        mailbox=mailbox,
        attached=attached_description(payload) if kind == FILE else None,
    )


ALREADY_SENT = (
    "This form was already used for the request above, so nothing new was queued. "
    "This card shows that request as it was submitted, not the details on the form "
    "now. To request imaging with other details, start a new request."
)
ALREADY_SENT_FILE = (
    "This completed form was already sent as the request above, so nothing new was queued. "
    "To send another completed form, attach it in this chat; to fill in a request here, "
    "start a new request."
)
DETAILS_PURGED = (
    "Its patient details are no longer held here: they are deleted {days} days after a "
    "request is sent or fails. The reference and the outcome above are kept."
)


def closed_form_context(
    context: Mapping[str, Any],
    *,
    trust: str,
    modality: str | None,
    purged_after: int | None,
    kind: str = FORM,
) -> dict[str, Any]:
    """A stored request's confirmation, answered to Review, Edit or Send on the form that made it.

    A form sends once, the bot's own or one the user attached (`kind`). The
    only way on is a new request (with the same trust and imaging type chosen
    already); `purged_after` (the retention days) says plainly that the
    details are gone when they are.
    """
    notice = ALREADY_SENT_FILE if kind == FILE else ALREADY_SENT
    if purged_after is not None:
        notice = f"{notice} {DETAILS_PURGED.format(days=purged_after)}"
    start = {"trust": trust, "department": modality} if modality else {"trust": trust}
    return {**context, "notice": notice, "new_request": start}


def confirmation_for(
    request: RadiologyRequest,
    *,
    reference: str,
    status: Status,
    directory: Directory,
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """`confirmation_context` for a request still held in full."""
    return confirmation_context(
        reference=reference,
        trust=request.trust,
        department=request.department,
        modality=request.modality,
        status=status,
        directory=directory,
        nhs_number=request.patient.nhs_number,
        sent_at=sent_at,
    )


def prefill_from_profile(
    practice: Mapping[str, Any] | None, referrer: Mapping[str, Any] | None
) -> dict[str, str]:
    """Form prefill from a stored profile, keeping only known input ids with text values."""
    merged = {**(practice or {}), **(referrer or {})}
    return {
        key: value for key, value in merged.items() if key in FIELD_BY_ID and isinstance(value, str)
    }


__all__ = [
    "FORM_ERROR",
    "FORM_TITLE",
    "REVIEW_TITLE",
    "VERB_CHOOSE",
    "VERB_EDIT",
    "VERB_REVIEW",
    "VERB_SEND",
    "VERB_TEXT",
    "choose_context",
    "closed_form_context",
    "confirmation_context",
    "confirmation_for",
    "form_context",
    "new_form_id",
    "prefill_from_profile",
    "review_context",
    "route_notes",
    "stored_confirmation",
]
