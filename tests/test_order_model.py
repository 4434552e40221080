"""The request model: the minimum data set, the conditional rules and the document.

`validate_submission` is fed what a card really sends (a flat mapping of input
ids to strings plus the action's data) and, in the hypothesis tests, anything
at all: it must answer with a model or with messages, never an exception.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.directory import load_directory
from bot.nlu import parse
from bot.orders import model as model_module
from bot.orders.errors import FORM_ERROR, FormErrors, as_text, validate_choice, validate_submission
from bot.orders.model import (
    Patient,
    Practice,
    RadiologyRequest,
    Referrer,
    RuleViolations,
    form_values,
    remembered_details,
)
from bot.orders.routing import resolve_route
from bot.orders.rules import pregnancy_required
from tests.support.payloads import (
    GSTT_CT,
    INPUT_IDS,
    KCH_FLUORO,
    KCH_XRAY,
    bcp_mailboxes,
    valid_payload,
)

DIRECTORY = load_directory()
TODAY = date(2026, 11, 29)


def submit(**changes: Any) -> RadiologyRequest | FormErrors:
    return validate_submission(valid_payload(**changes), directory=DIRECTORY, today=TODAY)


def errors_of(**changes: Any) -> FormErrors:
    result = submit(**changes)
    assert isinstance(result, FormErrors), f"expected errors, got {result!r}"
    return result


def request_of(**changes: Any) -> RadiologyRequest:
    result = submit(**changes)
    assert isinstance(result, RadiologyRequest), f"expected a request, got {result!r}"
    return result


# --- A valid request --------------------------------------------------------------------


def test_a_complete_submission_becomes_a_normalised_request() -> None:
    request = request_of()
    assert request.patient.nhs_number == "9990000018"
    assert request.patient.postcode == "SE1 7EH"
    assert request.practice.ods_code == "G85001"
    assert request.practice.email == "test.practice@nhs.net"
    assert request.referrer.registration_body == "GMC"
    assert request.mailbox(DIRECTORY) == "kch-tr.us.reception_dh@nhs.net"


def test_strings_are_stripped() -> None:
    request = request_of(patient_surname="  Testpatient  ", examination="\tUltrasound abdomen ")
    assert (request.patient.surname, request.examination) == ("Testpatient", "Ultrasound abdomen")


def test_gstt_takes_any_modality_at_its_single_mailbox() -> None:
    request = request_of(**GSTT_CT, region="no", contrast_allergies="None known")
    assert request.mailbox(DIRECTORY) == "gst-tr.radiologyreferrals@nhs.net"
    assert request.route(DIRECTORY).department_label == "Radiology (CT)"


def test_form_values_round_trip_to_the_same_request() -> None:
    """Send carries form_values in its data; re-validating them must give the same request."""
    request = request_of(
        **KCH_FLUORO,
        region="yes",
        pregnancy_status="not_pregnant",
        lmp_date="2026-11-10",
        contrast_allergies="Iodine: rash",
    )
    again = validate_submission(form_values(request), directory=DIRECTORY, today=TODAY)
    assert again == request


def test_remembered_details_split_practice_and_referrer() -> None:
    practice, referrer = remembered_details(request_of())
    assert practice == {
        "practice_name": "Test Medical Practice",
        "practice_ods": "G85001",
        "practice_email": "test.practice@nhs.net",
        "practice_phone": "020 7188 7188",
    }
    assert referrer == {
        "referrer_name": "Dr Sam Test",
        "referrer_role": "GP",
        "referrer_registration": "1234567",
    }


# --- Field errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("nhs_number", "9434765828", "check digit is wrong"),
        ("nhs_number", "12345", "10-digit"),
        ("patient_dob", "2027-01-01", "future"),
        ("patient_dob", "1896-11-29", "120"),
        ("patient_dob", "31/02/1980", "date like"),
        ("postcode", "SE1", "postcode"),
        ("patient_phone", "12345", "UK landline"),
        ("practice_ods", "G8500", "ODS code"),
        ("practice_email", "practice@gmail.com", "nhs.net"),
        ("referrer_registration", "12345", "GMC"),
        ("clinical_history", "pain", "at least 10 characters"),
        ("clinical_question", "?", "at least 10 characters"),
        ("patient_surname", "", "required"),
        ("patient_surname", "Smith\r\nBcc: x@y.z", "single line"),
        ("examination", "X-ray\nchest", "single line"),
        ("patient_sex", "", "required"),
        ("patient_surname", "x" * 101, "too long"),
    ],
)
def test_each_bad_field_gets_a_message_under_its_own_input(
    field: str, value: str, fragment: str
) -> None:
    errors = errors_of(**{field: value})
    assert list(errors) == [field]
    assert fragment in errors[field]


def test_a_side_that_is_not_a_choice_is_refused_for_a_paired_body_part() -> None:
    errors = errors_of(examination="Ultrasound knee", laterality="middle")
    assert list(errors) == ["laterality"]
    assert "Choose one of the options" in errors["laterality"]


def test_every_problem_is_reported_at_once() -> None:
    errors = errors_of(nhs_number="9434765828", postcode="nowhere", practice_ods="X1")
    assert set(errors) == {"nhs_number", "postcode", "practice_ods"}


def test_valid_real_format_nhs_number_is_accepted() -> None:
    assert request_of(nhs_number="943 476 5919").patient.nhs_number == "9434765919"


# --- Routes -----------------------------------------------------------------------------


def test_kch_ct_is_refused_saying_what_the_bcp_lists_and_no_invented_route() -> None:
    errors = errors_of(trust="kch", department="ct", modality="ct")
    assert errors["modality"] == (
        "The BCP lists X-ray, Ultrasound and Fluoroscopy for Kings; "
        "it gives no downtime route for CT."
    )
    assert "ICE" not in errors["modality"], "no route the BCP does not give"


def test_gstt_nuclear_medicine_is_one_modality_everywhere() -> None:
    """The parser, the form and the model say `nuclear_medicine`: nothing lost between them."""
    parsed = parse("order gstt nuclear medicine")
    assert dict(parsed.slots) == {"trust": "gstt", "modality": "nuclear_medicine"}
    route = validate_choice(dict(parsed.slots), directory=DIRECTORY)
    assert not isinstance(route, FormErrors)
    assert route.modality.id == "nuclear_medicine" and route.ionising


def test_choose_step_refuses_kch_mri_and_accepts_gstt_mri() -> None:
    refused = validate_choice({"trust": "kch", "modality": "mri"}, directory=DIRECTORY)
    assert isinstance(refused, FormErrors) and "no downtime route for MRI" in refused["modality"]
    route = validate_choice({"trust": "gstt", "modality": "mri"}, directory=DIRECTORY)
    assert not isinstance(route, FormErrors)
    assert (route.department.id, route.ionising, route.contrast) == ("radiology", False, True)


def test_choose_step_without_a_trust_blames_the_trust() -> None:
    assert list(validate_choice({"modality": "xray"}, directory=DIRECTORY)) == ["trust"]


def test_a_tampered_department_is_refused() -> None:
    errors = errors_of(trust="kch", department="fluoroscopy", modality="ultrasound")
    assert "does not match" in errors["modality"]


def test_kch_flags_come_from_the_directory() -> None:
    assert resolve_route(DIRECTORY, "kch", "ultrasound").ionising is False
    fluoro = resolve_route(DIRECTORY, "kch", "fluoroscopy")
    assert (fluoro.ionising, fluoro.contrast) == (True, True)


# --- Conditional rules ------------------------------------------------------------------


def test_pregnancy_is_required_for_ionising_pelvic_exam_of_a_woman_of_47() -> None:
    errors = errors_of(**KCH_XRAY, examination="X-ray pelvis", region="yes")
    assert "Pregnancy status is required" in errors["pregnancy_status"]
    assert "LMP" in errors["lmp_date"]


def test_pregnancy_answered_makes_the_request_valid() -> None:
    request = request_of(
        **KCH_XRAY, region="yes", pregnancy_status="not_pregnant", lmp_date="15/11/2026"
    )
    assert request.lmp_date == date(2026, 11, 15)
    route = request.route(DIRECTORY)
    assert pregnancy_required(route, "female", request.patient.date_of_birth, "yes", TODAY)


def test_cannot_be_pregnant_needs_no_lmp() -> None:
    assert request_of(**KCH_XRAY, region="yes", pregnancy_status="cannot_be_pregnant")


@pytest.mark.parametrize(
    "changes",
    [
        {"patient_sex": "male"},
        {"region": "no"},
        {"patient_dob": "1960-01-01"},  # 66
        {"patient_dob": "2016-01-01"},  # 10
        {**KCH_XRAY, "region": "no"},
    ],
)
def test_pregnancy_not_required_outside_the_rule(changes: dict[str, str]) -> None:
    assert request_of(**{**KCH_XRAY, "region": "yes", **changes})


def test_pregnancy_asked_for_sex_other_or_unknown() -> None:
    for sex in ("other", "unknown"):
        assert "pregnancy_status" in errors_of(**KCH_XRAY, region="yes", patient_sex=sex)


def test_ionising_exam_must_say_whether_region_is_diaphragm_to_knees() -> None:
    assert "diaphragm" in errors_of(**KCH_XRAY)["region"]


def test_ultrasound_never_asks_pregnancy_or_region() -> None:
    assert request_of(region="", pregnancy_status="").pregnancy_status is None


def test_lmp_in_the_future_is_refused() -> None:
    errors = errors_of(
        **KCH_XRAY, region="yes", pregnancy_status="not_pregnant", lmp_date="2026-12-25"
    )
    assert "in the past" in errors["lmp_date"]


def test_fluoroscopy_requires_contrast_allergies() -> None:
    errors = errors_of(**KCH_FLUORO, region="no")
    assert "contrast" in errors["contrast_allergies"]
    assert request_of(**KCH_FLUORO, region="no", contrast_allergies="None known")


def test_ultrasound_does_not_require_contrast_allergies() -> None:
    assert request_of().contrast_allergies is None


def test_interpreter_needs_a_language() -> None:
    assert "language" in errors_of(interpreter_needed="yes")["interpreter_language"]
    assert request_of(interpreter_needed="yes", interpreter_language="Portuguese")


def test_conditional_problems_are_reported_with_other_field_errors() -> None:
    """The user learns about pregnancy status in the same round as the bad NHS number."""
    errors = errors_of(**KCH_FLUORO, region="yes", nhs_number="9434765828")
    assert {"nhs_number", "pregnancy_status", "lmp_date", "contrast_allergies"} <= set(errors)


# --- The document -----------------------------------------------------------------------


def test_as_document_lays_out_every_section() -> None:
    request = request_of(
        **KCH_FLUORO,
        region="yes",
        pregnancy_status="possibly_pregnant",
        lmp_date="2026-11-10",
        contrast_allergies="Iodinated contrast: urticaria",
        interpreter_needed="yes",
        interpreter_language="Portuguese",
    )
    created = datetime(2026, 11, 29, 10, 32, tzinfo=UTC)
    document = request.as_document("DT-20261129-0007", created, DIRECTORY)
    assert [s.title for s in document.sections] == [
        "Request",
        "Clinical details",
        "Patient",
        "Safety",
        "Access needs",
        "Referrer",
        "Practice",
    ]
    fields = {(s.title, f.label): f.value for s in document.sections for f in s.fields}
    assert fields[("Request", "Reference")] == "DT-20261129-0007"
    assert fields[("Request", "Date/time requested")] == "29/11/2026 10:32"
    assert fields[("Patient", "NHS number")] == "999 000 0018"
    assert fields[("Patient", "Date of birth")] == "04/05/1980 (age 46)"
    assert fields[("Patient", "Postcode")] == "SE1 7EH"
    assert fields[("Safety", "Pregnancy status")] == "Possibly pregnant"
    assert fields[("Safety", "LMP date")] == "10/11/2026"
    assert fields[("Safety", "Allergies (contrast)")] == "Iodinated contrast: urticaria"
    assert fields[("Access needs", "Interpreter")] == "Yes"
    assert fields[("Access needs", "Interpreter language")] == "Portuguese"
    assert fields[("Referrer", "Professional registration")] == "GMC 1234567"
    assert fields[("Practice", "Reply mailbox (nhs.net)")] == "test.practice@nhs.net"
    assert (document.mailbox, document.department, document.priority) == (
        "kch-tr.fl_reception_dh@nhs.net",
        "Fluoroscopy",
        "Routine",
    )
    assert (document.trust_short, document.practice_ods) == ("KCH", "G85001")


def test_document_metadata_carries_no_patient_identifier() -> None:
    """Only `sections` may hold patient data: the rest goes in subjects and logs."""
    document = request_of().as_document("DT-20261129-0007", datetime.now(UTC), DIRECTORY)
    safe = " ".join(
        str(getattr(document, name))
        for name in (
            "reference",
            "trust_name",
            "trust_short",
            "department",
            "priority",
            "mailbox",
            "practice_name",
            "practice_ods",
            "practice_email",
        )
    )
    for identifier in ("9990000018", "999 000 0018", "Testpatient", "SE1 7EH", "1980"):
        assert identifier not in safe


def test_model_refuses_validation_without_context() -> None:
    with pytest.raises(ValueError, match="context"):
        RadiologyRequest.model_validate(request_of().model_dump())


# --- Anything at all --------------------------------------------------------------------

_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=60),
    st.text(max_size=5).map(lambda s: s * 5000),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.sampled_from(
        [
            "",
            " ",
            "yes",
            "no",
            "kch",
            "gstt",
            "xray",
            "ct",
            "9990000018",
            "1980-05-04",
            "2099-01-01",
            "\r\n",
            "{{",
            '"}',
            "\\",
        ]
    ),
)
_KEYS = st.one_of(st.sampled_from(INPUT_IDS), st.text(max_size=10))


def _check_outcome(result: object) -> None:
    assert isinstance(result, RadiologyRequest | FormErrors)
    if isinstance(result, FormErrors):
        assert len(result) > 0
        for key, message in result.items():
            assert key in INPUT_IDS or key == FORM_ERROR, key
            assert isinstance(message, str) and message.strip()
    else:
        again = validate_submission(form_values(result), directory=DIRECTORY, today=TODAY)
        assert again == result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _ANY_VALUE, max_size=40))
def test_random_payloads_never_raise(payload: dict[str, Any]) -> None:
    _check_outcome(validate_submission(payload, directory=DIRECTORY, today=TODAY))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([{}, GSTT_CT, KCH_FLUORO, KCH_XRAY]),
    st.dictionaries(st.sampled_from(INPUT_IDS), _ANY_VALUE, max_size=6),
)
def test_mutated_valid_payloads_never_raise(route: dict[str, str], changes: dict[str, Any]) -> None:
    """Close to valid is where the interesting branches are: conditional rules, routes."""
    payload = valid_payload(
        **route,
        region="yes",
        pregnancy_status="not_pregnant",
        lmp_date="2026-11-10",
        contrast_allergies="None known",
    )
    _check_outcome(validate_submission({**payload, **changes}, directory=DIRECTORY, today=TODAY))


@pytest.mark.parametrize("data", [None, [], "order", 42, b"bytes", object()])
def test_non_mapping_submissions_are_a_form_error(data: Any) -> None:
    result = validate_submission(data, directory=DIRECTORY, today=TODAY)
    assert isinstance(result, FormErrors) and list(result) == [FORM_ERROR]


@pytest.mark.parametrize("mailbox", bcp_mailboxes())
def test_practice_reply_mailbox_cannot_be_a_mailbox_the_bcp_names(mailbox: str) -> None:
    """H15 (docs/clinical-safety.md): a radiology or no-reply results mailbox used to be
    accepted as the practice's, so rejections and results would have gone to the hospital
    instead of the practice."""
    for spelling in (mailbox, mailbox.upper(), f" {mailbox.lower()} "):
        result = validate_submission(
            valid_payload(practice_email=spelling), directory=DIRECTORY, today=TODAY
        )
        assert isinstance(result, FormErrors), spelling
        assert set(result) == {"practice_email"}, result
        assert "not your practice's" in result["practice_email"]


def test_the_bcp_names_radiology_and_results_mailboxes() -> None:
    """Control for the test above: it covers both kinds H15 names (radiology, results)."""
    named = {address.lower() for address in bcp_mailboxes()}
    assert "kch-tr.us.reception_dh@nhs.net" in named
    assert "gst-tr.icedowntimeradiologyresults@nhs.net" in named


def _declared_for_the_type_checker() -> dict[str, dict[str, str]]:
    """The `if TYPE_CHECKING:` field declarations in each class of bot/orders/model.py."""
    source = Path(model_module.__file__).read_text(encoding="utf-8")
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if isinstance(statement, ast.If) and ast.unparse(statement.test) == "TYPE_CHECKING":
                found[node.name] = {
                    item.target.id: ast.unparse(item.annotation)
                    for item in statement.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                }
    return found


def _base_type(annotation: Any) -> Any:
    """`Annotated[str, ...] | None` -> `str | None`; a model or a plain type as it is."""
    if get_origin(annotation) is Annotated:
        return get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        return Union[tuple(_base_type(arm) for arm in get_args(annotation))]  # noqa: UP007
    return annotation


def test_what_the_type_checker_is_told_of_the_fields_is_what_the_model_has() -> None:
    """The model's fields are made from FIELDS at import, so mypy cannot see them; the
    fields code reads by name are declared to it by hand. Each must be a field of the
    built model, with the same type, so the type checker is never told a wrong one."""
    built = {"_Patient": Patient, "_Referrer": Referrer, "_Practice": Practice}
    built["_Request"] = RadiologyRequest
    declared = _declared_for_the_type_checker()
    assert set(declared) == set(built), "a class's declarations would go unchecked"
    for name, fields in declared.items():
        model = built[name]
        assert fields, name
        for field, annotation in fields.items():
            assert field in model.model_fields, f"{name}.{field} is not a field of the model"
            expected = eval(annotation, vars(model_module))
            actual = _base_type(model.model_fields[field].annotation)
            assert actual == expected, f"{name}.{field}: declared {annotation}, built {actual}"


# --- The boundaries and the error paths a mutant could break silently ---------------


@pytest.mark.parametrize(
    ("dob", "age", "asked"),
    [
        ("2014-11-30", 11, False),  # twelve tomorrow
        ("2014-11-29", 12, True),  # twelve today
        ("1970-11-30", 55, True),  # the last day of 55
        ("1970-11-29", 56, False),  # fifty-six today
    ],
)
def test_pregnancy_is_asked_from_the_twelfth_birthday_to_the_last_day_of_55(
    dob: str, age: int, asked: bool
) -> None:
    """IR(ME)R's band as the form applies it: 12 and 55 inclusive, by age on the day."""
    result = submit(**KCH_XRAY, examination="X-ray pelvis", region="yes", patient_dob=dob)
    if asked:
        assert isinstance(result, FormErrors), f"age {age}: pregnancy must be asked"
        assert set(result) == {"pregnancy_status", "lmp_date"}
    else:
        assert isinstance(result, RadiologyRequest), f"age {age}: pregnancy is not asked"
        assert result.pregnancy_status is None


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("mobility_needs", ["wheelchair"], "could not be read"),
        ("reasonable_adjustments", {"note": "x"}, "could not be read"),
        ("mobility_needs", float("nan"), "could not be read"),
        ("reasonable_adjustments", "x" * 10_001, "far too long"),
    ],
)
def test_an_optional_input_that_cannot_be_read_stops_the_request(
    field: str, value: Any, fragment: str
) -> None:
    """Everything else is valid and the field is optional, so the model alone would accept the
    request without it: a request must never be sent missing what the user typed there."""
    errors = errors_of(**{field: value})
    assert list(errors) == [field]
    assert fragment in errors[field]


