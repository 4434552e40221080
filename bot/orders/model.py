"""The downtime radiology request: the DOMAIN.md minimum data set as one checked model.

A submitted card is a flat mapping of input ids to strings. `validate_submission`
turns it into a `RadiologyRequest` or into `FormErrors` (input id -> message the
user can act on) and never raises, whatever arrives: the handler can show the
errors next to the fields without a single try/except of its own.

The model itself enforces every rule, including the conditional ones (pregnancy
status for ionising examinations of people who may be pregnant, contrast
allergies for contrast studies), so no code path can build an invalid request.
Checks that need the BCP directory or today's date read them from the pydantic
validation context: `{"directory": Directory, "today": date}`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.directory import Department, Directory, Trust
from bot.orders.document import DocumentField, RequestDocument, Section, routed_document
from bot.orders.validation import (
    FieldError,
    age_on,
    check_birth_date,
    check_multi_line,
    check_single_line,
    clean_nhs_mail,
    clean_nhs_number,
    clean_ods_code,
    clean_phone,
    clean_postcode,
    clean_registration,
    format_nhs_number,
    parse_form_date,
    registration_body,
)
from bot.vocabulary import Modality, modality

LONDON = ZoneInfo("Europe/London")

# --- Limits (the card's maxLength uses the same numbers) --------------------------------
# The review card carries every value four times (Send and Edit, each an Execute with
# a Submit fallback), so these keep a maximal request's review card under 28 KB.
# Characters are not bytes: Teams counts the card as JSON on the wire, where "漢" is
# six bytes ("\u6f22"), an emoji twelve and a backslash two. So each free-text value
# also has a budget in those bytes (`card_budget`): plain text at its full length fits
# with room for quotes and line breaks; other alphabets, emoji or backslashes fit in
# fewer characters and are refused next to the field beyond that, with a message.

NAME_MAX = 100
LINE_MAX = 100
TOWN_MAX = 60
EXAM_MAX = 200
HISTORY_MAX = 1000
QUESTION_MAX = 500
NOTE_MAX = 250
CODE_MAX = 30
CLINICAL_MIN = 10
RAW_MAX = 10_000
PREGNANCY_AGES = (12, 55)
#: A free-text value's room on a card, in escaped JSON bytes, per character of its limit.
CARD_BYTES_PER_CHARACTER = 1.3
TOO_LONG_FOR_A_CARD = (
    "Too long to fit on a Teams card: this text uses characters that take more room than "
    "plain letters (other alphabets, emoji, symbols or backslashes). It has been cut to "
    "what fits: check the end of it, and shorten it if it no longer reads right"
)


def card_size(value: str) -> int:
    """Bytes `value` takes inside a JSON string on the wire (escaped, as Teams measures)."""
    return len(json.dumps(value)) - 2


def card_budget(max_length: int) -> int:
    """The most escaped bytes a free-text value with this character limit may take."""
    return int(max_length * CARD_BYTES_PER_CHARACTER)


def fit_to_card(value: str, max_length: int) -> str:
    """`value` cut to its limit and its card budget: what a card can hold of it."""
    return cut_to_size(value[:max_length], card_budget(max_length))


def cut_to_size(value: str, size: int) -> str:
    """The longest start of `value` whose `card_size` is at most `size`."""
    used = 0
    for kept, char in enumerate(value):
        used += card_size(char)
        if used > size:
            return value[:kept]
    return value


# --- Choices ----------------------------------------------------------------------------

Laterality = Literal["left", "right", "bilateral", "not_applicable"]
Priority = Literal["routine", "urgent"]
Sex = Literal["female", "male", "other", "unknown"]
PregnancyStatus = Literal["not_pregnant", "possibly_pregnant", "pregnant", "cannot_be_pregnant"]
YesNo = Literal["yes", "no"]

LATERALITY_CHOICES = (
    ("left", "Left"),
    ("right", "Right"),
    ("bilateral", "Bilateral"),
    ("not_applicable", "Not applicable"),
)
PRIORITY_CHOICES = (("routine", "Routine"), ("urgent", "Urgent"))
SEX_CHOICES = (("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Unknown"))
PREGNANCY_CHOICES = (
    ("not_pregnant", "Not pregnant"),
    ("possibly_pregnant", "Possibly pregnant"),
    ("pregnant", "Pregnant"),
    ("cannot_be_pregnant", "Cannot be pregnant (e.g. hysterectomy)"),
)
YES_NO_CHOICES = (("yes", "Yes"), ("no", "No"))
# Statuses where a last menstrual period date means nothing, so none is asked for.
NO_LMP_STATUSES = frozenset({"cannot_be_pregnant"})


def choice_title(choices: tuple[tuple[str, str], ...], value: str | None) -> str:
    """The wording the user picked, for the review card, email and PDF."""
    return next((title for key, title in choices if key == value), value or "")


# --- Modalities and routes --------------------------------------------------------------


# Modalities (ids, names, ionising, contrast) are declared once in bot/vocabulary.py.
# The BCP gives GSTT one mailbox, so its directory department cannot tell
# an ultrasound from a CT: the modality decides which safety questions apply.


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes and which safety questions it needs."""

    trust: Trust
    department: Department
    modality: Modality

    @property
    def ionising(self) -> bool:
        """The modality decides: KCH ultrasound is not ionising, nor is an MRI sent to GSTT."""
        return self.modality.ionising

    @property
    def contrast(self) -> bool:
        return self.modality.contrast

    @property
    def mailbox(self) -> str:
        return str(self.department.mailbox)

    @property
    def department_label(self) -> str:
        """ "Ultrasound" for KCH, "Radiology (CT)" for GSTT's single mailbox."""
        if self.department.id == self.modality.id:
            return self.department.name
        return f"{self.department.name} ({self.modality.name})"


