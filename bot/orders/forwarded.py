"""A completed trust form the user attached, and where it goes.

BCP step 1 is "complete the downtime order form" (GSTT's "Radiology -
referrals" inside EMIS, KCH's "General imaging"); step 2 is "email the
completed request form to the appropriate radiology department". A
`ForwardedRequest` is step 2 done for the user: the file they attached, the
route that picks the mailbox (trust; for KCH the modality), the practice
that replies go to, and the priority if their message named one.

The file's name is not part of the request: it often holds a patient's name
or NHS number, and nothing that leaves the bot (email, subject, attachment
name, log) needs it. The file itself is held in the store (bot/store/files.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ValidationError, ValidationInfo, model_validator

from bot.directory import Department, Directory, Trust
from bot.files.content import BY_EXTENSION, Extension, megabytes
from bot.orders.document import RequestDocument, routed_document
from bot.orders.errors import FORM_ERROR, FormErrors, as_text, message_for
from bot.orders.fields import FIELD_BY_ID
from bot.orders.model import RuleViolations, _Part, text_checks
from bot.orders.routing import RouteError, resolve_route
from bot.vocabulary import modality

#: Inputs of the forwarding card, in the order they are asked.
FORWARD_INPUTS = ("trust", "modality", "practice_name", "practice_ods", "practice_email")
PRACTICE_FIELDS = {"practice_name": "name", "practice_ods": "ods_code", "practice_email": "email"}
#: The priorities a message may name with its form; anything else is no priority.
PRIORITIES = frozenset(value for value, _ in FIELD_BY_ID["priority"].choices)


@dataclass(frozen=True, slots=True)
class ForwardRoute:
    """Where a forwarded form goes. GSTT takes any radiology at one mailbox, so no modality."""

    trust: Trust
    department: Department
    modality_name: str | None = None

    @property
    def mailbox(self) -> str:
        return str(self.department.mailbox)

    @property
    def department_label(self) -> str:
        if self.modality_name is None or self.modality_name == self.department.name:
            return self.department.name
        return f"{self.department.name} ({self.modality_name})"


def route_to(directory: Directory, trust_id: str | None, modality_id: str | None) -> ForwardRoute:
    """The mailbox for a trust and (for KCH) a modality; RouteError when the BCP gives none.

    The same rule and words as the bot's own form (`resolve_route`): a KCH
    modality with no mailbox in the BCP has no downtime route, never a guess.
    """
    trust = directory.trust(trust_id or "")
    if trust is None:
        raise RouteError("trust", "Choose the trust: GSTT or King's")
    if trust.single_mailbox and modality(modality_id) is None:
        return ForwardRoute(trust, trust.departments[0])
    route = resolve_route(directory, trust.id, modality_id)
    return ForwardRoute(route.trust, route.department, route.modality.name)


def route_of_record(
    directory: Directory, trust_id: str, department_id: str, modality_id: str | None
) -> ForwardRoute:
    """The route a stored request (either kind) was sent by, for its confirmation card."""
    route = route_to(directory, trust_id, modality_id or department_id)
    if route.department.id != department_id:
        raise RouteError("modality", "The department does not match the trust")
    return route


class ForwardPractice(_Part):
    """Where rejections and results go, as the bot's own form asks for it (phone aside).

    The same rule for the mailbox as the bot's own form: never one the BCP names. Each
    field is checked by the bot's own form's declaration of it.
    """

    name: Annotated[str, *text_checks("practice_name")]
    ods_code: Annotated[str, *text_checks("practice_ods")]
    email: Annotated[str, *text_checks("practice_email")]


class AttachedFile(_Part):
    """What the attached form is, as the bot found it (never what its name claims)."""

    media_type: str
    extension: Extension
    size: int
    sha256: str


class ForwardedRequest(_Part):
    """One completed trust form, routed: one request, one email, the file attached unchanged."""

    kind: Literal["file"] = "file"
    # Checked as the bot's own form's trust and priority (route ids share the trust's check).
    trust: Annotated[str, *text_checks("trust")]
    department: Annotated[str, *text_checks("trust")]
    modality: Annotated[str, *text_checks("trust")] | None = None
    priority: Annotated[str, *text_checks("priority")] | None = None
    practice: ForwardPractice
    file: AttachedFile

    @model_validator(mode="after")
    def _routed(self, info: ValidationInfo) -> ForwardedRequest:
        directory = (info.context or {}).get("directory")
        if not isinstance(directory, Directory):
            raise ValueError("validate with context={'directory': Directory}")
        try:
            route_of_record(directory, self.trust, self.department, self.modality)
        except RouteError as exc:
            raise RuleViolations({exc.field: str(exc)}) from None
        return self

    def route(self, directory: Directory) -> ForwardRoute:
        return route_of_record(directory, self.trust, self.department, self.modality)

    def as_document(
        self, reference: str, created_at: datetime, directory: Directory
    ) -> RequestDocument:
        """The routing facts, for the email's headers and covering note (no sections: the
        request itself is the attached file)."""
        return routed_document(
            reference=reference,
            created_at=created_at,
            route=self.route(directory),
            priority=self.priority_title,
            practice=self.practice,
        )

    @property
    def priority_title(self) -> str:
        return FIELD_BY_ID["priority"].title_of(self.priority) if self.priority else ""

    @property
    def kind_label(self) -> str:
        return BY_EXTENSION[self.file.extension].label


#: How a confirmation names the form a forwarded request carried.
FORM_ATTACHED = "completed form attached"


def attached_description(payload: Mapping[str, Any] | None) -> str:
    """ "completed form attached (PDF, 240 KB)": never the file's name.

    Read leniently from what the outbox holds: a purged payload (or one an
    older release wrote) still gets a card, never a failed notice.
    """
    file = payload.get("file") if isinstance(payload, Mapping) else None
    extension = file.get("extension") if isinstance(file, Mapping) else None
    kind = BY_EXTENSION.get(extension) if isinstance(extension, str) else None
    size = file.get("size") if isinstance(file, Mapping) else None
    if kind is None or not isinstance(size, int):
        return FORM_ATTACHED
    return f"{FORM_ATTACHED} ({kind.label}, {megabytes(size)})"


def validate_forward(
    data: object,
    *,
    directory: Directory,
    file: AttachedFile,
    priority: str | None,
) -> ForwardedRequest | FormErrors:
    """Check the forwarding card's inputs; the request, or every problem by input id.

    Never raises. The file's facts come from the store, never from the card.
    """
    if not isinstance(data, Mapping):
        return FormErrors({FORM_ERROR: "The form could not be read: please start again"})
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for input_id in FORWARD_INPUTS:
        text = as_text(data.get(input_id))
        if text is None or len(text) > 1000:
            errors[input_id] = f"{FIELD_BY_ID[input_id].label} could not be read: enter it again"
        elif text.strip():
            values[input_id] = text.strip()
    try:
        route = route_to(directory, values.get("trust"), values.get("modality"))
    except RouteError as exc:
        errors.setdefault(exc.field, str(exc))
        route = None
    practice = {PRACTICE_FIELDS[k]: v for k, v in values.items() if k in PRACTICE_FIELDS}
    try:
        request = ForwardedRequest.model_validate(
            {
                "trust": route.trust.id if route else values.get("trust", "-"),
                "department": route.department.id if route else "-",
                "modality": values.get("modality") if route and route.modality_name else None,
                "priority": priority if priority in PRIORITIES else None,
                "practice": practice,
                "file": file.model_dump(),
            },
            context={"directory": directory},
        )
    except ValidationError as exc:
        for error in exc.errors():
            problem = (error.get("ctx") or {}).get("error")
            if isinstance(problem, RuleViolations):
                for field, message in problem.problems.items():
                    errors.setdefault(field, message)
                continue
            loc = [str(part) for part in error["loc"]]
            field_id = _input_of(loc)
            if field_id is None:
                errors.setdefault(FORM_ERROR, "The form could not be read: please start again")
                continue
            spec = FIELD_BY_ID[field_id]
            message = message_for(spec, error["type"], error["msg"])
            errors.setdefault(field_id, message)
        return FormErrors(errors)
    return FormErrors(errors) if errors else request


def _input_of(loc: list[str]) -> str | None:
    if loc[:1] == ["practice"] and len(loc) > 1:
        return next((k for k, v in PRACTICE_FIELDS.items() if v == loc[1]), None)
    if loc[:1] in (["trust"], ["modality"]):
        return loc[0]
    return None


def forward_values(request: ForwardedRequest) -> dict[str, str]:
    """The request as the card's input values (for Edit and the Send action's data)."""
    values = {
        "trust": request.trust,
        "practice_name": request.practice.name,
        "practice_ods": request.practice.ods_code,
        "practice_email": request.practice.email,
    }
    if request.modality:
        values["modality"] = request.modality
    return values


def remembered_practice(request: ForwardedRequest) -> dict[str, str]:
    """The practice details to keep in the profile (merged with what it already holds)."""
    return {
        "practice_name": request.practice.name,
        "practice_ods": request.practice.ods_code,
        "practice_email": request.practice.email,
    }
