"""Render contexts for the request cards: choose, the three steps, review, confirmation.

Plain functions from the field declarations, the values so far, the errors and
the route to the dictionaries the templates in `cards/templates/order_*.json.j2`
need; no Bot Framework here, so every card can be built and checked in a unit
test. The same cards are shown in a Teams dialog and, for a client that cannot
open one, in the chat (the Teams edge turns their Action.Execute buttons into
the Action.Submit a dialog needs: `bot/teams/dialogs.py`).

The form is three short steps (`fields.STEPS`): examination and clinical
details; the patient; the referrer and practice. Each step's card shows the
inputs of its fields that apply (`rules.shown`), built from their declarations:
label, `maxLength`, `regex` and `errorMessage`, choices, hints. Every action's
`data` carries `form_id` (one random id per form instance, for idempotency),
`owner` (the Teams user who opened the form, so the handler can refuse anyone
else's submission), the route (`trust`, `department`, `modality`) and every
value entered on the other steps: the bot holds nothing until Send.

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
from bot.orders.errors import FORM_ERROR
from bot.orders.fields import (
    FIELD_BY_ID,
    FORM_CHECK,
    STEP_BY_ID,
    STEPS,
    FieldSpec,
    Step,
    cut_to_size,
    fields_of_step,
    step_of,
    summary_line,
)
from bot.orders.forwarded import attached_description
from bot.orders.model import LONDON, RadiologyRequest, form_values
from bot.orders.routing import Route, RouteError, resolve_route
from bot.orders.rules import PREGNANCY_AGES, settle, shown
from bot.orders.validation import earliest_birth_date, mask_nhs_number, registration_body
from bot.store.tables import FILE, FORM
from bot.vocabulary import MODALITIES

FORM_TITLE = "Radiology request form"
REVIEW_TITLE = "Review radiology request"
#: The dialog's title (Teams shows it above the card): no patient data, ever.
DIALOG_TITLE = "Radiology request"
VERB_START = "order.start"
VERB_CHOOSE = "order.choose"
VERB_CHANGE = "order.change"
VERB_STEP = "order.step"
VERB_NEXT = "order.next"
VERB_REVIEW = "order.review"
VERB_SEND = "order.send"
VERB_EDIT = "order.edit"
VERB_TEXT = "order.text"
REVIEW_REFERENCE = "Allocated when you press Send"
LONG_VALUE = 60

Status = Literal["queued", "sent", "failed"]
Choices = tuple[tuple[str, str], ...]


def new_form_id() -> str:
    """A fresh, unguessable id for one form instance, minted when a request starts."""
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


def _entered(values: Mapping[str, Any] | None) -> dict[str, str]:
    """The declared fields' values a card carries on: text only, surrogates replaced, each
    cut to what its field may hold on a card (an error says so when that cut something)."""
    return {
        key: FIELD_BY_ID[key].fit(_clean(value))
        for key, value in (values or {}).items()
        if key in FIELD_BY_ID and isinstance(value, str) and value
    }


@dataclass(frozen=True, slots=True)
class _Input:
    """An input element, the hint under it, and the server error to show under that."""

    element: dict[str, Any]
    error: str = ""
    help: str = ""


# --- New request ------------------------------------------------------------------------


def start_context(
    directory: Directory, trust: str | None = None, modality: str | None = None
) -> dict[str, Any]:
    """Context for `order_start`: what the form does, and "New request", which opens it.

    A trust and modality already named (`order kings us`) ride in the button's
    data, so the form opens at step 1; the same data as the mailbox cards'
    buttons send (`trust`, `department`).
    """
    start = {key: value for key, value in (("trust", trust), ("department", modality)) if value}
    try:
        route = resolve_route(directory, trust, modality)
    except RouteError:
        return {"start": start, "route": ""}
    return {"start": start, "route": "To " + _route_line(route)}


# --- The route: trust and modality -------------------------------------------------------


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

    Asked first because they decide which questions the steps ask (pregnancy,
    contrast, MRI safety) and because a KCH modality without a mailbox must be
    refused before anyone types patient details. Values already entered (the
    user pressed "Change" on step 1) ride along in the data, so none is lost.
    """
    values = prefill or {}
    errors = errors or {}
    trust_input = _choice_element(
        "trust",
        "Trust",
        [(t.id, f"{t.short_name}: {t.name}") for t in directory.trusts],
        values,
        style="expanded",
    )
    modality_input = _choice_element(
        "modality", "Type of imaging", [(m.id, m.name) for m in MODALITIES], values
    )
    carried = {
        k: v for k, v in _entered(values).items() if k not in ("trust", "modality", "department")
    }
    return {
        "title": FORM_TITLE,
        "notes": route_notes(directory),
        "inputs": [
            _Input(element, errors.get(element["id"], ""))
            for element in (trust_input, modality_input)
        ],
        "form_errors": [msg for key, msg in errors.items() if key not in ("trust", "modality")],
        "data": _base_data(form_id, owner) | carried,
        "verb": VERB_CHOOSE,
    }