class RouteError(FieldError):
    """The trust/modality pair has no downtime route; `field` is the input to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def no_route_message(trust: Trust, modality_name: str) -> str:
    """What the BCP says when it lists no mailbox for a modality, and nothing more.

    No alternative is offered: the BCP gives none, and an invented one (wait for
    ICE, try another mailbox) could delay an urgent scan.
    """
    names = [d.name for d in trust.departments]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return (
        f"The BCP lists {listed} for {trust.bcp_name}; "
        f"it gives no downtime route for {modality_name}."
    )


def resolve_route(
    directory: Directory,
    trust_id: str | None,
    modality_id: str | None,
    department_id: str | None = None,
) -> Route:
    """The mailbox route for a trust and modality; raises RouteError when the BCP gives none.

    A KCH modality without a mailbox in the BCP has no downtime route: say so
    plainly rather than guess an address. `department_id`, when given, is the
    value carried in the card's data and must match the route the server works out.
    """
    trust = directory.trust(trust_id or "")
    if trust is None:
        raise RouteError("trust", "Choose the trust: GSTT or King's")
    chosen = modality(modality_id)
    if chosen is None:
        raise RouteError("modality", "Choose the type of imaging")
    department = directory.department(trust.id, chosen.id)
    if department is None:
        raise RouteError("modality", no_route_message(trust, chosen.name))
    if department_id is not None and department_id != department.id:
        raise RouteError("modality", "The department does not match the trust: please start again")
    return Route(trust, department, chosen)


# --- Field types ------------------------------------------------------------------------


def _user_check(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Turn a validation.py FieldError into a pydantic error carrying the user's message."""

    def run(value: Any) -> Any:
        try:
            return check(value)
        except FieldError as exc:
            raise PydanticCustomError("field", str(exc)) from None

    return run


def _form_date(value: Any) -> Any:
    return parse_form_date(value) if isinstance(value, str) else value


def _fits_a_card(max_length: int) -> Callable[[str], str]:
    budget = card_budget(max_length)

    def check(value: str) -> str:
        if card_size(value) > budget:
            raise PydanticCustomError("field", TOO_LONG_FOR_A_CARD)
        return value

    return check


def _single(max_length: int, min_length: int = 1) -> Any:
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length),
        AfterValidator(_user_check(check_single_line)),
        AfterValidator(_fits_a_card(max_length)),
    ]


