"""The clinical rules of the request form: which questions apply, and which must be answered.

Pure functions over a route and the request's values keyed by input id (dates
already parsed), tolerant of missing values: the model applies them to a
complete request, `errors.py` to a submission whose other fields failed (so the
user sees every problem at once), and the step cards ask only what applies.

None of this is the BCP. Each rule is the form's own check, and
`docs/clinical-safety.md` names its source: IR(ME)R 2017 for pregnancy before
ionising exposures, general radiology referral practice for contrast allergies
and laterality, MRI safety guidance (MHRA; SCoR and BAMRR) for the MRI
screening questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.orders.fields import FIELDS, NOT_APPLICABLE, FieldSpec
from bot.orders.routing import Route
from bot.orders.validation import age_on
from bot.vocabulary import paired_part_in, side_in

#: Requests submitted by this release carry `form_version` 2 and are held to the rules
#: added with it (MRI screening, the side of a paired body part). A request queued by
#: an earlier release (no version: 1) is re-read by the outbox worker under the rules
#: it was made with, so an upgrade never fails a request already queued.
FORM_VERSION = 2
PREGNANCY_AGES = (12, 55)
#: Statuses where a last menstrual period date means nothing, so none is asked for.
NO_LMP_STATUSES = frozenset({"cannot_be_pregnant"})
SIDES = frozenset({"left", "right", "bilateral"})
MRI_QUESTIONS = ("mri_device", "mri_metal", "mri_implants")


def applies(spec: FieldSpec, route: Route, values: Mapping[str, Any]) -> bool:
    """Whether this request has this field at all: asked, kept and printed."""
    when = spec.when
    if when == "always":
        return True
    if when == "paired_part":
        examination = _text(values, "examination")
        return paired_part_in(examination) is not None or side_in(examination) is not None
    if when == "ionising":
        return route.ionising
    if when == "pelvic_ionising":
        return route.ionising and values.get("region") == "yes"
    if when == "contrast":
        return route.contrast
    return route.mri  # "mri"


def shown(spec: FieldSpec, route: Route, values: Mapping[str, Any]) -> bool:
    """Whether the form asks this field now.

    As `applies`, except that a side the examination already gives ("X-ray
    left knee") is not asked again: the examination's words are the answer.
    """
    if spec.id == "laterality" and side_in(_text(values, "examination")) is not None:
        return False
    return applies(spec, route, values)


def settle(values: Mapping[str, str], route: Route) -> dict[str, str]:
    """A submission as this route asks it: answers to questions that do not apply are
    dropped (an allergy note left over from a CT that became an ultrasound), and the
    laterality is the side the examination names, when it names one.

    The examination's words win over a side carried from an earlier step, so the
    laterality sent can never contradict the examination sent with it; a side
    named for a part the bot does not know as paired ("left pisiform") is kept too.
    """
    settled = dict(values)
    side = side_in(settled.get("examination"))
    if side is not None:
        settled["laterality"] = side
    for spec in FIELDS:
        if spec.step is not None and not applies(spec, route, settled):
            settled.pop(spec.id, None)
    return settled


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
    route: Route, values: Mapping[str, Any], *, today: date, version: int = FORM_VERSION
) -> dict[str, str]:
    """Messages for the questions only some requests must answer, keyed by input id.

    `values` are by input id, with `patient_dob` and `lmp_date` as dates (or
    None when missing or unreadable). Pure, and tolerant of missing values.
    """
    problems: dict[str, str] = {}
    region = values.get("region")
    if route.ionising and region is None:
        problems["region"] = (
            "Say whether the examination includes the area between the diaphragm and the knees"
        )
    birth, lmp = values.get("patient_dob"), values.get("lmp_date")
    status = values.get("pregnancy_status")
    if pregnancy_required(route, values.get("patient_sex"), birth, region, today):
        if status is None:
            problems["pregnancy_status"] = (
                "Pregnancy status is required: this examination uses ionising radiation "
                "between the diaphragm and the knees"
            )
        if lmp is None and status not in NO_LMP_STATUSES:
            problems["lmp_date"] = "Enter the first day of the last menstrual period (LMP)"
    if isinstance(lmp, date) and (lmp > today or (isinstance(birth, date) and lmp < birth)):
        problems["lmp_date"] = "LMP date must be in the past and after the date of birth"
    if route.contrast and not values.get("contrast_allergies"):
        problems["contrast_allergies"] = (
            f'{route.modality.name} may use contrast: record allergies, or write "None known"'
        )
    if values.get("interpreter_needed") == "yes" and not values.get("interpreter_language"):
        problems["interpreter_language"] = "Say which language the interpreter is needed for"
    if version >= FORM_VERSION:
        problems |= _laterality_problem(values) | _mri_problems(route, values)
    return problems


def _laterality_problem(values: Mapping[str, Any]) -> dict[str, str]:
    part = paired_part_in(_text(values, "examination"))
    if part is None or values.get("laterality") in SIDES:
        return {}
    return {
        "laterality": (
            f"Which side? The examination names a paired body part ({part}): "
            "choose the side, or write it in the examination"
        )
    }


def _mri_problems(route: Route, values: Mapping[str, Any]) -> dict[str, str]:
    if not route.mri:
        return {}
    problems = {
        field: "Answer this MRI safety question (Yes, No or Not known)"
        for field in MRI_QUESTIONS
        if values.get(field) is None
    }
    if any(values.get(field) == "yes" for field in MRI_QUESTIONS) and not values.get("mri_details"):
        problems["mri_details"] = (
            "Say which device, metal or implant, as far as known: MRI staff check each one"
        )
    return problems


def _text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    return value if isinstance(value, str) else ""


__all__ = [
    "FORM_VERSION",
    "NOT_APPLICABLE",
    "PREGNANCY_AGES",
    "applies",
    "conditional_problems",
    "pregnancy_required",
    "settle",
    "shown",
]
