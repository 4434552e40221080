"""Reading a submitted card: into a `RadiologyRequest`, or into messages next to the fields.

A submission is a flat mapping of input ids to strings (a chat card's
Action.Execute/Submit data, or a dialog's task/submit). `validate_submission`
turns it into the model or into `FormErrors` (input id -> a message the user can
act on) and never raises, whatever arrives: the handler shows the errors next
to the fields without a try/except of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from bot.directory import Directory
from bot.orders.fields import FIELD_BY_ID, FIELD_BY_PATH, FIELDS, FieldSpec
from bot.orders.model import RadiologyRequest, RuleViolations
from bot.orders.routing import Route, RouteError, resolve_route
from bot.orders.rules import FORM_VERSION, conditional_problems, settle
from bot.orders.validation import FieldError, check_birth_date, parse_form_date

RAW_MAX = 10_000
FORM_ERROR = "form"
UNREADABLE = "The form could not be read: please start again"


class FormErrors(Mapping[str, str]):
    """Input id -> plain-English message; `FORM_ERROR` holds what belongs to no input."""

    __slots__ = ("_messages",)

    def __init__(self, messages: Mapping[str, str]) -> None:
        self._messages = dict(messages)

    def __getitem__(self, key: str) -> str:
        return self._messages[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def __repr__(self) -> str:
        return f"FormErrors({self._messages!r})"


def validate_submission(
    data: object, *, directory: Directory, today: date
) -> RadiologyRequest | FormErrors:
    """Check a submitted form; the model when everything is right, otherwise every problem.

    Answers to questions the route does not ask are dropped first and a paired
    body part takes the side its examination names (`rules.settle`). Never
    raises: wrong types, missing keys, huge strings and None all come back as
    messages for the fields concerned, so a hostile or garbled invoke can never
    become a 500, let alone an email.
    """
    if not isinstance(data, Mapping):
        return FormErrors({FORM_ERROR: UNREADABLE})
    values, errors = read_inputs(data)
    try:
        route = resolve_route(
            directory, values.get("trust"), values.get("modality"), values.get("department")
        )
    except RouteError as exc:
        return FormErrors({**errors, exc.field: str(exc)})
    values = settle(values, route)
    try:
        request = RadiologyRequest.model_validate(
            _nest(values), context={"directory": directory, "today": today}
        )
    except ValidationError as exc:
        errors = {**_messages(exc), **errors}
        for key, message in _best_effort_rules(values, route, today).items():
            errors.setdefault(key, message)
        return FormErrors(errors)
    return FormErrors(errors) if errors else request


def read_inputs(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The card's known inputs as stripped, non-empty strings, plus messages for unreadable ones.

    Action.Submit sends strings; anything else (numbers from a test client,
    lists, objects) is turned into text only when that is unambiguous.
    """
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in FIELDS:
        text = as_text(data.get(spec.id))
        if text is None:
            errors[spec.id] = f"{spec.label} could not be read: please enter it again"
        elif len(text) > RAW_MAX:
            errors[spec.id] = f"{spec.label} is far too long: please shorten it"
        elif text.strip():
            values[spec.id] = text.strip()
    return values, errors


def as_text(raw: Any) -> str | None:
    """A submitted value as text; None when it cannot be read as one."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, int) or (isinstance(raw, float) and math.isfinite(raw)):
        return str(raw)
    return None


def _nest(values: Mapping[str, str]) -> dict[str, Any]:
    """Flat input ids into the model's nested shape, under this release's rules."""
    nested: dict[str, Any] = {
        "patient": {},
        "referrer": {},
        "practice": {},
        "form_version": FORM_VERSION,
    }
    for input_id, value in values.items():
        head, _, tail = FIELD_BY_ID[input_id].path.partition(".")
        if tail:
            nested[head][tail] = value
        else:
            nested[head] = value
    return nested


def _messages(exc: ValidationError) -> dict[str, str]:
    messages: dict[str, str] = {}
    for error in exc.errors():
        error_ctx = error.get("ctx") or {}
        problem = error_ctx.get("error")
        if isinstance(problem, RuleViolations):
            for key, message in problem.problems.items():
                messages.setdefault(key, message)
            continue
        path = ".".join(str(part) for part in error["loc"][:2])
        spec = FIELD_BY_PATH.get(path)
        if spec is None:
            messages.setdefault(FORM_ERROR, UNREADABLE)
            continue
        messages.setdefault(spec.id, message_for(spec, error["type"], error["msg"]))
    return messages


def message_for(spec: FieldSpec, kind: str, msg: str) -> str:
    """A message a user can act on, from pydantic's error type (any model of these fields)."""
    if kind == "field":
        return msg
    if kind == "missing":
        return f"{spec.label} is required"
    return f"{spec.label} is not valid: please check it"


def _best_effort_rules(values: Mapping[str, str], route: Route, today: date) -> dict[str, str]:
    """The conditional rules applied to a submission that failed elsewhere.

    The model only checks them once every field is valid; applying them here
    too saves the user a second round trip to learn, say, that pregnancy status
    is needed as well.
    """
    facts: dict[str, Any] = dict(values)
    facts["patient_dob"] = _date_or_none(values.get("patient_dob"), today, birth=True)
    facts["lmp_date"] = _date_or_none(values.get("lmp_date"), today, birth=False)
    return conditional_problems(route, facts, today=today)


def _date_or_none(text: str | None, today: date, *, birth: bool) -> date | None:
    if not text:
        return None
    try:
        day = parse_form_date(text)
        return check_birth_date(day, today) if birth else day
    except FieldError:
        return None


def validate_choice(data: object, *, directory: Directory) -> Route | FormErrors:
    """The choose step: trust and modality must have a downtime mailbox before the form opens."""
    if not isinstance(data, Mapping):
        return FormErrors({FORM_ERROR: UNREADABLE})
    trust, modality_id = (as_text(data.get(key)) for key in ("trust", "modality"))
    try:
        return resolve_route(directory, (trust or "").strip(), (modality_id or "").strip())
    except RouteError as exc:
        return FormErrors({exc.field: str(exc)})


__all__ = [
    "FORM_ERROR",
    "FormErrors",
    "as_text",
    "message_for",
    "read_inputs",
    "validate_choice",
    "validate_submission",
]