def _multi(max_length: int, min_length: int = 1) -> Any:
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length),
        AfterValidator(_user_check(check_multi_line)),
        AfterValidator(_fits_a_card(max_length)),
    ]


def _coded(check: Callable[[str], str]) -> Any:
    return Annotated[
        str,
        Field(min_length=1, max_length=CODE_MAX),
        AfterValidator(_user_check(check_single_line)),
        AfterValidator(_user_check(check)),
    ]


FormDate = Annotated[date, BeforeValidator(_user_check(_form_date))]
Name = _single(NAME_MAX)
Line = _single(LINE_MAX)
OptionalLine = _single(LINE_MAX, min_length=0)
Note = _multi(NOTE_MAX, min_length=0)
Town = _single(TOWN_MAX)
Role = _single(60)
PracticeName = _single(120)
RouteId = _single(40)
Examination = _single(EXAM_MAX, min_length=2)
History = _multi(HISTORY_MAX, min_length=CLINICAL_MIN)
Question = _multi(QUESTION_MAX, min_length=CLINICAL_MIN)
Language = _single(60, min_length=0)
NhsNumber = _coded(clean_nhs_number)
Postcode = _coded(clean_postcode)
Phone = _coded(clean_phone)
OdsCode = _coded(clean_ods_code)
Registration = _coded(clean_registration)
NhsMail = Annotated[
    str,
    Field(min_length=1, max_length=LINE_MAX),
    AfterValidator(_user_check(check_single_line)),
    AfterValidator(_user_check(clean_nhs_mail)),
]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _context(info: ValidationInfo) -> tuple[Directory, date]:
    """The directory and today's date; without them the rules cannot be checked at all."""
    context = info.context or {}
    directory, today = context.get("directory"), context.get("today")
    if not isinstance(directory, Directory) or not isinstance(today, date):
        raise ValueError("validate with context={'directory': Directory, 'today': date}")
    return directory, today


class Patient(_Part):
    surname: Name
    forenames: Name
    date_of_birth: FormDate
    nhs_number: NhsNumber
    sex: Sex
    address_line1: Line
    address_line2: OptionalLine = ""
    town: Town
    postcode: Postcode
    phone: Phone

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth(cls, value: date, info: ValidationInfo) -> date:
        _, today = _context(info)
        try:
            return check_birth_date(value, today)
        except FieldError as exc:
            raise PydanticCustomError("field", str(exc)) from None

    def age_on(self, day: date) -> int:
        return age_on(self.date_of_birth, day)


class Referrer(_Part):
    """The entitled referrer: name, role and registration stand in for a signature."""

    name: Name
    role: Role
    registration: Registration

    @property
    def registration_body(self) -> str:
        return registration_body(self.registration) or ""


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


#: The practice's reply mailbox, for either kind of request: an nhs.net address, and
#: none of the radiology, results or service desk mailboxes the BCP names.
PracticeMailbox = Annotated[NhsMail, AfterValidator(_the_practices_own)]


class Practice(_Part):
    """Where rejections and results go: a monitored nhs.net mailbox is essential."""

    name: PracticeName
    ods_code: OdsCode
    email: PracticeMailbox
    phone: Phone


