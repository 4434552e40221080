"""Every field of a downtime radiology request, declared once.

A `FieldSpec` says everything the bot knows about one field: its input id and
model path, its label, its kind and limits, its shape rule, its choices, the
step of the form that asks it and the section of the email it is printed in,
and when it is asked at all. Everything else is derived from these
declarations and from nothing else:

- the pydantic model's fields, types, defaults and checks (`bot/orders/model.py`);
- the dialog's and the chat cards' inputs: `maxLength`, `regex`, `errorMessage`,
  `isRequired`, choices, hints (`bot/orders/form.py`);
- the review card, the email and its PDF (`bot/orders/document.py`);
- reading a submission and naming its errors (`bot/orders/errors.py`).

`tests/test_order_fields.py` proves the derivations agree. Which conditional
fields are *required* (pregnancy for a pelvic X-ray of someone who may be
pregnant, and so on) is clinical logic, kept apart in `bot/orders/rules.py`.

Card budgets. A review card carries every value up to five times (shown once;
Send and Back each an Action.Execute with an Action.Submit fallback), and Teams
measures a card as escaped JSON on the wire, where "漢" is six bytes, an emoji
twelve and a backslash two. So each free-text field has, besides its character
limit, a budget in escaped bytes (`budget`): plain text at its full length
fits; other alphabets, emoji or backslashes fit in fewer characters and are
refused next to the field beyond that. The limits keep a maximal request's
step and review cards under Teams' 28 KB (`tests/test_order_card_size.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from bot.orders.validation import (
    CLIENT_RULES,
    ClientRule,
    FieldError,
    check_multi_line,
    check_single_line,
    parse_form_date,
)

Kind = Literal["route", "text", "multiline", "choice", "date", "toggle"]
#: When a field is asked (rules.py decides each from the route and the values so far).
When = Literal["always", "paired_part", "ionising", "pelvic_ionising", "contrast", "mri"]
Choices = tuple[tuple[str, str], ...]

#: The room on a card for a choice's or a date's value (longer ones are not valid anyway).
SHORT_VALUE = 40
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


def cut_to_size(value: str, size: int) -> str:
    """The longest start of `value` whose `card_size` is at most `size`."""
    used = 0
    for kept, char in enumerate(value):
        used += card_size(char)
        if used > size:
            return value[:kept]
    return value


@dataclass(frozen=True, slots=True)
class Step:
    """One short step of the form (one dialog page, one chat card)."""

    id: str
    number: int
    title: str


STEPS: tuple[Step, ...] = (
    Step("exam", 1, "Examination and clinical details"),
    Step("patient", 2, "Patient"),
    Step("practice", 3, "Referrer and practice"),
)
STEP_BY_ID: Mapping[str, Step] = {step.id: step for step in STEPS}

#: The email's, the PDF's and the review card's sections, in order.
SECTIONS: tuple[str, ...] = (
    "Request",
    "Clinical details",
    "Patient",
    "Safety",
    "MRI safety",
    "Access needs",
    "Referrer",
    "Practice",
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of the request: where it lives, how it is asked, checked and printed."""

    #: The input id on the cards and the key in a submission's data.
    id: str
    #: Where the value lives in the model ("patient.surname").
    path: str
    #: What the field is called: the input's label and the error summary's name for it.
    label: str
    kind: Kind
    #: The step that asks it; None for the route (trust and modality), chosen before step 1.
    step: str | None
    #: The section of the email, PDF and review it is printed in.
    section: str
    #: Required whenever it is asked (`when`). Requirements that depend on other answers
    #: (pregnancy status for someone who may be pregnant, ...) live in rules.py.
    required: bool = True
    max_length: int = 0
    min_length: int = 0
    #: The shape rule shared by the card's `regex` and the server (validation.py).
    pattern: str | None = None
    choices: Choices = ()
    #: The value a request holds when the field is not asked (laterality: not applicable).
    unasked: str | None = None
    when: When = "always"
    #: The input's label, when it says more than `label` ("... (optional)").
    input_label: str | None = None
    #: The label in the email, PDF and review, when it differs from `label`.
    document_label: str | None = None
    #: Printed for an empty value; None leaves the line out.
    empty: str | None = None
    #: Printed (as `empty`) even when not asked: "Laterality: Not applicable" says it was
    #: considered, where a missing line could read as forgotten.
    always_printed: bool = False
    placeholder: str = ""
    #: A hint under the label, for what a placeholder cannot hold.
    help: str = ""
    #: Input.Text style ("tel", "email") or, for a choice, "expanded" radio buttons.
    style: str | None = None

    @property
    def budget(self) -> int:
        """The most escaped bytes a text value may take on a card."""
        return int(self.max_length * CARD_BYTES_PER_CHARACTER)

    @property
    def rule(self) -> ClientRule | None:
        return CLIENT_RULES[self.pattern] if self.pattern else None

    @property
    def asks(self) -> str:
        """The input's label."""
        return self.input_label or self.label

    @property
    def printed_as(self) -> str:
        """The label in the email, PDF and review."""
        return self.document_label or self.label

    @property
    def values(self) -> frozenset[str]:
        """The values a choice accepts (its choices, and the value of not being asked)."""
        accepted = {key for key, _ in self.choices}
        if self.unasked is not None:
            accepted.add(self.unasked)
        return frozenset(accepted)

    @property
    def is_text(self) -> bool:
        return self.kind in ("route", "text", "multiline")

    def title_of(self, value: str | None) -> str:
        """The wording of a choice as the user picked it; the value itself otherwise."""
        return next((title for key, title in self.choices if key == value), value or "")

    def clean(self, value: str) -> str | date:
        """The value checked against this declaration, normalised; FieldError otherwise.

        The message is what the user reads next to the field. Empty values never
        get here: a submission drops them, so a missing required field is
        "required" (errors.py), and an optional one takes its default.
        """
        if self.kind in ("choice", "toggle"):
            if value not in self.values:
                raise FieldError(f"Choose one of the options for {self.label}")
            return value
        if self.kind == "date":
            return parse_form_date(value)
        (check_multi_line if self.kind == "multiline" else check_single_line)(value)
        if len(value) > self.max_length:
            raise FieldError(f"{self.label} is too long: at most {self.max_length} characters")
        if len(value) < self.min_length:
            raise FieldError(
                f"{self.label} is too short: write at least {self.min_length} characters "
                "so the request can be justified"
            )
        if card_size(value) > self.budget:
            raise FieldError(TOO_LONG_FOR_A_CARD)
        return self.rule.clean(value) if self.rule else value

    def fit(self, value: str) -> str:
        """`value` cut to this field's limit and budget: what a card can hold of it.

        A choice or a date is short when it is valid; whatever else arrives in its
        place is cut to the same few bytes, so no value can swell a card.
        """
        if not self.is_text:
            return cut_to_size(value[:SHORT_VALUE], SHORT_VALUE)
        return cut_to_size(value[: self.max_length], self.budget)