def test_an_input_of_exactly_the_limit_is_read() -> None:
    """10,000 characters is read (and refused for its own length), 10,001 is not read at all."""
    errors = errors_of(clinical_history="x" * 10_000)
    assert "far too long" not in errors["clinical_history"]
    assert "far too long" in errors_of(clinical_history="x" * 10_001)["clinical_history"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "yes"), (False, "no"), (3, "3"), (2.5, "2.5"), (None, ""), ("  no ", "no")],
)
def test_a_test_client_s_plain_values_are_read_as_text(value: Any, text: str) -> None:
    assert (as_text(value) or "").strip() == text
    assert as_text(float("inf")) is None


def test_lmp_and_sex_rules_are_still_reported_when_another_field_fails() -> None:
    """A bad NHS number does not hide the LMP date or the pregnancy question."""
    errors = errors_of(
        **KCH_XRAY,
        region="yes",
        pregnancy_status="not_pregnant",
        lmp_date="2026-12-25",
        nhs_number="9434765828",
    )
    assert set(errors) == {"nhs_number", "lmp_date"}
    assert "in the past" in errors["lmp_date"]
    before_birth = errors_of(
        **KCH_XRAY,
        region="yes",
        pregnancy_status="not_pregnant",
        lmp_date="1970-01-01",
        nhs_number="9434765828",
    )
    assert "after the date of birth" in before_birth["lmp_date"]


