"""The downtime radiology request as one checked pydantic model, built from the field declarations.

Its fields, types, defaults and checks are made from `bot/orders/fields.py`
(`FIELDS`): a field's path ("patient.surname") places it, its kind gives its
type, `FieldSpec.clean` checks it (limits, card budget, shape rule, choices),
and a field that is not required takes the value of not being asked. Nothing
about a single field is written here; only what concerns several does:

- the checks that need the BCP directory or today's date, read from the
  pydantic validation context `{"directory": Directory, "today": date}`: a
  plausible date of birth, a reply mailbox that is not one the BCP names, the
  route, and the conditional rules of `bot/orders/rules.py`;
- the way back to the card's values (`form_values`), and what is remembered.

The model enforces every rule, so no code path can build an invalid request;
`bot/orders/errors.py` turns a submitted card into this model or into messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.directory import Directory
from bot.orders.document import RequestDocument, build_document
from bot.orders.fields import (
    FIELD_BY_ID,
    FIELDS,
    PRACTICE_INPUTS,
    REFERRER_INPUTS,
    FieldSpec,
)
from bot.orders.routing import Route, RouteError, resolve_route
from bot.orders.rules import conditional_problems
from bot.orders.validation import (
    FieldError,
    check_birth_date,
    format_nhs_number,
    registration_body,
)

LONDON = ZoneInfo("Europe/London")


def _user_check(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Turn a FieldError into a pydantic error carrying the user's message."""

    def run(value: Any) -> Any:
        try:
            return check(value)
        except FieldError as exc:
            raise PydanticCustomError("field", str(exc)) from None

    return run


def _date_check(spec: FieldSpec) -> Callable[[Any], Any]:
    return lambda value: spec.clean(value) if isinstance(value, str) else value


def _the_practices_own(value: str, info: ValidationInfo) -> str:
    """Not a mailbox the BCP names: replies to it would never reach the practice."""
    directory = (info.context or {}).get("directory")
    if not isinstance(directory, Directory):
        raise ValueError("validate with context={'directory': Directory, ...}")
    kind = directory.mailbox_kind(value)
    if kind is not None:
        raise PydanticCustomError(
            "field",
            f"This is {kind} mailbox from the downtime procedure, not your practice's: "
            "enter your practice's own monitored nhs.net mailbox",
        )
    return value


#: Checks of a field that need more than its declaration (the BCP directory here).
_ALSO: Mapping[str, tuple[Any, ...]] = {"practice_email": (AfterValidator(_the_practices_own),)}


def _text_checks(spec: FieldSpec) -> tuple[Any, ...]:
    return (AfterValidator(_user_check(spec.clean)), *_ALSO.get(spec.id, ()))


def _annotation(spec: FieldSpec) -> Any:
    """The pydantic type of a declared field: its base type with the declaration's check."""
    if spec.kind == "date":
        return Annotated[date, BeforeValidator(_user_check(_date_check(spec)))]
    return Annotated[str, *_text_checks(spec)]


def text_checks(field_id: str) -> tuple[Any, ...]:
    """The checks of one declared field held as text, for another model that holds it too
    (a forwarded form's practice: the same rules as the bot's own form's, from one place):
    `name: Annotated[str, *text_checks("practice_name")]`, a `str` to the type checker."""
    spec = FIELD_BY_ID[field_id]
    if spec.kind == "date":
        raise ValueError(f"{field_id} is a date, not text")
    return _text_checks(spec)


def _default(spec: FieldSpec) -> Any:
    """`...` (always required), the value of not being asked, "" for optional text, or None.

    A field asked only for some requests is optional in the model: rules.py
    requires it exactly when it is asked.
    """
    if spec.required and spec.when == "always":
        return ...
    if spec.unasked is not None:
        return spec.unasked
    if spec.when == "always" and spec.is_text:
        return ""
    return None


def _fields(group: str) -> dict[str, Any]:
    """pydantic field definitions for the declared fields under `group` ("" is the top)."""
    found: dict[str, Any] = {}
    for spec in FIELDS:
        head, _, name = spec.path.rpartition(".")
        if head == group:
            default = _default(spec)
            annotation = _annotation(spec)
            found[name] = (annotation if default is not None else annotation | None, default)
    return found


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _context(info: ValidationInfo) -> tuple[Directory, date]:
    """The directory and today's date; without them the rules cannot be checked at all."""
    context = info.context or {}
    directory, today = context.get("directory"), context.get("today")
    if not isinstance(directory, Directory) or not isinstance(today, date):
        raise ValueError("validate with context={'directory': Directory, 'today': date}")
    return directory, today


