"""From a stored request back to an email, a confirmation card or a by-hand fallback.

The outbox stores a request as its JSON payload. These functions re-validate
that payload into the model (with the date it was made, so an age or date rule
gives the same answer as at submission) and draw everything from it.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

from bot.directory import Directory
from bot.mail.compose import compose_email, render_text
from bot.mail.worker import DeliveryEvent
from bot.orders.form import confirmation_context
from bot.orders.model import LONDON, RadiologyRequest
from bot.store.outbox import Outbox


def request_from_payload(
    payload: dict[str, Any], created_at: datetime, directory: Directory
) -> RadiologyRequest:
    local_day = (created_at.astimezone(LONDON) if created_at.tzinfo else created_at).date()
    return RadiologyRequest.model_validate(
        payload, context={"directory": directory, "today": local_day}
    )


class OrderDelivery:
    """The order side of delivery: rendering emails and telling the user the outcome."""

    def __init__(self, *, outbox: Outbox, directory: Directory, sender: str) -> None:
        self._outbox = outbox
        self._directory = directory
        self._sender = sender

    def render_email(
        self, payload: dict[str, Any], reference: str, created_at: datetime
    ) -> EmailMessage:
        """The worker's `render`: raises on a payload that is no longer a valid request."""
        request = request_from_payload(payload, created_at, self._directory)
        document = request.as_document(reference, created_at, self._directory)
        return compose_email(document, sender=self._sender)

    async def confirmation(self, event: DeliveryEvent) -> dict[str, Any]:
        """Context for the updated confirmation card: masked NHS number while it is held."""
        record = await self._outbox.get(event.reference)
        payload = record.payload if record else None
        patient = payload.get("patient") if isinstance(payload, dict) else None
        nhs_number = patient.get("nhs_number") if isinstance(patient, dict) else None
        modality = payload.get("modality") if isinstance(payload, dict) else None
        return confirmation_context(
            reference=event.reference,
            trust=record.trust if record else "",
            department=record.department if record else "",
            modality=modality if isinstance(modality, str) else None,
            status=event.status,
            directory=self._directory,
            nhs_number=nhs_number if isinstance(nhs_number, str) else None,
            sent_at=event.sent_at,
        )

    async def manual_text(self, reference: str) -> str | None:
        """The request as plain text, for the user to email by hand after a failure."""
        record = await self._outbox.get(reference)
        if record is None or record.payload is None:
            return None
        request = request_from_payload(record.payload, record.created_at, self._directory)
        return render_text(request.as_document(reference, record.created_at, self._directory))
