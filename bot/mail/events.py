"""What the mail outbox says happened to a request, for whoever tells the user.

The worker (`bot/mail/worker.py`) makes one `DeliveryEvent` per outcome it
records and hands it to its `Notify` callback; the Teams edge
(`bot/teams/proactive.py`), the downtime log (`bot/incidents/downtime_log.py`)
and the confirmation card's context (`bot/orders/delivery.py`) read it. It is
its own module so that they need nothing else of the worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """What the user is told: no patient data, only what the card and message need."""

    reference: str
    user_id: str
    status: Literal["sent", "failed"]
    mailbox: str
    sent_at: datetime | None = None
    reason: str | None = None


#: The worker's callback for each recorded outcome.
Notify = Callable[[DeliveryEvent], Awaitable[None]]

__all__ = ["DeliveryEvent", "Notify"]