class _Patient(_Part):
    if TYPE_CHECKING:
        # The fields code reads by name, for the type checker only: the fields themselves
        # are made from FIELDS below (D22). tests/test_order_model.py holds these
        # declarations to the model that is built.
        date_of_birth: date
        nhs_number: str

    @field_validator("date_of_birth", check_fields=False)
    @classmethod
    def _plausible_birth(cls, value: date, info: ValidationInfo) -> date:
        _, today = _context(info)
        try:
            return check_birth_date(value, today)
        except FieldError as exc:
            raise PydanticCustomError("field", str(exc)) from None


class _Referrer(_Part):
    """The entitled referrer: name, role and registration stand in for a signature."""

    if TYPE_CHECKING:  # as `_Patient`'s
        registration: str

    @property
    def registration_body(self) -> str:
        return registration_body(self.registration) or ""


class _Practice(_Part):
    """Where rejections and results go: a monitored nhs.net mailbox is essential."""

    if TYPE_CHECKING:  # as `_Patient`'s
        name: str
        ods_code: str
        email: str


Patient = create_model("Patient", __base__=_Patient, **_fields("patient"))
Referrer = create_model("Referrer", __base__=_Referrer, **_fields("referrer"))
Practice = create_model("Practice", __base__=_Practice, **_fields("practice"))
#: The model of each part a declared path may start with.
PARTS: Mapping[str, type[_Part]] = {"patient": Patient, "referrer": Referrer, "practice": Practice}


class RuleViolations(ValueError):
    """Conditional-rule failures keyed by input id, so each lands next to its input."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems.items()))
        self.problems = dict(problems)


class _Request(_Part):
    """One downtime radiology request, complete and checked; one request, one email."""

    #: The rules it was made under (rules.FORM_VERSION); requests queued before there was one have
    #: none, and are read as version 1.
    form_version: int = 1

    if TYPE_CHECKING:  # as `_Patient`'s
        patient: Patient
        practice: Practice
        trust: str
        department: str
        modality: str
        priority: str

    @model_validator(mode="after")
    def _conditional_rules(self, info: ValidationInfo) -> _Request:
        directory, today = _context(info)
        try:
            route = self.route(directory)
        except RouteError as exc:
            raise RuleViolations({exc.field: str(exc)}) from None
        problems = conditional_problems(
            route, self.values(), today=today, version=self.form_version
        )
        if problems:
            raise RuleViolations(problems)
        return self

    def values(self) -> dict[str, Any]:
        """Every declared field's value by input id (dates as dates)."""
        return {spec.id: value_at(self, spec.path) for spec in FIELDS}

    def route(self, directory: Directory) -> Route:
        return resolve_route(directory, self.trust, self.modality, self.department)

    def mailbox(self, directory: Directory) -> str:
        """The exact address this request is emailed to, from the BCP directory."""
        return self.route(directory).mailbox

    def as_document(
        self, reference: str, created_at: datetime, directory: Directory
    ) -> RequestDocument:
        """The request as labelled sections, for the email, the PDF and the review card."""
        return build_document(self, self.route(directory), reference, _local(created_at))


RadiologyRequest = create_model(
    "RadiologyRequest",
    __base__=_Request,
    patient=(Patient, ...),
    referrer=(Referrer, ...),
    practice=(Practice, ...),
    **_fields(""),
)


def value_at(model: BaseModel, path: str) -> Any:
    """The value at a declared path ("patient.surname") of a request."""
    value: Any = model
    for part in path.split("."):
        value = getattr(value, part, None)
    return value


def _local(moment: datetime) -> datetime:
    return moment.astimezone(LONDON) if moment.tzinfo else moment


# --- From the model back to the card ----------------------------------------------------


def form_values(request: RadiologyRequest) -> dict[str, str]:
    """The request as the card's input values: prefill for Back, data for Send.

    Sending the values back in the Send action's data keeps the bot stateless
    until Send, where they are validated again from scratch.
    """
    values: dict[str, str] = {}
    for spec in FIELDS:
        value = value_at(request, spec.path)
        if isinstance(value, date):
            values[spec.id] = value.isoformat()
        elif value not in (None, ""):
            values[spec.id] = str(value)
    values["nhs_number"] = format_nhs_number(request.patient.nhs_number)
    return values


def remembered_details(request: RadiologyRequest) -> tuple[dict[str, str], dict[str, str]]:
    """(practice, referrer) input values to keep in the user's profile for next time."""
    values = form_values(request)
    practice = {key: values[key] for key in PRACTICE_INPUTS if key in values}
    referrer = {key: values[key] for key in REFERRER_INPUTS if key in values}
    return practice, referrer


__all__ = [
    "LONDON",
    "PARTS",
    "Patient",
    "Practice",
    "RadiologyRequest",
    "Referrer",
    "RuleViolations",
    "form_values",
    "remembered_details",
    "text_checks",
    "value_at",
]
