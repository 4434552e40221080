"""Requests as the form's cards submit them: a valid one, and the routes tests change it to."""

from __future__ import annotations

from typing import Any

from bot.directory import load_directory
from bot.orders.fields import FIELDS

#: Every input id the form declares (bot/orders/fields.py).
INPUT_IDS = [spec.id for spec in FIELDS]


def valid_payload(**changes: Any) -> dict[str, Any]:
    """A complete KCH ultrasound request as the form card submits it (test-range NHS number)."""
    payload: dict[str, Any] = {
        "verb": "order.review",
        "form_id": "form-1",
        "owner": "29:user-1",
        "trust": "kch",
        "department": "ultrasound",
        "modality": "ultrasound",
        "examination": "Ultrasound abdomen",
        "laterality": "not_applicable",
        "priority": "routine",
        "clinical_history": "Right upper quadrant pain for 3 weeks, deranged LFTs.",
        "clinical_question": "Gallstones? Biliary dilatation?",
        "patient_surname": "Testpatient",
        "patient_forenames": "Alex",
        "patient_dob": "1980-05-04",
        "nhs_number": "999 000 0018",
        "patient_sex": "female",
        "address_line1": "1 Test Street",
        "address_line2": "",
        "address_town": "London",
        "postcode": "se1 7eh",
        "patient_phone": "07400 123456",
        "interpreter_needed": "no",
        "interpreter_language": "",
        "mobility_needs": "",
        "reasonable_adjustments": "",
        "referrer_name": "Dr Sam Test",
        "referrer_role": "GP",
        "referrer_registration": "1234567",
        "practice_name": "Test Medical Practice",
        "practice_ods": "g85001",
        "practice_email": "Test.Practice@nhs.net",
        "practice_phone": "020 7188 7188",
    }
    payload.update(changes)
    return payload


GSTT_CT = {"trust": "gstt", "department": "radiology", "modality": "ct"}
KCH_FLUORO = {"trust": "kch", "department": "fluoroscopy", "modality": "fluoroscopy"}
KCH_XRAY = {"trust": "kch", "department": "xray", "modality": "xray"}


def bcp_mailboxes() -> list[str]:
    """Every nhs.net mailbox the BCP names: radiology, results, IT service desks."""
    directory = load_directory()
    named = [str(d.mailbox) for t in directory.trusts for d in t.departments]
    named += [str(box.mailbox) for box in directory.results]
    named += [str(desk.email) for desk in directory.service_desks]
    return [address for address in named if address.lower().endswith("@nhs.net")]