@pytest.mark.parametrize(
    ("sex", "dob", "asked"),
    [
        ("female", "1980-05-04", True),
        ("unknown", "1980-05-04", True),
        ("male", "1980-05-04", False),
        ("female", "1960-01-01", False),  # 66
        ("female", "not a date", False),  # the date of birth's own error is enough
        ("female", "2027-01-01", False),  # a birth date in the future is no age at all
    ],
)
def test_the_pregnancy_rule_is_applied_by_sex_and_age_even_when_another_field_fails(
    sex: str, dob: str, asked: bool
) -> None:
    errors = errors_of(
        **KCH_XRAY, examination="X-ray pelvis", region="yes", patient_sex=sex, patient_dob=dob,
        postcode="nowhere",
    )  # fmt: skip
    assert "postcode" in errors
    assert ("pregnancy_status" in errors) is asked
    assert ("lmp_date" in errors) is asked


def test_an_unreadable_lmp_with_another_failure_is_its_own_message_not_the_rule() -> None:
    errors = errors_of(
        **KCH_XRAY, region="yes", pregnancy_status="not_pregnant", lmp_date="31/02/2026",
        postcode="nowhere",
    )  # fmt: skip
    assert "date like" in errors["lmp_date"]
    assert "Enter the first day" not in errors["lmp_date"]