# --- The three steps ---------------------------------------------------------------------


def step_context(
    step: str,
    *,
    form_id: str,
    owner: str,
    route: Route,
    today: date,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str = "",
    change: bool = False,
    compact: bool = False,
) -> dict[str, Any]:
    """Context for `order_step`: one step's inputs, prefilled, errors under their fields.

    `values` are everything entered so far (or remembered: the practice and
    referrer from the user's profile); the inputs of this step show theirs and
    the rest ride along in the actions' data. Step 3 shows remembered, valid
    referrer and practice details as one line with "Change" (`change` opens
    the inputs). The error summary at the top names every field in error,
    with the step of any not on this card.

    `compact` is for a step whose full card would not fit in Teams' 28 KB (every
    field at its longest, most of them in error): the summary names the fields
    only, and Back and Change, which carry every value again, are left off.
    """
    current = STEP_BY_ID[step]
    values = settle(_entered(values), route)
    errors = dict(errors or {})
    specs = [spec for spec in fields_of_step(step) if shown(spec, route, values)]
    summary = _remembered_summary(current, specs, values, errors) if not change else ""
    inputs = [] if summary else [_input(spec, route, values, errors, today) for spec in specs]
    on_card = {item.element["id"] for item in inputs}
    carried = {key: value for key, value in values.items() if key not in on_card}
    data = _base_data(form_id, owner, route) | carried
    back = _previous(current)
    return {
        "title": FORM_TITLE,
        "step": current.number,
        "steps": len(STEPS),
        "step_title": current.title,
        "route": _route_line(route) if current.number == 1 else "",
        "mailbox": route.mailbox,
        "notice": notice,
        "summary": summary,
        "errors": [
            FIELD_BY_ID[key].label if compact else _summary_line(key, message, current)
            for key, message in errors.items()
            if key in FIELD_BY_ID
        ],
        "compact": compact,
        "form_errors": [message for key, message in errors.items() if key not in FIELD_BY_ID],
        "groups": _groups(inputs, route),
        "next": {
            "title": "Review request" if current.number == len(STEPS) else "Next",
            "verb": VERB_NEXT,
            "data": data | {"step": current.id},
        },
        "back": (
            {"title": "Back", "verb": VERB_STEP, "data": {**data, **values, "step": back.id}}
            if back and not compact
            else None
        ),
        "change_route": (
            {"title": "Change", "verb": VERB_CHANGE, "data": {**data, **values}}
            if current.number == 1 and not compact
            else None
        ),
        "change_summary": (
            {
                "title": "Change",
                "verb": VERB_STEP,
                "data": {**data, "step": current.id, "change": "yes"},
            }
            if summary
            else None
        ),
    }


def _previous(step: Step) -> Step | None:
    return STEPS[step.number - 2] if step.number > 1 else None


def _route_line(route: Route) -> str:
    return f"{route.trust.name}: {route.department_label}"


def _summary_line(key: str, message: str, current: Step) -> str:
    line = summary_line(key, message)
    where = step_of(key)
    if where is not None and where.id != current.id:
        return f"{line} (step {where.number})"
    return line


def _remembered_summary(
    step: Step, specs: list[FieldSpec], values: Mapping[str, str], errors: Mapping[str, str]
) -> str:
    """The referrer and practice as one line, when every one of them is known and valid."""
    if step.id != "practice" or any(spec.id in errors for spec in specs):
        return ""
    if any(spec.required and not values.get(spec.id) for spec in specs):
        return ""
    if any(_invalid(spec, values.get(spec.id, "")) for spec in specs):
        return ""
    v = {spec.id: str(spec.clean(values[spec.id])) for spec in specs if values.get(spec.id)}
    registration = v["referrer_registration"]
    signed = f"{registration_body(registration) or ''} {registration}".strip()
    return (
        f"{v['referrer_name']} ({v['referrer_role']}, {signed}), "
        f"{v['practice_name']} ({v['practice_ods']}), replies to {v['practice_email']}, "
        f"{v['practice_phone']}"
    )


def _invalid(spec: FieldSpec, value: str) -> bool:
    if not value:
        return False
    try:
        spec.clean(value)
    except ValueError:
        return True
    return False