class RuleViolations(ValueError):
    """Conditional-rule failures keyed by model path, so each lands next to its input."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems.items()))
        self.problems = dict(problems)


class RadiologyRequest(_Part):
    """One downtime radiology request, complete and checked; one request, one email."""

    trust: RouteId
    department: RouteId
    modality: RouteId
    examination: Examination
    laterality: Laterality
    priority: Priority
    clinical_history: History
    clinical_question: Question
    region_diaphragm_to_knees: YesNo | None = None
    pregnancy_status: PregnancyStatus | None = None
    lmp_date: FormDate | None = None
    contrast_allergies: Note | None = None
    interpreter_needed: YesNo = "no"
    interpreter_language: Language = ""
    mobility_needs: Note = ""
    reasonable_adjustments: Note = ""
    patient: Patient
    referrer: Referrer
    practice: Practice

    @model_validator(mode="after")
    def _conditional_rules(self, info: ValidationInfo) -> RadiologyRequest:
        directory, today = _context(info)
        try:
            route = resolve_route(directory, self.trust, self.modality, self.department)
        except RouteError as exc:
            raise RuleViolations({exc.field: str(exc)}) from None
        problems = conditional_problems(
            route,
            sex=self.patient.sex,
            birth=self.patient.date_of_birth,
            values=self.model_dump(include=_CONDITIONAL_FIELDS),
            today=today,
        )
        if problems:
            raise RuleViolations(problems)
        return self

    def route(self, directory: Directory) -> Route:
        return resolve_route(directory, self.trust, self.modality, self.department)

    def mailbox(self, directory: Directory) -> str:
        """The exact address this request is emailed to, from the BCP directory."""
        return self.route(directory).mailbox

    def pregnancy_required(self, directory: Directory, today: date) -> bool:
        return pregnancy_required(
            self.route(directory),
            self.patient.sex,
            self.patient.date_of_birth,
            self.region_diaphragm_to_knees,
            today,
        )

    def as_document(
        self, reference: str, created_at: datetime, directory: Directory
    ) -> RequestDocument:
        """The request as labelled sections, for the email, the PDF and the review card."""
        route = self.route(directory)
        return routed_document(
            reference=reference,
            created_at=created_at,
            route=route,
            priority=choice_title(PRIORITY_CHOICES, self.priority),
            practice=self.practice,
            sections=_sections(self, route, reference, created_at),
        )


_CONDITIONAL_FIELDS = {
    "region_diaphragm_to_knees",
    "pregnancy_status",
    "lmp_date",
    "contrast_allergies",
    "interpreter_needed",
    "interpreter_language",
}


# --- Conditional rules ------------------------------------------------------------------


def pregnancy_required(
    route: Route, sex: str | None, birth: date | None, region: str | None, today: date
) -> bool:
    """IR(ME)R: ask about pregnancy before irradiating the pelvis of anyone who may be pregnant.

    That is an ionising examination between the diaphragm and the knees of a
    patient who is not male and is about 12 to 55 years old.
    """
    if not route.ionising or region != "yes" or sex == "male" or birth is None:
        return False
    low, high = PREGNANCY_AGES
    return low <= age_on(birth, today) <= high


def conditional_problems(
    route: Route, *, sex: str | None, birth: date | None, values: Mapping[str, Any], today: date
) -> dict[str, str]:
    """Messages for the questions that only some requests must answer, keyed by model path.

    Pure, and tolerant of missing values, so the same rules can also be applied
    to a submission whose other fields failed: the user then sees every problem at once.
    """
    problems: dict[str, str] = {}
    region = values.get("region_diaphragm_to_knees")
    if route.ionising and region is None:
        problems["region_diaphragm_to_knees"] = (
            "Say whether the examination includes the area between the diaphragm and the knees"
        )
    status, lmp = values.get("pregnancy_status"), values.get("lmp_date")
    if pregnancy_required(route, sex, birth, region, today):
        if status is None:
            problems["pregnancy_status"] = (
                "Pregnancy status is required: this examination uses ionising radiation "
                "between the diaphragm and the knees"
            )
        if lmp is None and status not in NO_LMP_STATUSES:
            problems["lmp_date"] = "Enter the first day of the last menstrual period (LMP)"
    if isinstance(lmp, date) and (lmp > today or (birth is not None and lmp < birth)):
        problems["lmp_date"] = "LMP date must be in the past and after the date of birth"
    if route.contrast and not values.get("contrast_allergies"):
        problems["contrast_allergies"] = (
            f'{route.modality.name} may use contrast: record allergies, or write "None known"'
        )
    if values.get("interpreter_needed") == "yes" and not values.get("interpreter_language"):
        problems["interpreter_language"] = "Say which language the interpreter is needed for"
    return problems


# --- The card's inputs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One input on the form card, the model path it fills, and the label users see."""

    input_id: str
    path: str
    label: str


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("trust", "trust", "Trust"),
    FieldSpec("department", "department", "Department"),
    FieldSpec("modality", "modality", "Type of imaging"),
    FieldSpec("examination", "examination", "Examination / body part"),
    FieldSpec("laterality", "laterality", "Laterality"),
    FieldSpec("priority", "priority", "Priority"),
    FieldSpec("clinical_history", "clinical_history", "Clinical history"),
    FieldSpec("clinical_question", "clinical_question", "Clinical question"),
    FieldSpec("region", "region_diaphragm_to_knees", "Between diaphragm and knees"),
    FieldSpec("pregnancy_status", "pregnancy_status", "Pregnancy status"),
    FieldSpec("lmp_date", "lmp_date", "LMP date"),
    FieldSpec("contrast_allergies", "contrast_allergies", "Allergies (contrast)"),
    FieldSpec("patient_surname", "patient.surname", "Surname"),
    FieldSpec("patient_forenames", "patient.forenames", "Forename(s)"),
    FieldSpec("patient_dob", "patient.date_of_birth", "Date of birth"),
    FieldSpec("nhs_number", "patient.nhs_number", "NHS number"),
    FieldSpec("patient_sex", "patient.sex", "Sex"),
    FieldSpec("address_line1", "patient.address_line1", "Address line 1"),
    FieldSpec("address_line2", "patient.address_line2", "Address line 2"),
    FieldSpec("address_town", "patient.town", "Town or city"),
    FieldSpec("postcode", "patient.postcode", "Postcode"),
    FieldSpec("patient_phone", "patient.phone", "Patient phone"),
    FieldSpec("interpreter_needed", "interpreter_needed", "Interpreter needed"),
    FieldSpec("interpreter_language", "interpreter_language", "Interpreter language"),
    FieldSpec("mobility_needs", "mobility_needs", "Mobility / transport needs"),
    FieldSpec("reasonable_adjustments", "reasonable_adjustments", "Reasonable adjustments"),
    FieldSpec("referrer_name", "referrer.name", "Referrer name"),
    FieldSpec("referrer_role", "referrer.role", "Referrer role"),
    FieldSpec("referrer_registration", "referrer.registration", "Registration number"),
    FieldSpec("practice_name", "practice.name", "Practice name"),
    FieldSpec("practice_ods", "practice.ods_code", "Practice ODS code"),
    FieldSpec("practice_email", "practice.email", "Practice nhs.net mailbox"),
    FieldSpec("practice_phone", "practice.phone", "Practice phone"),
)
FIELD_BY_ID: Mapping[str, FieldSpec] = {spec.input_id: spec for spec in FIELDS}
FIELD_BY_PATH: Mapping[str, FieldSpec] = {spec.path: spec for spec in FIELDS}
# Remembered per user and prefilled next time (bot/store/profiles.py keeps them).
PRACTICE_INPUTS = ("practice_name", "practice_ods", "practice_email", "practice_phone")
REFERRER_INPUTS = ("referrer_name", "referrer_role", "referrer_registration")
FORM_ERROR = "form"


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