def test_a_tampered_department_is_reported_even_when_another_field_fails() -> None:
    """The route is checked before the model: a department the trust does not have is named
    at once, not only after the user has fixed every other field."""
    errors = errors_of(department="nonsense", nhs_number="9434765828")
    assert errors["modality"] == "The department does not match the trust: please start again"


def test_an_impossible_date_of_birth_is_not_used_to_judge_the_lmp() -> None:
    """A birth date in the future is refused on its own; it must not also make a sensible LMP
    look "before the date of birth"."""
    errors = errors_of(
        **KCH_XRAY, region="yes", patient_dob="2027-01-01",
        pregnancy_status="not_pregnant", lmp_date="2026-11-01",
    )  # fmt: skip
    assert set(errors) == {"patient_dob"}


@pytest.mark.parametrize("data", [None, "trust=kch", ["kch", "xray"], 7])
def test_a_choose_step_that_is_not_a_mapping_is_a_form_error(data: Any) -> None:
    assert dict(validate_choice(data, directory=DIRECTORY)) == {
        "form": "The form could not be read: please start again"
    }
    assert dict(validate_submission(data, directory=DIRECTORY, today=TODAY)) == {
        "form": "The form could not be read: please start again"
    }


def test_the_request_model_modules_export_what_they_name() -> None:
    import bot.orders.errors as errors_module
    import bot.orders.model as model_module

    for module in (errors_module, model_module):
        assert all(hasattr(module, name) for name in module.__all__), module.__name__
    assert FORM_ERROR == "form"