def _groups(inputs: list[_Input], route: Route) -> list[dict[str, Any]]:
    """Runs of inputs by section, each with its title and the form's note on it.

    Short fields share a row (`_PAIRS`) so a step fits about one phone screen,
    and the optional access needs fold away behind a button unless one is
    filled in or in error.
    """
    groups: list[dict[str, Any]] = []
    for item in inputs:
        section = FIELD_BY_ID[item.element["id"]].section
        if not groups or groups[-1]["section"] != section:
            groups.append(
                {
                    "section": section,
                    "id": "group-" + section.lower().replace(" ", "-"),
                    "title": _GROUP_TITLES.get(section, section),
                    "note": _note(section, route),
                    "folded": section in _FOLDED,
                    "rows": [],
                }
            )
        rows = groups[-1]["rows"]
        if (
            rows
            and len(rows[-1]) == 1
            and _PAIRS.get(rows[-1][0].element["id"]) == item.element["id"]
        ):
            rows[-1].append(item)
        else:
            rows.append([item])
    for group in groups:
        if group["folded"]:
            items = [item for row in group["rows"] for item in row]
            group["folded"] = not any(item.error or _filled(item.element) for item in items)
    return groups


#: Short fields shown side by side: (left, right).
_PAIRS = {
    "patient_surname": "patient_forenames",
    "patient_dob": "patient_sex",
    "postcode": "patient_phone",
}
#: Sections folded behind a button while nothing in them is filled in.
_FOLDED = frozenset({"Access needs"})


def _filled(element: Mapping[str, Any]) -> bool:
    value = element.get("value")
    return bool(value) and value != element.get("valueOff")


_GROUP_TITLES = {"Request": "Examination"}


def _note(section: str, route: Route) -> str:
    """The form's own guidance on a section, labelled as not the BCP's."""
    if section == "Safety":
        notes = []
        if route.ionising:
            low, high = PREGNANCY_AGES
            notes.append(
                "pregnancy status and LMP are needed when the area is between the diaphragm "
                f"and the knees and the patient is not male and aged {low} to {high}."
            )
        if route.contrast:
            notes.append(f"{route.modality.name} may use contrast: record any allergies.")
        return FORM_CHECK + " ".join(notes) if notes else ""
    if section == "MRI safety":
        return FORM_CHECK + (
            "MRI departments screen every patient for implants and metal before a scan; "
            "these answers let them plan. They do not replace the department's own screening."
        )
    if section == "Referrer":
        return FORM_CHECK + (
            "a registered referrer makes the request; their registration number stands in "
            "for a signature."
        )
    if section == "Practice":
        return FORM_CHECK + (
            "the email's Reply-To and copy go to this mailbox, so use one that is read."
        )
    return ""


def field_inputs(
    field_ids: Iterable[str],
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
) -> list[_Input]:
    """Inputs for declared fields that need no route or date (a practice's details), for
    another card that asks them too (the forwarding card)."""
    entered = _entered(values)
    return [_input(FIELD_BY_ID[key], None, entered, errors or {}, None) for key in field_ids]


def _input(
    spec: FieldSpec,
    route: Route | None,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    today: date | None,
) -> _Input:
    """The input a declaration asks for, with its hint and its server error."""
    if spec.kind == "toggle":
        element = _toggle_element(spec, values)
    elif spec.kind == "choice":
        element = _choice_element(
            spec.id,
            spec.asks,
            spec.choices,
            values,
            required=spec.required,
            style=spec.style or "compact",
        )
    elif spec.kind == "date":
        assert today is not None, "a date input needs today's date"
        element = _date_element(spec, values, today)
    else:
        element = _text_element(spec, values)
    return _Input(element, errors.get(spec.id, ""), _help(spec, route))


def _help(spec: FieldSpec, route: Route | None) -> str:
    if spec.id == "examination" and route is not None and route.modality.example:
        return f"For example: {route.modality.example}. {spec.help}".strip()
    return spec.help


def _text_element(spec: FieldSpec, values: Mapping[str, str]) -> dict[str, Any]:
    label = spec.asks
    element: dict[str, Any] = {
        "type": "Input.Text",
        "id": spec.id,
        "label": label,
        "maxLength": spec.max_length,
        "isRequired": spec.required,
        "errorMessage": f"{spec.label} is required" if spec.required else f"Check {spec.label}",
    }
    if spec.rule:
        element["regex"] = spec.rule.regex
        element["errorMessage"] = spec.rule.error_message
    if spec.min_length > 2:
        element["regex"] = rf"^\s*\S[\s\S]{{{spec.min_length - 2},}}\S\s*$"
        element["errorMessage"] = (
            f"{spec.label}: write at least {spec.min_length} characters, "
            "enough to justify the examination"
        )
    if spec.placeholder:
        element["placeholder"] = spec.placeholder
    if spec.kind == "multiline":
        element["isMultiline"] = True
    if spec.style:
        element["style"] = spec.style
    if spec.id in values:
        # Cut to what a card can carry: what the user typed comes back even when it was
        # too long, and the card around it must still fit in Teams' 28 KB.
        element["value"] = spec.fit(values[spec.id])
    return element


