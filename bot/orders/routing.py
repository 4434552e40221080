"""Where a request goes: the trust and modality, to the BCP mailbox, or to "no route".

Modalities (ids, names, ionising, contrast) are declared once in
`bot/vocabulary.py`, mailboxes in the BCP directory. The BCP gives GSTT one
mailbox for all radiology, so its directory department cannot tell an
ultrasound from a CT: the modality decides which safety questions apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.directory import Department, Directory, Trust
from bot.orders.validation import FieldError
from bot.vocabulary import Modality, modality


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes and which safety questions it needs."""

    trust: Trust
    department: Department
    modality: Modality

    @property
    def ionising(self) -> bool:
        """The modality decides: KCH ultrasound is not ionising, nor is an MRI sent to GSTT."""
        return self.modality.ionising

    @property
    def contrast(self) -> bool:
        return self.modality.contrast

    @property
    def mri(self) -> bool:
        return self.modality.id == "mri"

    @property
    def mailbox(self) -> str:
        return str(self.department.mailbox)

    @property
    def department_label(self) -> str:
        """ "Ultrasound" for KCH, "Radiology (CT)" for GSTT's single mailbox."""
        if self.department.id == self.modality.id:
            return self.department.name
        return f"{self.department.name} ({self.modality.name})"


class RouteError(FieldError):
    """The trust/modality pair has no downtime route; `field` is the input to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def no_route_message(trust: Trust, modality_name: str) -> str:
    """What the BCP says when it lists no mailbox for a modality, and nothing more.

    No alternative is offered: the BCP gives none, and an invented one (wait for
    ICE, try another mailbox) could delay an urgent scan.
    """
    names = [d.name for d in trust.departments]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return (
        f"The BCP lists {listed} for {trust.bcp_name}; "
        f"it gives no downtime route for {modality_name}."
    )


def resolve_route(
    directory: Directory,
    trust_id: str | None,
    modality_id: str | None,
    department_id: str | None = None,
) -> Route:
    """The mailbox route for a trust and modality; raises RouteError when the BCP gives none.

    A KCH modality without a mailbox in the BCP has no downtime route: say so
    plainly rather than guess an address. `department_id`, when given, is the
    value carried in the card's data and must match the route the server works out.
    """
    trust = directory.trust(trust_id or "")
    if trust is None:
        raise RouteError("trust", "Choose the trust: GSTT or King's")
    chosen = modality(modality_id)
    if chosen is None:
        raise RouteError("modality", "Choose the type of imaging")
    department = directory.department(trust.id, chosen.id)
    if department is None:
        raise RouteError("modality", no_route_message(trust, chosen.name))
    if department_id is not None and department_id != department.id:
        raise RouteError("modality", "The department does not match the trust: please start again")
    return Route(trust, department, chosen)


__all__ = ["Route", "RouteError", "no_route_message", "resolve_route"]