# --- The model itself, validated directly (as the outbox worker re-reads a stored request) ------

CONTEXT = {"directory": DIRECTORY, "today": TODAY}


def stored(**changes: Any) -> dict[str, Any]:
    """A request as stored (JSON), with `changes` applied to its top level or a part."""
    data = request_of(**KCH_XRAY, region="no").model_dump(mode="json")
    for key, value in changes.items():
        head, _, tail = key.partition("__")
        if tail:
            data[head] = {**data[head], tail: value}
        else:
            data[key] = value
    return data


def test_a_stored_request_reads_back_as_the_same_request() -> None:
    """Optional fields left empty are stored as null and must read back, not fail."""
    request = request_of(**KCH_XRAY, region="no")
    data = request.model_dump(mode="json")
    assert data["contrast_allergies"] is None and data["laterality"] == "not_applicable"
    assert RadiologyRequest.model_validate(data, context=CONTEXT) == request


def test_a_required_field_stored_as_null_is_refused() -> None:
    with pytest.raises(ValueError, match="surname"):
        RadiologyRequest.model_validate(stored(patient__surname=None), context=CONTEXT)


def test_a_request_stored_before_form_versions_is_version_1() -> None:
    data = stored()
    del data["form_version"]
    assert RadiologyRequest.model_validate(data, context=CONTEXT).form_version == 1


