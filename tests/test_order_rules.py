"""The form's conditional questions (docs/clinical-safety.md, H20): laterality for paired
body parts, MRI safety screening, and answers to questions a route does not ask.

Pure rules from `bot/orders/rules.py`, through `validate_submission` (what a
card's Next, Review and Send run) and the stored-payload path the outbox
worker re-reads a request with.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.directory import load_directory
from bot.orders.delivery import request_from_payload
from bot.orders.errors import FormErrors, validate_submission
from bot.orders.fields import FIELD_BY_ID, summary_line
from bot.orders.model import RadiologyRequest
from bot.orders.routing import resolve_route
from bot.orders.rules import (
    FORM_VERSION,
    PREGNANCY_AGES,
    applies,
    conditional_problems,
    pregnancy_required,
    settle,
    shown,
)
from bot.vocabulary import PAIRED_BODY_PARTS, paired_part_in, side_in
from tests.support.payloads import valid_payload

DIRECTORY = load_directory()
TODAY = date(2026, 11, 29)
KCH_XRAY = {"trust": "kch", "department": "xray", "modality": "xray", "region": "no"}
GSTT_MRI = {
    "trust": "gstt",
    "department": "radiology",
    "modality": "mri",
    "contrast_allergies": "None known",
}
MRI_ANSWERS = {"mri_device": "no", "mri_metal": "no", "mri_implants": "no"}


def submit(**changes: Any) -> RadiologyRequest | FormErrors:
    return validate_submission(valid_payload(**changes), directory=DIRECTORY, today=TODAY)


# --- laterality -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("examination", "part", "side"),
    [
        ("X-ray left knee", "knee", "left"),
        ("Right wrist and scaphoid views", "wrist", "right"),
        ("Ultrasound both breasts", "breasts", "bilateral"),
        ("Bilateral hips", "hips", "bilateral"),
        ("MRI lower leg", "lower leg", None),
        ("X-ray left knee and right hip", "knee", None),
        ("Ultrasound abdomen", None, None),
        ("Right upper quadrant pain", None, "right"),
        ("Left and bilateral feet", "feet", None),
    ],
)
def test_paired_parts_and_sides_are_read_from_the_examination(
    examination: str, part: str | None, side: str | None
) -> None:
    assert paired_part_in(examination) == part
    assert side_in(examination) == side


def test_the_side_in_the_examination_is_the_laterality_sent() -> None:
    request = submit(**KCH_XRAY, examination="X-ray left knee", laterality="")
    assert isinstance(request, RadiologyRequest) and request.laterality == "left"
    # The words win over a side carried from an earlier step: never a contradiction.
    request = submit(**KCH_XRAY, examination="X-ray right knee", laterality="left")
    assert isinstance(request, RadiologyRequest) and request.laterality == "right"


def test_a_paired_part_without_its_side_asks_which_side() -> None:
    errors = submit(**KCH_XRAY, examination="X-ray knee", laterality="")
    assert isinstance(errors, FormErrors) and list(errors) == ["laterality"]
    assert errors["laterality"].startswith("Which side? The examination names a paired body")
    assert summary_line("laterality", errors["laterality"]).startswith("Laterality: which side?")
    chosen = submit(**KCH_XRAY, examination="X-ray knee", laterality="bilateral")
    assert isinstance(chosen, RadiologyRequest) and chosen.laterality == "bilateral"
    assert isinstance(submit(**KCH_XRAY, examination="X-ray knee", laterality="not_applicable"),
                      FormErrors)  # fmt: skip


def test_no_paired_part_means_laterality_is_not_applicable_whatever_was_carried() -> None:
    request = submit(examination="Ultrasound abdomen", laterality="left")
    assert isinstance(request, RadiologyRequest) and request.laterality == "not_applicable"


def test_a_side_named_for_a_part_not_on_the_list_is_kept() -> None:
    """ "Left pisiform" is not on the list of paired parts, but its side is in the words:
    the laterality sent says so, rather than "Not applicable" beside "left"."""
    request = submit(**KCH_XRAY, examination="X-ray left pisiform", laterality="")
    assert isinstance(request, RadiologyRequest) and request.laterality == "left"
    unlisted = submit(**KCH_XRAY, examination="X-ray pisiform", laterality="")
    assert isinstance(unlisted, RadiologyRequest) and unlisted.laterality == "not_applicable"


def test_the_paired_parts_are_whole_words_in_lower_case() -> None:
    assert all(p == p.lower().strip() and p for p in PAIRED_BODY_PARTS)
    assert paired_part_in("handheld ultrasound") is None, "a part inside a word is not one"


# --- MRI safety screening ---------------------------------------------------------------------


def test_an_mri_request_answers_the_three_screening_questions() -> None:
    errors = submit(**GSTT_MRI)
    assert isinstance(errors, FormErrors)
    assert set(errors) == {"mri_device", "mri_metal", "mri_implants"}
    assert isinstance(submit(**GSTT_MRI, **MRI_ANSWERS), RadiologyRequest)
    unknown = {key: "not_known" for key in MRI_ANSWERS}
    assert isinstance(submit(**GSTT_MRI, **unknown), RadiologyRequest)


def test_a_yes_needs_the_details() -> None:
    errors = submit(**GSTT_MRI, **{**MRI_ANSWERS, "mri_metal": "yes"})
    assert isinstance(errors, FormErrors) and list(errors) == ["mri_details"]
    request = submit(
        **GSTT_MRI, **{**MRI_ANSWERS, "mri_metal": "yes"}, mri_details="Grinder, 1990s"
    )
    assert isinstance(request, RadiologyRequest) and request.mri_details == "Grinder, 1990s"


def test_other_modalities_are_not_asked_and_keep_no_mri_answers() -> None:
    request = submit(**MRI_ANSWERS, mri_details="left over from an MRI request")
    assert isinstance(request, RadiologyRequest)
    assert (request.mri_device, request.mri_details) == (None, None)


def test_answers_to_questions_the_route_does_not_ask_are_dropped() -> None:
    route = resolve_route(DIRECTORY, "kch", "ultrasound")
    carried = {"contrast_allergies": "Iodine", "region": "yes", "pregnancy_status": "pregnant"}
    assert settle({"examination": "Ultrasound abdomen", **carried}, route) == {
        "examination": "Ultrasound abdomen"
    }
    xray = resolve_route(DIRECTORY, "kch", "xray")
    kept = settle({"region": "no", "pregnancy_status": "pregnant"}, xray)
    assert kept == {"region": "no"}, "pregnancy is asked only for the pelvic region"


# --- requests queued before these rules -------------------------------------------------------


def test_a_request_queued_before_the_new_rules_is_still_sent() -> None:
    """The outbox worker re-reads a stored payload: one made by the previous release has no
    MRI answers and may name a paired part as "not applicable". It must still send."""
    for changes in (GSTT_MRI, {**KCH_XRAY, "examination": "X-ray knee"}):
        made = valid_payload(**changes, laterality="not_applicable")
        old = {**validate_old(made), "form_version": 1}
        request = request_from_payload(old, datetime(2026, 11, 29, 9, 0, tzinfo=UTC), DIRECTORY)
        assert request.form_version == 1
        with pytest.raises(ValueError, match=r"laterality|mri_"):
            request_from_payload({**old, "form_version": FORM_VERSION}, datetime.now(UTC),
                                 DIRECTORY)  # fmt: skip


def test_new_requests_are_stored_under_the_new_rules() -> None:
    request = submit(**GSTT_MRI, **MRI_ANSWERS)
    assert isinstance(request, RadiologyRequest)
    assert request.model_dump(mode="json")["form_version"] == FORM_VERSION


def validate_old(data: dict[str, Any]) -> dict[str, Any]:
    """The payload the previous release stored for this submission (no form_version)."""
    nested: dict[str, Any] = {"patient": {}, "referrer": {}, "practice": {}}
    paths = {
        "patient_surname": "patient.surname",
        "patient_forenames": "patient.forenames",
        "patient_dob": "patient.date_of_birth",
        "nhs_number": "patient.nhs_number",
        "patient_sex": "patient.sex",
        "address_line1": "patient.address_line1",
        "address_town": "patient.town",
        "postcode": "patient.postcode",
        "patient_phone": "patient.phone",
        "referrer_name": "referrer.name",
        "referrer_role": "referrer.role",
        "referrer_registration": "referrer.registration",
        "practice_name": "practice.name",
        "practice_ods": "practice.ods_code",
        "practice_email": "practice.email",
        "practice_phone": "practice.phone",
        "region": "region_diaphragm_to_knees",
    }
    top = {"trust", "department", "modality", "examination", "laterality", "priority"}
    top |= {"clinical_history", "clinical_question", "contrast_allergies", "interpreter_needed"}
    for key, value in data.items():
        if not value:
            continue
        if key in top:
            nested[key] = value
        elif key in paths:
            head, _, tail = paths[key].partition(".")
            if tail:
                nested[head][tail] = value
            else:
                nested[head] = value
    nested["patient"]["postcode"] = "SE1 7EH"
    nested["practice"]["ods_code"] = "G85001"
    nested["practice"]["email"] = "test.practice@nhs.net"
    nested["patient"]["nhs_number"] = "9990000018"
    return nested


# --- The rules at their edges, as pure functions -------------------------------------

XRAY = resolve_route(DIRECTORY, "kch", "xray")
ULTRASOUND = resolve_route(DIRECTORY, "kch", "ultrasound")
FLUORO = resolve_route(DIRECTORY, "kch", "fluoroscopy")
MRI = resolve_route(DIRECTORY, "gstt", "mri")
WOMAN = {"patient_sex": "female", "patient_dob": date(1980, 5, 4), "region": "yes"}


def problems(route, **values: Any) -> dict[str, str]:
    return conditional_problems(route, values, today=TODAY)


@pytest.mark.parametrize(
    ("lmp", "refused"),
    [
        (TODAY, False),  # a period that started today is in the past enough
        (date(2026, 11, 30), True),  # tomorrow
        (date(1980, 5, 4), False),  # the day of birth itself is not before it
        (date(1980, 5, 3), True),  # the day before birth
    ],
)
def test_the_lmp_date_must_be_between_birth_and_today(lmp: date, refused: bool) -> None:
    found = problems(XRAY, **WOMAN, pregnancy_status="not_pregnant", lmp_date=lmp)
    assert ("lmp_date" in found) is refused
    if refused:
        assert found["lmp_date"] == "LMP date must be in the past and after the date of birth"


def test_a_future_lmp_is_refused_even_without_a_date_of_birth() -> None:
    found = problems(ULTRASOUND, lmp_date=date(2026, 12, 1))
    assert "in the past" in found["lmp_date"]
    assert problems(ULTRASOUND, lmp_date=TODAY) == {}


def test_pregnancy_asks_for_an_lmp_unless_the_patient_cannot_be_pregnant() -> None:
    assert set(problems(XRAY, **WOMAN)) == {"pregnancy_status", "lmp_date"}
    assert set(problems(XRAY, **WOMAN, pregnancy_status="not_pregnant")) == {"lmp_date"}
    assert problems(XRAY, **WOMAN, pregnancy_status="cannot_be_pregnant") == {}
    assert problems(XRAY, **WOMAN, pregnancy_status="pregnant", lmp_date=TODAY) == {}


@pytest.mark.parametrize(
    ("route", "sex", "birth", "region", "asked"),
    [
        (XRAY, "female", date(1980, 5, 4), "yes", True),
        (XRAY, None, date(1980, 5, 4), "yes", True),  # sex not given: ask
        (XRAY, "male", date(1980, 5, 4), "yes", False),
        (XRAY, "female", None, "yes", False),  # no age, no band
        (XRAY, "female", date(1980, 5, 4), "no", False),
        (XRAY, "female", date(1980, 5, 4), None, False),
        (ULTRASOUND, "female", date(1980, 5, 4), "yes", False),
        (FLUORO, "female", date(2014, 11, 29), "yes", True),  # twelve today
        (FLUORO, "female", date(2014, 11, 30), "yes", False),  # twelve tomorrow
        (FLUORO, "female", date(1970, 11, 30), "yes", True),  # 55 until tomorrow
        (FLUORO, "female", date(1970, 11, 29), "yes", False),  # 56 today
    ],
)
def test_pregnancy_is_required_by_route_region_sex_and_age(
    route, sex: str | None, birth: date | None, region: str | None, asked: bool
) -> None:
    assert PREGNANCY_AGES == (12, 55)
    assert pregnancy_required(route, sex, birth, region, TODAY) is asked


def test_an_ionising_route_asks_the_region_and_the_others_do_not() -> None:
    assert "diaphragm" in problems(XRAY)["region"]
    assert "region" not in problems(ULTRASOUND)
    assert "region" not in problems(XRAY, region="no")


def test_contrast_and_interpreter_rules() -> None:
    assert problems(FLUORO, region="no")["contrast_allergies"] == (
        'Fluoroscopy may use contrast: record allergies, or write "None known"'
    )
    assert "contrast_allergies" not in problems(FLUORO, region="no", contrast_allergies="None")
    assert "contrast_allergies" not in problems(ULTRASOUND)
    found = problems(ULTRASOUND, interpreter_needed="yes")
    assert found == {"interpreter_language": "Say which language the interpreter is needed for"}
    assert problems(ULTRASOUND, interpreter_needed="yes", interpreter_language="Tamil") == {}
    assert problems(ULTRASOUND, interpreter_needed="no") == {}


def test_the_new_rules_apply_only_to_requests_made_under_them() -> None:
    values = {"examination": "X-ray knee", "region": "no"}
    assert set(conditional_problems(XRAY, values, today=TODAY)) == {"laterality"}
    assert conditional_problems(XRAY, values, today=TODAY, version=FORM_VERSION - 1) == {}
    mri = {"contrast_allergies": "None known"}
    assert set(conditional_problems(MRI, mri, today=TODAY)) == {
        "mri_device", "mri_metal", "mri_implants",
    }  # fmt: skip
    assert conditional_problems(MRI, mri, today=TODAY, version=1) == {}


@pytest.mark.parametrize("question", ["mri_device", "mri_metal", "mri_implants"])
def test_each_mri_yes_needs_the_details(question: str) -> None:
    answers = {"mri_device": "no", "mri_metal": "no", "mri_implants": "no", question: "yes"}
    found = conditional_problems(MRI, {"contrast_allergies": "None", **answers}, today=TODAY)
    assert list(found) == ["mri_details"]
    assert found["mri_details"].startswith("Say which device, metal or implant, as far as known")
    with_details = {"contrast_allergies": "None", **answers, "mri_details": "Pacemaker"}
    assert conditional_problems(MRI, with_details, today=TODAY) == {}


def test_which_fields_a_route_asks() -> None:
    def asked(field: str, route, **values: Any) -> tuple[bool, bool]:
        spec = FIELD_BY_ID[field]
        return applies(spec, route, values), shown(spec, route, values)

    assert asked("patient_surname", ULTRASOUND) == (True, True)
    assert asked("region", XRAY) == (True, True)
    assert asked("region", ULTRASOUND) == (False, False)
    assert asked("pregnancy_status", XRAY, region="yes") == (True, True)
    assert asked("pregnancy_status", XRAY, region="no") == (False, False)
    assert asked("pregnancy_status", ULTRASOUND, region="yes") == (False, False)
    assert asked("contrast_allergies", FLUORO) == (True, True)
    assert asked("contrast_allergies", XRAY) == (False, False)
    assert asked("mri_device", MRI) == (True, True)
    assert asked("mri_device", XRAY) == (False, False)
    # Laterality: asked for a paired part without its side; applies (kept) when a side is named.
    assert asked("laterality", XRAY, examination="X-ray knee") == (True, True)
    assert asked("laterality", XRAY, examination="X-ray left knee") == (True, False)
    assert asked("laterality", XRAY, examination="X-ray left pisiform") == (True, False)
    assert asked("laterality", XRAY, examination="X-ray chest") == (False, False)
    assert asked("laterality", XRAY, examination=None) == (False, False)
    assert asked("laterality", XRAY, examination=7) == (False, False)


def test_settling_keeps_what_applies_and_takes_the_side_from_the_words() -> None:
    settled = settle({"examination": "X-ray right knee", "laterality": "left"}, XRAY)
    assert settled == {"examination": "X-ray right knee", "laterality": "right"}
    plain = {"examination": "X-ray chest", "patient_surname": "Test", "region": "no"}
    assert settle(plain, XRAY) == plain


def test_the_rules_messages_say_what_to_do() -> None:
    """Each message appears next to its field on the card, in these words."""
    found = problems(XRAY, examination="X-ray knee")
    assert found["region"] == (
        "Say whether the examination includes the area between the diaphragm and the knees"
    )
    assert found["laterality"] == (
        "Which side? The examination names a paired body part (knee): "
        "choose the side, or write it in the examination"
    )
    pelvic = problems(XRAY, **WOMAN)
    assert pelvic["pregnancy_status"] == (
        "Pregnancy status is required: this examination uses ionising radiation "
        "between the diaphragm and the knees"
    )
    assert pelvic["lmp_date"] == "Enter the first day of the last menstrual period (LMP)"
    mri = problems(MRI, contrast_allergies="None known")
    assert set(mri.values()) == {"Answer this MRI safety question (Yes, No or Not known)"}


def test_requests_of_this_release_are_version_2_and_the_module_exports_its_names() -> None:
    """Version 2 is what stored requests carry (the outbox re-reads them by it)."""
    import bot.orders.rules as rules

    assert FORM_VERSION == 2
    assert all(hasattr(rules, name) for name in rules.__all__)
