"""A complete, valid downtime request for trying the bot: never a real patient.

The NHS number is from the range reserved for test data (999 000 0000 to
999 999 9999); the practice and referrer are invented. `make chat` fills a
card with it (`/sample N`), and the benchmark submits it.
"""

from __future__ import annotations

from collections.abc import Mapping

SAMPLE_REQUEST: Mapping[str, str] = {
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
    "patient_sex": "male",
    "address_line1": "1 Test Street",
    "address_town": "London",
    "postcode": "SE1 7EH",
    "patient_phone": "07400 123456",
    "interpreter_needed": "no",
    "referrer_name": "Dr Sam Test",
    "referrer_role": "GP",
    "referrer_registration": "1234567",
    "practice_name": "Test Medical Practice",
    "practice_ods": "G85001",
    "practice_email": "test.practice@nhs.net",
    "practice_phone": "020 7188 7188",
}