# --- From the card's data to the model --------------------------------------------------


def validate_submission(
    data: Mapping[str, Any], *, directory: Directory, today: date
) -> RadiologyRequest | FormErrors:
    """Check a submitted form; the model when everything is right, otherwise every problem.

    Never raises: wrong types, missing keys, huge strings and None all come back
    as messages for the fields concerned, so a hostile or garbled invoke can
    never become a 500, let alone an email.
    """
    if not isinstance(data, Mapping):
        return FormErrors({FORM_ERROR: "The form could not be read: please start again"})
    values, errors = read_inputs(data)
    try:
        request = RadiologyRequest.model_validate(
            _nest(values), context={"directory": directory, "today": today}
        )
    except ValidationError as exc:
        errors = {**_messages(exc), **errors}
        for key, message in _best_effort_rules(values, directory, today).items():
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
        raw = data.get(spec.input_id)
        text = _as_text(raw)
        if text is None:
            errors[spec.input_id] = f"{spec.label} could not be read: please enter it again"
        elif len(text) > RAW_MAX:
            errors[spec.input_id] = f"{spec.label} is far too long: please shorten it"
        elif text.strip():
            values[spec.input_id] = text.strip()
    return values, errors


def _as_text(raw: Any) -> str | None:
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
    """Flat input ids into the model's nested shape."""
    nested: dict[str, Any] = {"patient": {}, "referrer": {}, "practice": {}}
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
            for path, message in problem.problems.items():
                messages.setdefault(_input_for(path), message)
            continue
        path = ".".join(str(part) for part in error["loc"][:2])
        spec = FIELD_BY_PATH.get(path)
        if spec is None:
            messages.setdefault(FORM_ERROR, "The form could not be read: please start again")
            continue
        messages.setdefault(spec.input_id, _message(spec, error["type"], error["msg"], error_ctx))
    return messages