@pytest.mark.parametrize(
    "context",
    [None, {}, {"today": TODAY}, {"directory": DIRECTORY}, {"directory": "x", "today": TODAY}],
)
def test_the_model_needs_both_the_directory_and_today(context: Any) -> None:
    with pytest.raises(ValueError) as caught:
        RadiologyRequest.model_validate(stored(), context=context)
    text = str(caught.value)
    assert (
        "validate with context={'directory': Directory, 'today': date}" in text
        or "validate with context={'directory': Directory, ...}" in text
    )
    if context is None or "directory" not in context:
        assert "validate with context={'directory': Directory, ...}" in text


def test_a_route_the_directory_does_not_have_is_refused_by_the_model_itself() -> None:
    with pytest.raises(ValidationError) as caught:
        RadiologyRequest.model_validate(stored(department="nonsense"), context=CONTEXT)
    (error,) = caught.value.errors()
    violations = error["ctx"]["error"]
    assert isinstance(violations, RuleViolations)
    assert violations.problems == {
        "modality": "The department does not match the trust: please start again"
    }


def test_rule_violations_read_as_one_line_per_field() -> None:
    assert str(RuleViolations({"lmp_date": "too late", "region": "say"})) == (
        "lmp_date: too late; region: say"
    )


def test_a_request_cannot_be_changed_or_given_unknown_fields_and_is_stripped() -> None:
    request = request_of()
    with pytest.raises(ValidationError):
        request.examination = "CT head"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        request.practice.email = "x@nhs.net"  # type: ignore[misc]
    for extra in ({"bcc": "x@y.z"}, {"patient__bcc": "x"}, {"practice__bcc": "x"},
                  {"referrer__bcc": "x"}):  # fmt: skip
        with pytest.raises(ValidationError):
            RadiologyRequest.model_validate(stored(**extra), context=CONTEXT)
    spaced = stored(patient__surname="  Testpatient ", practice__name=" Test Medical Practice ")
    read = RadiologyRequest.model_validate(spaced, context=CONTEXT)
    assert (read.patient.surname, read.practice.name) == ("Testpatient", "Test Medical Practice")


def test_the_practice_s_own_mailbox_message_says_what_to_enter() -> None:
    message = errors_of(practice_email=bcp_mailboxes()[0])["practice_email"]
    assert message.endswith(
        "not your practice's: enter your practice's own monitored nhs.net mailbox"
    )


def test_the_document_shows_the_time_in_london() -> None:
    request = request_of()
    summer = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)  # 10:30 BST
    document = request.as_document("ICE-1", summer, DIRECTORY)
    assert document.created_at.strftime("%H:%M") == "10:30"
    naive = request.as_document("ICE-1", datetime(2026, 7, 1, 9, 30), DIRECTORY)
    assert naive.created_at.strftime("%H:%M") == "09:30"


def test_form_values_leave_out_what_is_empty_and_print_the_nhs_number_grouped() -> None:
    values = form_values(request_of(address_line2=""))
    assert "address_line2" not in values and "contrast_allergies" not in values
    assert values["nhs_number"] == "999 000 0018"
    assert values["patient_dob"] == "1980-05-04"