LATERALITY_CHOICES: Choices = (("left", "Left"), ("right", "Right"), ("bilateral", "Bilateral"))
PRIORITY_CHOICES: Choices = (("routine", "Routine"), ("urgent", "Urgent"))
SEX_CHOICES: Choices = (
    ("female", "Female"),
    ("male", "Male"),
    ("other", "Other"),
    ("unknown", "Unknown"),
)
PREGNANCY_CHOICES: Choices = (
    ("not_pregnant", "Not pregnant"),
    ("possibly_pregnant", "Possibly pregnant"),
    ("pregnant", "Pregnant"),
    ("cannot_be_pregnant", "Cannot be pregnant (e.g. hysterectomy)"),
)
YES_NO_CHOICES: Choices = (("yes", "Yes"), ("no", "No"))
YES_NO_UNKNOWN_CHOICES: Choices = (("yes", "Yes"), ("no", "No"), ("not_known", "Not known"))
NOT_APPLICABLE = "not_applicable"
#: Marks the form's own guidance, which is not part of the BCP (sources: docs/clinical-safety.md).
FORM_CHECK = "Form check (not a BCP step): "

FIELDS: tuple[FieldSpec, ...] = (
    # --- The route: chosen first, because it decides the mailbox and the questions -----
    FieldSpec("trust", "trust", "Trust", "route", None, "Request", max_length=40),
    FieldSpec("department", "department", "Department", "route", None, "Request", max_length=40),
    FieldSpec(
        "modality",
        "modality",
        "Type of imaging",
        "route",
        None,
        "Request",
        max_length=40,
        document_label="Modality",
    ),
    # --- Step 1: examination and clinical details -------------------------------------
    FieldSpec(
        "examination",
        "examination",
        "Examination / body part",
        "text",
        "exam",
        "Request",
        max_length=200,
        min_length=2,
        help="Name the side for a paired body part.",
    ),
    FieldSpec(
        "laterality",
        "laterality",
        "Laterality",
        "choice",
        "exam",
        "Request",
        choices=LATERALITY_CHOICES,
        unasked=NOT_APPLICABLE,
        when="paired_part",
        input_label="Which side?",
        empty="Not applicable",
        always_printed=True,
        style="expanded",
    ),
    FieldSpec(
        "priority",
        "priority",
        "Priority",
        "choice",
        "exam",
        "Request",
        choices=PRIORITY_CHOICES,
        style="expanded",
    ),
    FieldSpec(
        "clinical_history",
        "clinical_history",
        "Clinical history",
        "multiline",
        "exam",
        "Clinical details",
        max_length=1000,
        min_length=10,
        placeholder="Symptoms, duration, relevant findings and history",
    ),
    FieldSpec(
        "clinical_question",
        "clinical_question",
        "Clinical question",
        "multiline",
        "exam",
        "Clinical details",
        max_length=500,
        min_length=10,
        placeholder="What should the examination answer?",
    ),
    FieldSpec(
        "region",
        "region_diaphragm_to_knees",
        "Between diaphragm and knees",
        "choice",
        "exam",
        "Safety",
        choices=YES_NO_CHOICES,
        when="ionising",
        input_label="Does the examination include the area between the diaphragm and the knees?",
        style="expanded",
    ),
    FieldSpec(
        "contrast_allergies",
        "contrast_allergies",
        "Allergies (contrast)",
        "multiline",
        "exam",
        "Safety",
        max_length=250,
        when="contrast",
        empty="Not given",
        placeholder='For example: None known, or "iodinated contrast: urticaria"',
    ),
    FieldSpec(
        "mri_device",
        "mri_device",
        "Pacemaker or other implanted device",
        "choice",
        "exam",
        "MRI safety",
        choices=YES_NO_UNKNOWN_CHOICES,
        when="mri",
        input_label=(
            "Does the patient have a pacemaker, defibrillator or other implanted device "
            "(e.g. cochlear implant, neurostimulator, drug pump)?"
        ),
        style="expanded",
    ),
    FieldSpec(
        "mri_metal",
        "mri_metal",
        "Metal fragments",
        "choice",
        "exam",
        "MRI safety",
        choices=YES_NO_UNKNOWN_CHOICES,
        when="mri",
        input_label=(
            "Could there be metal fragments in the body, e.g. in the eyes from metalwork "
            "or grinding, or shrapnel?"
        ),
        style="expanded",
    ),
    FieldSpec(
        "mri_implants",
        "mri_implants",
        "Previous surgery with implants",
        "choice",
        "exam",
        "MRI safety",
        choices=YES_NO_UNKNOWN_CHOICES,
        when="mri",
        input_label=(
            "Has the patient had surgery with implants (e.g. clips, stents, heart valves, "
            "joint replacements)?"
        ),
        style="expanded",
    ),
    FieldSpec(
        "mri_details",
        "mri_details",
        "Device, metal or implant details",
        "multiline",
        "exam",
        "MRI safety",
        required=False,
        max_length=250,
        when="mri",
        input_label="Details of any device, metal or implant (needed for any Yes)",
        empty="None given",
    ),
    # --- Step 2: the patient ----------------------------------------------------------
    FieldSpec(
        "patient_surname",
        "patient.surname",
        "Surname",
        "text",
        "patient",
        "Patient",
        max_length=100,
    ),
    FieldSpec(
        "patient_forenames",
        "patient.forenames",
        "Forename(s)",
        "text",
        "patient",
        "Patient",
        max_length=100,
    ),
    FieldSpec(
        "patient_dob", "patient.date_of_birth", "Date of birth", "date", "patient", "Patient"
    ),
    FieldSpec(
        "patient_sex", "patient.sex", "Sex", "choice", "patient", "Patient", choices=SEX_CHOICES
    ),
    FieldSpec(
        "nhs_number",
        "patient.nhs_number",
        "NHS number",
        "text",
        "patient",
        "Patient",
        max_length=20,
        pattern="nhs_number",
        placeholder="10 digits",
    ),
    FieldSpec(
        "address_line1",
        "patient.address_line1",
        "Address line 1",
        "text",
        "patient",
        "Patient",
        max_length=100,
    ),
    FieldSpec(
        "address_line2",
        "patient.address_line2",
        "Address line 2",
        "text",
        "patient",
        "Patient",
        required=False,
        max_length=100,
        input_label="Address line 2 (optional)",
    ),
    FieldSpec(
        "address_town", "patient.town", "Town or city", "text", "patient", "Patient", max_length=60
    ),
    FieldSpec(
        "postcode",
        "patient.postcode",
        "Postcode",
        "text",
        "patient",
        "Patient",
        max_length=10,
        pattern="postcode",
    ),
    FieldSpec(
        "patient_phone",
        "patient.phone",
        "Patient phone",
        "text",
        "patient",
        "Patient",
        max_length=25,
        pattern="phone",
        document_label="Phone",
        style="tel",
    ),
    FieldSpec(
        "pregnancy_status",
        "pregnancy_status",
        "Pregnancy status",
        "choice",
        "patient",
        "Safety",
        required=False,
        choices=PREGNANCY_CHOICES,
        when="pelvic_ionising",
        input_label="Pregnancy status (if the patient may be pregnant)",
        empty="Not applicable",
    ),
    FieldSpec(
        "lmp_date",
        "lmp_date",
        "LMP date",
        "date",
        "patient",
        "Safety",
        required=False,
        when="pelvic_ionising",
        input_label="First day of last menstrual period (LMP)",
        empty="Not given",
    ),
    FieldSpec(
        "interpreter_needed",
        "interpreter_needed",
        "Interpreter",
        "toggle",
        "patient",
        "Access needs",
        required=False,
        choices=YES_NO_CHOICES,
        unasked="no",
        input_label="An interpreter is needed",
    ),
    FieldSpec(
        "interpreter_language",
        "interpreter_language",
        "Interpreter language",
        "text",
        "patient",
        "Access needs",
        required=False,
        max_length=60,
        input_label="Interpreter language (if needed)",
    ),
    FieldSpec(
        "mobility_needs",
        "mobility_needs",
        "Mobility / transport needs",
        "multiline",
        "patient",
        "Access needs",
        required=False,
        max_length=250,
        input_label="Mobility / transport needs (optional)",
        empty="None stated",
        document_label="Mobility / transport",
    ),
    FieldSpec(
        "reasonable_adjustments",
        "reasonable_adjustments",
        "Reasonable adjustments",
        "multiline",
        "patient",
        "Access needs",
        required=False,
        max_length=250,
        input_label="Reasonable adjustments (optional)",
        empty="None stated",
    ),
    # --- Step 3: referrer and practice (remembered per user for next time) -----------
    FieldSpec(
        "referrer_name",
        "referrer.name",
        "Referrer name",
        "text",
        "practice",
        "Referrer",
        max_length=100,
        document_label="Name",
    ),
    FieldSpec(
        "referrer_role",
        "referrer.role",
        "Referrer role",
        "text",
        "practice",
        "Referrer",
        max_length=60,
        document_label="Role",
        placeholder="For example: GP, nurse practitioner",
    ),
    FieldSpec(
        "referrer_registration",
        "referrer.registration",
        "Registration number",
        "text",
        "practice",
        "Referrer",
        max_length=12,
        pattern="registration",
        input_label="GMC, NMC or HCPC registration number",
        document_label="Professional registration",
    ),
    FieldSpec(
        "practice_name",
        "practice.name",
        "Practice name",
        "text",
        "practice",
        "Practice",
        max_length=120,
    ),
    FieldSpec(
        "practice_ods",
        "practice.ods_code",
        "Practice ODS code",
        "text",
        "practice",
        "Practice",
        max_length=8,
        pattern="ods_code",
        document_label="ODS code",
        placeholder="For example: G85001",
    ),
    FieldSpec(
        "practice_email",
        "practice.email",
        "Practice nhs.net mailbox",
        "text",
        "practice",
        "Practice",
        max_length=100,
        pattern="nhs_mail",
        input_label="Practice nhs.net reply mailbox (monitored)",
        document_label="Reply mailbox (nhs.net)",
        style="email",
    ),
    FieldSpec(
        "practice_phone",
        "practice.phone",
        "Practice phone",
        "text",
        "practice",
        "Practice",
        max_length=25,
        pattern="phone",
        style="tel",
    ),
)