def _choice_element(
    input_id: str,
    label: str,
    pairs: Choices | list[tuple[str, str]],
    values: Mapping[str, Any],
    *,
    required: bool = True,
    style: str = "compact",
) -> dict[str, Any]:
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
    return element


def _date_element(spec: FieldSpec, values: Mapping[str, str], today: date) -> dict[str, Any]:
    minimum, maximum = earliest_birth_date(today) + timedelta(days=1), today
    element: dict[str, Any] = {
        "type": "Input.Date",
        "id": spec.id,
        "label": spec.asks,
        "isRequired": spec.required,
        "errorMessage": (
            f"{spec.label}: choose a date from {minimum:%d/%m/%Y} to {maximum:%d/%m/%Y}"
        ),
        "min": minimum.isoformat(),
        "max": maximum.isoformat(),
    }
    if spec.id in values:
        element["value"] = values[spec.id]
    return element


def _toggle_element(spec: FieldSpec, values: Mapping[str, str]) -> dict[str, Any]:
    on, off = (key for key, _ in spec.choices)
    return {
        "type": "Input.Toggle",
        "id": spec.id,
        "title": spec.asks,
        "valueOn": on,
        "valueOff": off,
        "value": on if values.get(spec.id) == on else off,
        "wrap": True,
    }


def first_step_with(errors: Iterable[str]) -> Step:
    """The earliest step holding one of these fields (step 1 when none does)."""
    numbers = [step.number for key in errors if (step := step_of(key)) is not None]
    return STEPS[min(numbers) - 1] if numbers else STEPS[0]


def errors_up_to(errors: Mapping[str, str], step: Step) -> dict[str, str]:
    """The errors of this step and the steps before it (later steps are not filled yet)."""
    return {
        key: message
        for key, message in errors.items()
        if (where := step_of(key)) is None or where.number <= step.number
    }


# --- Review -----------------------------------------------------------------------------


def review_context(
    request: RadiologyRequest,
    *,
    form_id: str,
    owner: str,
    directory: Directory,
    now: datetime,
    shortened: bool = False,
    failure: str = "",
) -> dict[str, Any]:
    """Context for `order_review`: the request as radiology will read it, and where it goes.

    Laid out from the same RequestDocument as the email, so what the user checks
    is what is sent. Send and Back both carry the request's values, keeping the
    bot stateless until Send, where `validate_submission` checks them again.

    `shortened` is for a request whose full review would not fit in a Teams
    card (long text in other alphabets, emoji, many short lines): each value
    is shown cut short, with a note saying so. Send and Back still carry every
    value in full, and the email and PDF hold all of it. `failure` is a fault
    the user cannot fix (the store was unavailable): it heads the card, with
    Send right under it.
    """
    route = request.route(directory)
    document = request.as_document(REVIEW_REFERENCE, now, directory)
    data = _base_data(form_id, owner, route) | form_values(request)
    return {
        "title": REVIEW_TITLE,
        "mailbox": document.mailbox,
        "reply_to": document.practice_email,
        "shortened": SHORTENED_NOTE if shortened else "",
        "failure": failure,
        "sections": [
            {"title": section.title, "blocks": _blocks(section.fields, shortened=shortened)}
            for section in document.sections
        ],
        "send": {"title": "Send", "verb": VERB_SEND, "data": data},
        "back": {"title": "Back", "verb": VERB_STEP, "data": data | {"step": STEPS[-1].id}},
    }


SHORTENED_NOTE = (
    "This request is too long to show in full on a Teams card, so long text is cut short "
    "here (…). The email and its PDF carry every field in full; press Back to see or "
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
    "DIALOG_TITLE",
    "FORM_ERROR",
    "FORM_TITLE",
    "REVIEW_TITLE",
    "VERB_CHANGE",
    "VERB_CHOOSE",
    "VERB_EDIT",
    "VERB_NEXT",
    "VERB_REVIEW",
    "VERB_SEND",
    "VERB_START",
    "VERB_STEP",
    "VERB_TEXT",
    "choose_context",
    "closed_form_context",
    "confirmation_context",
    "confirmation_for",
    "errors_up_to",
    "field_inputs",
    "first_step_with",
    "new_form_id",
    "prefill_from_profile",
    "review_context",
    "route_notes",
    "start_context",
    "step_context",
    "stored_confirmation",
]
