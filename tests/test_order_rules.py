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
from bot.orders.fields import summary_line
from bot.orders.model import RadiologyRequest
from bot.orders.routing import resolve_route
from bot.orders.rules import FORM_VERSION, settle
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