def _input_for(path: str) -> str:
    spec = FIELD_BY_PATH.get(path)
    return spec.input_id if spec else path


def _message(spec: FieldSpec, kind: str, msg: str, ctx: Mapping[str, Any]) -> str:
    """A message a user can act on, from pydantic's error type."""
    if kind == "field":
        return msg
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return f"{spec.label} is required"
    if kind == "string_too_short":
        return (
            f"{spec.label} is too short: write at least {ctx.get('min_length')} characters "
            "so the request can be justified"
        )
    if kind == "string_too_long":
        return f"{spec.label} is too long: at most {ctx.get('max_length')} characters"
    if kind in {"literal_error", "enum"}:
        return f"Choose one of the options for {spec.label}"
    return f"{spec.label} is not valid: please check it"


def _best_effort_rules(
    values: Mapping[str, str], directory: Directory, today: date
) -> dict[str, str]:
    """The conditional rules applied to a submission that failed elsewhere.

    The model only checks them once every field is valid; applying them here
    too saves the user a second round trip to learn, say, that pregnancy status
    is needed as well.
    """
    try:
        route = resolve_route(
            directory, values.get("trust"), values.get("modality"), values.get("department")
        )
    except RouteError as exc:
        return {exc.field: str(exc)}
    try:
        birth = check_birth_date(parse_form_date(values.get("patient_dob", "")), today)
    except FieldError:
        birth = None
    try:
        lmp: date | None = parse_form_date(values["lmp_date"]) if "lmp_date" in values else None
    except FieldError:
        lmp = None
    conditional = {FIELD_BY_ID[k].path: v for k, v in values.items() if k in _CONDITIONAL_IDS}
    conditional["lmp_date"] = lmp
    problems = conditional_problems(
        route, sex=values.get("patient_sex"), birth=birth, values=conditional, today=today
    )
    return {_input_for(path): message for path, message in problems.items()}


_CONDITIONAL_IDS = frozenset(spec.input_id for spec in FIELDS if spec.path in _CONDITIONAL_FIELDS)


def validate_choice(data: Mapping[str, Any], *, directory: Directory) -> Route | FormErrors:
    """The choose step: trust and modality must have a downtime mailbox before the form opens."""
    if not isinstance(data, Mapping):
        return FormErrors({FORM_ERROR: "The form could not be read: please start again"})
    trust, modality_id = (_as_text(data.get(key)) for key in ("trust", "modality"))
    try:
        return resolve_route(directory, (trust or "").strip(), (modality_id or "").strip())
    except RouteError as exc:
        return FormErrors({exc.field: str(exc)})


# --- From the model back to the card ----------------------------------------------------


def form_values(request: RadiologyRequest) -> dict[str, str]:
    """The request as the card's input values: prefill for Edit, data for Send.

    Sending the values back in the Send action's data keeps the bot stateless
    until Send, where they are validated again from scratch.
    """
    dumped = request.model_dump(mode="json")
    values: dict[str, str] = {}
    for spec in FIELDS:
        value: Any = dumped
        for part in spec.path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in (None, ""):
            values[spec.input_id] = str(value)
    values["nhs_number"] = format_nhs_number(request.patient.nhs_number)
    return values


