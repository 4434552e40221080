"""The BCP reference data: trusts, mailboxes, service desks and results mailboxes.

Everything the bot tells a user comes from `bot/data/directory.toml`, validated
once at start-up, so a typo in the data file stops the bot instead of sending a
request to a wrong address.
"""

from __future__ import annotations

import tomllib
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from bot.vocabulary import BOROUGHS, MODALITY_BY_ID, TRUST_IDS

DEFAULT_PATH = Path(__file__).parent / "data" / "directory.toml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceDesk(_Frozen):
    id: str
    name: str
    #: The BCP's own line before the desk's details ("For Bromley the service desk ...").
    intro: str
    boroughs: tuple[str, ...]
    portal_name: str
    #: Kept as the exact string the BCP gives (a URL type would add a trailing slash).
    portal_url: str = Field(pattern=r"^https://[^\s]+$")
    phone: str
    email: EmailStr


class Department(_Frozen):
    """A radiology mailbox. Its id is a modality id (bot/vocabulary.py) where the BCP
    lists one mailbox per modality; whether a modality is ionising is declared there."""

    id: str
    name: str
    mailbox: EmailStr


class Trust(_Frozen):
    id: str
    name: str
    short_name: str
    #: How the BCP names the trust where it lists mailboxes ("For Kings:").
    bcp_name: str
    form_name: str
    #: The BCP's line saying where the downtime form is.
    form_text: str
    single_mailbox: bool
    departments: tuple[Department, ...] = Field(min_length=1)

    def department(self, department_id: str) -> Department | None:
        return next((d for d in self.departments if d.id == department_id), None)


class Procedure(_Frozen):
    """The procedure's sentences, word for word from the BCP."""

    applies_to: str
    pcn_notice: str
    down_rule: str
    access_rule: str
    access_why: str
    access_short: str
    pcn_short: str
    form_step: str
    email_step: str


class AfterSending(_Frozen):
    epic_entry: str
    walk_in: str
    scheduling: str


class Rejections(_Frozen):
    title: str
    rejected: str
    small_changes: str
    access_problem: str


class ResultsSection(_Frozen):
    title: str


class ResultsMailbox(_Frozen):
    id: str
    name: str
    intro: str
    mailbox: EmailStr
    #: The BCP's "You should not reply to this mailbox." (empty if replies were allowed).
    no_reply: str
    note: str = ""


class Directory(_Frozen):
    version: str
    source: str
    procedure: Procedure
    service_desks: tuple[ServiceDesk, ...]
    trusts: tuple[Trust, ...]
    after_sending: AfterSending
    rejections: Rejections
    results_section: ResultsSection
    results: tuple[ResultsMailbox, ...]

    @model_validator(mode="after")
    def _every_borough_has_one_desk(self) -> Directory:
        covered = [b for desk in self.service_desks for b in desk.boroughs]
        if sorted(covered) != sorted(BOROUGHS):
            raise ValueError(f"service desks must cover each of {BOROUGHS} once, got {covered}")
        return self

    @model_validator(mode="after")
    def _names_are_the_vocabulary(self) -> Directory:
        """Trust ids and per-modality departments must be the ids the parser and form use."""
        if {t.id for t in self.trusts} != TRUST_IDS:
            raise ValueError(f"trusts must be {sorted(TRUST_IDS)}")
        for trust in self.trusts:
            unknown = [d.id for d in trust.departments if d.id not in MODALITY_BY_ID]
            if not trust.single_mailbox and unknown:
                raise ValueError(f"{trust.id} departments {unknown} are not modality ids")
        return self

    @cached_property
    def _desk_by_borough(self) -> dict[str, ServiceDesk]:
        return {b.lower(): desk for desk in self.service_desks for b in desk.boroughs}

    def desk_for(self, borough: str) -> ServiceDesk | None:
        return self._desk_by_borough.get(borough.strip().lower())

    @cached_property
    def _mailbox_kinds(self) -> dict[str, str]:
        kinds = {str(d.mailbox).lower(): "a radiology" for t in self.trusts for d in t.departments}
        kinds |= {str(box.mailbox).lower(): "a results" for box in self.results}
        kinds |= {str(desk.email).lower(): "an IT service desk" for desk in self.service_desks}
        return kinds

    def mailbox_kind(self, address: str) -> str | None:
        """ "a radiology", "a results" or "an IT service desk" when the BCP names this mailbox.

        A practice's reply mailbox must be its own: replies, rejections and
        results sent to one of these would reach nobody at the practice.
        """
        return self._mailbox_kinds.get(address.strip().lower())

    def trust(self, trust_id: str) -> Trust | None:
        return next((t for t in self.trusts if t.id == trust_id), None)

    def department(self, trust_id: str, department_id: str) -> Department | None:
        """The mailbox route for a trust and modality, or None when the BCP gives none.

        The BCP gives GSTT a single mailbox, so every modality maps to
        its one department; KCH only has the departments listed.
        """
        trust = self.trust(trust_id)
        if trust is None:
            return None
        if trust.single_mailbox:
            return trust.departments[0]
        return trust.department(department_id)


def load_directory(path: Path = DEFAULT_PATH) -> Directory:
    """Read and validate the data file; raises on any inconsistency."""
    with path.open("rb") as handle:
        return Directory.model_validate(tomllib.load(handle))
