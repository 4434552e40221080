"""One declaration per request field, and everything derived from it agrees.

Each field is declared once in `bot/orders/fields.py`. These tests hold the
derivations to it: the pydantic model (its fields, defaults and limits), the
inputs on the dialog's and the chat's step cards (`maxLength`, `regex`,
`errorMessage`, `isRequired`, choices), the review card, the email and its PDF.
Before the one declaration, a field was described in up to five places, and
they disagreed: the card limited the NHS number, ODS code and registration to
20, 8 and 12 characters while the model allowed 30 (docs/decisions.md, D22).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pypdf import PdfReader

from bot.directory import load_directory
from bot.mail.compose import compose_email
from bot.mail.pdf import render_pdf
from bot.orders.errors import FormErrors, validate_submission
from bot.orders.fields import (
    FIELD_BY_ID,
    FIELDS,
    SECTIONS,
    STEP_BY_ID,
    STEPS,
    TOO_LONG_FOR_A_CARD,
    FieldSpec,
    card_size,
    cut_to_size,
    step_of,
    summary_line,
)
from bot.orders.form import review_context, step_context
from bot.orders.form_review import DOCUMENT, render
from bot.orders.model import PARTS, RadiologyRequest
from bot.orders.validation import FieldError
from cards import CardRenderer
from tests.support.cards import card_text, inputs_of
from tests.support.payloads import valid_payload

DIRECTORY = load_directory()
TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)
RENDERER = CardRenderer()

#: Two requests that between them ask every question the form has.
EVERYTHING_ASKED = {
    # GSTT CT of the pelvis for a woman of 46: region, pregnancy, contrast; a paired part.
    "ct": valid_payload(
        trust="gstt",
        department="radiology",
        modality="ct",
        examination="CT knee and pelvis",
        laterality="left",
        region="yes",
        pregnancy_status="not_pregnant",
        lmp_date="2026-11-10",
        contrast_allergies="None known",
        address_line2="Flat 2",
        interpreter_needed="yes",
        interpreter_language="Polish",
        mobility_needs="Wheelchair user",
        reasonable_adjustments="Needs a hoist",
    ),
    # GSTT MRI: the MRI safety questions.
    "mri": valid_payload(
        trust="gstt",
        department="radiology",
        modality="mri",
        contrast_allergies="Gadolinium: none known",
        mri_device="yes",
        mri_metal="no",
        mri_implants="not_known",
        mri_details="Pacemaker fitted 2019 (make unknown)",
    ),
}


def request(name: str) -> RadiologyRequest:
    checked = validate_submission(EVERYTHING_ASKED[name], directory=DIRECTORY, today=TODAY)
    assert isinstance(checked, RadiologyRequest), checked
    return checked


def step_card_inputs(name: str, step: str, **values: str) -> dict[str, dict[str, Any]]:
    """The inputs one step shows for this request (step 3 opened, not summarised)."""
    context = step_context(
        step,
        form_id="f",
        owner="u",
        route=request(name).route(DIRECTORY),
        today=TODAY,
        values={**EVERYTHING_ASKED[name], **values},
        change=True,
    )
    return inputs_of(RENDERER.render("order_step", context))


def step_inputs(name: str) -> dict[str, dict[str, Any]]:
    """Every input of the three steps for this request."""
    found: dict[str, dict[str, Any]] = {}
    for step in STEPS:
        found |= step_card_inputs(name, step.id)
    return found


def model_leaves(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves |= model_leaves(annotation, f"{prefix}{name}.")
        else:
            leaves[f"{prefix}{name}"] = info
    return leaves


ASKED = {spec.id for spec in FIELDS if spec.step is not None}


def test_every_declaration_is_whole() -> None:
    assert len(FIELD_BY_ID) == len(FIELDS), "input ids are unique"
    for spec in FIELDS:
        assert spec.section in SECTIONS, spec.id
        assert spec.step is None or spec.step in STEP_BY_ID, spec.id
        assert spec.path.partition(".")[0] in PARTS or "." not in spec.path, spec.id
        if spec.is_text:
            assert spec.max_length > 0 and spec.budget >= spec.max_length, spec.id
        if spec.kind in ("choice", "toggle"):
            assert spec.choices, spec.id
        if spec.pattern:
            assert spec.kind == "text" and spec.rule is not None, spec.id


def test_the_model_has_exactly_the_declared_fields() -> None:
    leaves = model_leaves(RadiologyRequest)
    assert set(leaves) - {"form_version"} == {spec.path for spec in FIELDS}
    for spec in FIELDS:
        always = spec.required and spec.when == "always"
        assert leaves[spec.path].is_required() == always, spec.id


@pytest.mark.parametrize("spec", [s for s in FIELDS if s.is_text and s.step], ids=lambda s: s.id)
def test_the_model_refuses_one_character_over_the_declared_limit(spec: FieldSpec) -> None:
    name = "mri" if spec.when == "mri" else "ct"
    over = "9" * (spec.max_length + 1) if spec.pattern else "a" * (spec.max_length + 1)
    errors = validate_submission(
        {**EVERYTHING_ASKED[name], spec.id: over}, directory=DIRECTORY, today=TODAY
    )
    assert isinstance(errors, FormErrors) and spec.id in errors, spec.id
    if not spec.pattern:
        assert errors[spec.id] == f"{spec.label} is too long: at most {spec.max_length} characters"


@pytest.mark.parametrize("spec", [s for s in FIELDS if s.is_text and s.step], ids=lambda s: s.id)
def test_the_model_refuses_text_over_its_declared_card_budget(spec: FieldSpec) -> None:
    if spec.pattern:
        pytest.skip("a shape rule allows only ASCII: one byte a character")
    name = "mri" if spec.when == "mri" else "ct"
    heavy = "😀" * spec.max_length  # 12 escaped bytes each: far over any budget
    errors = validate_submission(
        {**EVERYTHING_ASKED[name], spec.id: heavy}, directory=DIRECTORY, today=TODAY
    )
    assert isinstance(errors, FormErrors) and errors.get(spec.id) == TOO_LONG_FOR_A_CARD


def test_every_asked_field_is_an_input_on_its_own_step() -> None:
    asked: set[str] = set()
    for name in EVERYTHING_ASKED:
        for step in STEPS:
            # Laterality is asked when the examination names a paired part without its side.
            shown = set(step_card_inputs(name, step.id, examination="CT knee"))
            assert {FIELD_BY_ID[i].step for i in shown} <= {step.id}, (name, step.id)
            asked |= shown
    assert asked == ASKED


def test_every_input_carries_its_declaration() -> None:
    shown = step_inputs("ct") | step_inputs("mri")
    for field_id, element in shown.items():
        spec = FIELD_BY_ID[field_id]
        assert element["label" if spec.kind != "toggle" else "title"] == spec.asks, field_id
        if spec.kind != "toggle":
            assert element["isRequired"] is spec.required, field_id
        if spec.is_text:
            assert element["maxLength"] == spec.max_length, field_id
            assert ("isMultiline" in element) is (spec.kind == "multiline"), field_id
        if spec.rule:
            assert element["regex"] == spec.rule.regex, field_id
            assert element["errorMessage"] == spec.rule.error_message, field_id
        if spec.kind == "choice":
            offered = [(c["value"], c["title"]) for c in element["choices"]]
            assert offered == list(spec.choices), field_id
        if spec.placeholder:
            assert element["placeholder"] == spec.placeholder, field_id


def test_the_bugs_in_the_old_limits_are_gone() -> None:
    """The card said 20, 8 and 12; the model took 30. Now both say what the declaration does."""
    limits = {"nhs_number": 20, "practice_ods": 8, "referrer_registration": 12}
    shown = step_inputs("ct")
    for field_id, limit in limits.items():
        assert FIELD_BY_ID[field_id].max_length == shown[field_id]["maxLength"] == limit
    # A number the card could never hold (25 characters) but the old model took.
    spaced = "  ".join("9990000018") + "   "
    assert len(spaced.strip()) == 28
    over = validate_submission(
        {**EVERYTHING_ASKED["ct"], "nhs_number": spaced}, directory=DIRECTORY, today=TODAY
    )
    assert isinstance(over, FormErrors) and "at most 20 characters" in over["nhs_number"]


def _printed(name: str) -> dict[tuple[str, str], str]:
    document = request(name).as_document("DT-20261129-0007", NOW, DIRECTORY)
    return {(s.title, f.label): f.value for s in document.sections for f in s.fields}


def test_every_field_is_printed_under_its_declared_section_and_label() -> None:
    printed = _printed("ct") | _printed("mri")
    for spec in FIELDS:
        assert (spec.section, spec.printed_as) in printed, spec.id
    assert _printed("ct")[("Request", "Laterality")] == "Left"
    assert _printed("mri")[("Request", "Laterality")] == "Not applicable"
    assert printed[("MRI safety", "Pacemaker or other implanted device")] == "Yes"
    assert printed[("MRI safety", "Previous surgery with implants")] == "Not known"


def test_the_review_card_the_email_and_the_pdf_show_every_field() -> None:
    for name in EVERYTHING_ASKED:
        checked = request(name)
        document = checked.as_document("DT-20261129-0007", NOW, DIRECTORY)
        review = card_text(
            RENDERER.render(
                "order_review",
                review_context(checked, form_id="f", owner="u", directory=DIRECTORY, now=NOW),
            )
        )
        email = compose_email(document, sender="bot@nhs.net", render_attachment=lambda _: b"")
        text = email.get_body(preferencelist=("plain",)).get_content()
        pdf = "\n".join(
            page.extract_text() for page in PdfReader(io.BytesIO(render_pdf(document))).pages
        )
        for section in document.sections:
            for line in section.fields:
                if line.label in ("Reference", "Date/time requested"):
                    continue  # the review shows "Allocated when you press Send"
                assert line.label in review and line.value.splitlines()[0] in review, line
                assert line.label in text and line.value.splitlines()[0] in text, line
                assert line.label in pdf.replace("\n", " "), line


def test_the_reviewed_form_document_is_the_form_as_declared() -> None:
    """docs/request-form.md is how a clinical reviewer reads the form: any change to a
    question, a choice, a limit, a section or a printed label changes the form, and
    must change that document too, so the change is seen in review."""
    committed = (Path(__file__).resolve().parent.parent / DOCUMENT).read_text(encoding="utf-8")
    assert committed == render(), "the form changed: run `make docs` and review the diff"


def test_the_reviewed_form_document_names_every_question_once() -> None:
    rows = render().splitlines()
    for spec in FIELDS:
        assert sum(row.startswith(f"| {spec.asks} |") for row in rows) == 1, spec.id
        assert sum(row.startswith(f"| `{spec.id}` | `{spec.path}` |") for row in rows) == 1


# --- the declarations' own helpers -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [("a", 1), ('"', 2), ("\\", 2), ("\n", 2), ("漢", 6), ("😀", 12), ("ab漢", 8), ("", 0)],
)
def test_a_values_card_size_is_its_escaped_bytes_on_the_wire(value: str, size: int) -> None:
    assert card_size(value) == size


@pytest.mark.parametrize(
    ("value", "size", "kept"),
    [
        ("abcd", 3, "abc"),
        ("abc", 3, "abc"),  # exactly the size fits
        ("ab漢", 7, "ab"),  # a character that does not fit whole is left out
        ("ab漢", 8, "ab漢"),
        ("漢a", 1, ""),
        ("a漢a", 7, "a漢"),  # the room is counted over every character so far
    ],
)
def test_cut_to_size_keeps_the_longest_start_that_fits(value: str, size: int, kept: str) -> None:
    assert cut_to_size(value, size) == kept


def test_a_choice_or_date_is_cut_to_the_short_room_whatever_arrives() -> None:
    assert FIELD_BY_ID["priority"].fit("x" * 50) == "x" * 40
    assert FIELD_BY_ID["patient_dob"].fit("漢" * 10) == "漢" * 6


def test_a_choice_is_printed_as_the_user_saw_it_and_anything_else_as_it_is() -> None:
    priority = FIELD_BY_ID["priority"]
    assert priority.title_of("urgent") == "Urgent"
    assert priority.title_of("soon") == "soon"
    assert priority.title_of(None) == ""


def test_only_multi_line_fields_take_line_breaks() -> None:
    history = "Pain for two weeks.\nWorse at night."
    assert FIELD_BY_ID["clinical_history"].clean(history) == history
    with pytest.raises(FieldError, match="single line"):
        FIELD_BY_ID["examination"].clean("X-ray\nleft knee")


def test_too_short_clinical_text_says_why_it_is_needed() -> None:
    with pytest.raises(FieldError) as short:
        FIELD_BY_ID["clinical_history"].clean("Pain")
    assert str(short.value) == (
        "Clinical history is too short: write at least 10 characters "
        "so the request can be justified"
    )


def test_each_field_belongs_to_the_step_that_asks_it() -> None:
    assert [step_of(i).id for i in ("examination", "nhs_number", "practice_ods")] == [
        "exam",
        "patient",
        "practice",
    ]
    assert step_of("trust") is None  # the route is chosen before step 1
    assert step_of("no_such_field") is None


@pytest.mark.parametrize(
    ("field_id", "message", "line"),
    [
        (
            "nhs_number",
            "NHS number check digit is wrong: please re-check the 10 digits",
            "NHS number: check digit is wrong",
        ),
        ("patient_surname", "Surname is too long: at most 100 characters", "Surname: too long"),
        ("patient_surname", "Required", "Surname: required"),
        ("patient_surname", "Surname", "Surname"),
        (
            "postcode",
            "Enter a UK postcode, for example SE1 7EH",
            "Postcode: enter a UK postcode, for example SE1 7EH",
        ),
        ("examination", "Too long. Shorten it", "Examination / body part: too long"),
        ("no_such_field", "Something went wrong. Try again: now", "Something went wrong"),
    ],
)
def test_the_summary_names_the_field_and_the_first_clause(
    field_id: str, message: str, line: str
) -> None:
    assert summary_line(field_id, message) == line


def test_a_submission_without_the_interpreter_toggle_means_no_interpreter() -> None:
    """A client that leaves an unticked toggle out (Teams sends its valueOff; a forged or
    older card may not) still gets a request that says No, never an empty answer."""
    payload = valid_payload()
    del payload["interpreter_needed"]
    checked = validate_submission(payload, directory=DIRECTORY, today=TODAY)
    assert isinstance(checked, RadiologyRequest)
    assert checked.interpreter_needed == "no"


def test_text_exactly_at_its_card_budget_fits() -> None:
    """Examination: 200 characters and 260 bytes on a card. 188 letters and 12 "漢"
    (six escaped bytes each) are 200 characters and exactly 260 bytes; 183 letters and
    13 "漢" are fewer characters but 261 bytes, over the budget."""
    examination = FIELD_BY_ID["examination"]
    exact = "x" * 188 + "漢" * 12
    assert (len(exact), card_size(exact)) == (200, examination.budget)
    assert examination.clean(exact) == exact
    with pytest.raises(FieldError, match="Too long to fit on a Teams card"):
        examination.clean("x" * 183 + "漢" * 13)
