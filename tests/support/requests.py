"""A request queued straight into the store, as Send would queue it: for the store's own tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store.outbox import Outbox

#: A test patient: the NHS number the logs must show masked, the name they must never show.
PATIENT_PAYLOAD: dict[str, Any] = {
    "patient": {"nhs_number": "999 000 0018", "surname": "Testpatient"}
}


async def queue_request(
    outbox: Outbox,
    form: str,
    user: str,
    at: datetime,
    *,
    ods: str = "G85001",
    payload: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    """A KCH ultrasound request by `user` for practice `ods` at `at`; its reference."""
    submission = await outbox.submit(
        form_id=form,
        user_id=user,
        practice_ods=ods,
        trust="kch",
        department="ultrasound",
        priority="urgent",
        mailbox="kch-tr.us.reception_dh@nhs.net",
        payload=PATIENT_PAYLOAD if payload is None else payload,
        created_at=at,
        **extra,
    )
    return submission.reference