FIELD_BY_ID: Mapping[str, FieldSpec] = {spec.id: spec for spec in FIELDS}
FIELD_BY_PATH: Mapping[str, FieldSpec] = {spec.path: spec for spec in FIELDS}
ROUTE_FIELDS: tuple[FieldSpec, ...] = tuple(spec for spec in FIELDS if spec.step is None)
# Remembered per user and prefilled next time (bot/store/profiles.py keeps them).
PRACTICE_INPUTS: tuple[str, ...] = tuple(s.id for s in FIELDS if s.section == "Practice")
REFERRER_INPUTS: tuple[str, ...] = tuple(s.id for s in FIELDS if s.section == "Referrer")


def fields_of_step(step: str) -> tuple[FieldSpec, ...]:
    """The fields a step asks (when they apply), in the order the card shows them."""
    return tuple(spec for spec in FIELDS if spec.step == step)


def step_of(field_id: str) -> Step | None:
    """The step that asks a field; None for the route or an unknown id."""
    spec = FIELD_BY_ID.get(field_id)
    return STEP_BY_ID[spec.step] if spec is not None and spec.step else None


def summary_line(field_id: str, message: str) -> str:
    """ "NHS number: check digit is wrong": an error as the summary at the top names it.

    The field's label and the message's first clause: the whole message is under
    the field itself, and a summary of many errors must still fit on the card.
    """
    spec = FIELD_BY_ID.get(field_id)
    message = message.split(": ")[0].split(". ")[0]
    if spec is None:
        return message
    label = spec.label
    if message.lower().startswith(label.lower()):
        rest = message[len(label) :].lstrip(" :").removeprefix("is ")
        return f"{label}: {rest}" if rest else label
    return f"{label}: {message[:1].lower()}{message[1:]}"


__all__ = [
    "FIELDS",
    "FIELD_BY_ID",
    "FIELD_BY_PATH",
    "FORM_CHECK",
    "PRACTICE_INPUTS",
    "REFERRER_INPUTS",
    "SECTIONS",
    "STEPS",
    "STEP_BY_ID",
    "TOO_LONG_FOR_A_CARD",
    "FieldSpec",
    "Step",
    "card_size",
    "cut_to_size",
    "fields_of_step",
    "step_of",
    "summary_line",
]