def remembered_details(request: RadiologyRequest) -> tuple[dict[str, str], dict[str, str]]:
    """(practice, referrer) input values to keep in the user's profile for next time."""
    values = form_values(request)
    practice = {key: values[key] for key in PRACTICE_INPUTS if key in values}
    referrer = {key: values[key] for key in REFERRER_INPUTS if key in values}
    return practice, referrer


# --- The document -----------------------------------------------------------------------


def _field(label: str, value: str) -> DocumentField:
    return DocumentField(label, value)


def _uk_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _local(moment: datetime) -> datetime:
    return moment.astimezone(LONDON) if moment.tzinfo else moment


def _sections(
    request: RadiologyRequest, route: Route, reference: str, created_at: datetime
) -> tuple[Section, ...]:
    return (
        _request_section(request, route, reference, created_at),
        Section(
            "Clinical details",
            (
                _field("Clinical history", request.clinical_history),
                _field("Clinical question", request.clinical_question),
            ),
        ),
        _patient_section(request.patient, created_at),
        _safety_section(request, route),
        _access_section(request),
        Section(
            "Referrer",
            (
                _field("Name", request.referrer.name),
                _field("Role", request.referrer.role),
                _field(
                    "Professional registration",
                    f"{request.referrer.registration_body} {request.referrer.registration}".strip(),
                ),
            ),
        ),
        Section(
            "Practice",
            (
                _field("Practice name", request.practice.name),
                _field("ODS code", request.practice.ods_code),
                _field("Reply mailbox (nhs.net)", request.practice.email),
                _field("Practice phone", request.practice.phone),
            ),
        ),
    )


def _request_section(
    request: RadiologyRequest, route: Route, reference: str, created_at: datetime
) -> Section:
    return Section(
        "Request",
        (
            _field("Reference", reference),
            _field("Date/time requested", _local(created_at).strftime("%d/%m/%Y %H:%M")),
            _field("Trust", route.trust.name),
            _field("Department", route.department_label),
            _field("Modality", route.modality.name),
            _field("Examination / body part", request.examination),
            _field("Laterality", choice_title(LATERALITY_CHOICES, request.laterality)),
            _field("Priority", choice_title(PRIORITY_CHOICES, request.priority)),
        ),
    )


def _patient_section(patient: Patient, created_at: datetime) -> Section:
    address = ", ".join(
        part for part in (patient.address_line1, patient.address_line2, patient.town) if part
    )
    age = patient.age_on(_local(created_at).date())
    return Section(
        "Patient",
        (
            _field("Surname", patient.surname),
            _field("Forename(s)", patient.forenames),
            _field("Date of birth", f"{_uk_date(patient.date_of_birth)} (age {age})"),
            _field("NHS number", format_nhs_number(patient.nhs_number)),
            _field("Sex", choice_title(SEX_CHOICES, patient.sex)),
            _field("Address", address),
            _field("Postcode", patient.postcode),
            _field("Phone", patient.phone),
        ),
    )


def _safety_section(request: RadiologyRequest, route: Route) -> Section:
    fields: list[DocumentField] = []
    if route.ionising:
        fields.append(
            _field(
                "Between diaphragm and knees",
                choice_title(YES_NO_CHOICES, request.region_diaphragm_to_knees),
            )
        )
        fields.append(
            _field(
                "Pregnancy status",
                choice_title(PREGNANCY_CHOICES, request.pregnancy_status) or "Not applicable",
            )
        )
        fields.append(
            _field("LMP date", _uk_date(request.lmp_date) if request.lmp_date else "Not given")
        )
    else:
        fields.append(_field("Ionising radiation", "No: pregnancy questions not asked"))
    if route.contrast or request.contrast_allergies:
        fields.append(_field("Allergies (contrast)", request.contrast_allergies or "Not given"))
    return Section("Safety", tuple(fields))


def _access_section(request: RadiologyRequest) -> Section:
    interpreter = (
        f"Yes: {request.interpreter_language}" if request.interpreter_needed == "yes" else "No"
    )
    return Section(
        "Access needs",
        (
            _field("Interpreter", interpreter),
            _field("Mobility / transport", request.mobility_needs or "None stated"),
            _field("Reasonable adjustments", request.reasonable_adjustments or "None stated"),
        ),
    )
