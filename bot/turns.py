"""Plain types that carry one turn between the Teams edge and the handlers.

The edge turns a Bot Framework activity into an `Incoming`; a handler returns
an `Outcome`; the edge turns that back into activities. Nothing here knows
botbuilder, so handlers are tested without HTTP and survive an SDK change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: "unknown" is what the edge makes of a conversation type Teams does not send; it is
#: refused at the HTTP edge, and never personal if it ever gets further.
ConversationKind = Literal["personal", "channel", "groupChat", "unknown"]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str = ""
    aad_object_id: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    kind: ConversationKind = "personal"
    tenant_id: str | None = None

    @property
    def is_personal(self) -> bool:
        return self.kind == "personal"


@dataclass(frozen=True, slots=True)
class CardAction:
    """A button press or form submission from one of our cards."""

    verb: str
    data: Mapping[str, Any] = field(default_factory=dict)
    #: True for Action.Execute (an invoke we answer with a card), False for Action.Submit.
    execute: bool = False
    #: The activity id of the card the action came from, for updating it in place.
    card_activity_id: str | None = None
    #: True when it came from (or opens) a Teams dialog: `task/fetch` or `task/submit`.
    #: The outcome's `update` is then what the dialog shows next; no update closes it.
    dialog: bool = False


@dataclass(frozen=True, slots=True)
class FileOffer:
    """A file the user attached to a message: where to fetch it, nothing fetched yet.

    `name` is the user's own file name and often holds a patient's name or NHS
    number: it may be shown back to that user in their personal chat, and
    never logged, emailed or put in a subject.
    """

    name: str
    url: str
    #: Bytes, when Teams says; the download is still capped whatever it says.
    declared_size: int | None = None
    #: Teams' own type hint ("pdf", "image/png"): never trusted, the content decides.
    type_hint: str = ""
    #: An image pasted into the compose box, on the activity's own (authenticated)
    #: connector host: fetched with the bot's token. Files from SharePoint never are.
    teams_hosted: bool = False


#: Fetches the bot's Bot Framework token for this turn (None when authentication is off).
Bearer = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Incoming:
    user: User
    conversation: Conversation
    text: str = ""
    action: CardAction | None = None
    activity_id: str | None = None
    #: In a personal chat, where to reach this user later (JSON; opaque outside the edge).
    reply_reference: Mapping[str, Any] | None = None
    #: Files attached to this message (Teams file uploads and pasted images), in order.
    attachments: tuple[FileOffer, ...] = ()
    #: The bot's token for Teams-hosted attachments (`FileOffer.teams_hosted`); set by the edge.
    bearer: Bearer | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message: a card, plain text, or both (text doubles as the notification summary)."""

    text: str | None = None
    card: Mapping[str, Any] | None = None
    #: Told the new message's activity id once it is posted (None if it could not be):
    #: how a confirmation card posted from a dialog is found again to update it.
    posted: Callable[[str | None], Awaitable[None]] | None = None

    @property
    def summary(self) -> str:
        if self.text:
            return self.text
        if self.card:
            return str(self.card.get("fallbackText", ""))
        return ""


@dataclass(slots=True)
class Outcome:
    """What a handler wants done.

    `update` replaces the card the action came from (in place, no live buttons
    left behind) or, for an action in a Teams dialog, is the dialog's next card
    (none closes the dialog); `replies` are new messages in the same conversation;
    `private` are messages for the user's personal chat with the bot, used when
    a channel conversation must not hold patient data.
    """

    replies: list[Reply] = field(default_factory=list)
    update: Mapping[str, Any] | None = None
    private: list[Reply] = field(default_factory=list)

    @classmethod
    def card(cls, card: Mapping[str, Any], text: str | None = None) -> Outcome:
        return cls(replies=[Reply(text=text, card=card)])

    @classmethod
    def message(cls, text: str) -> Outcome:
        return cls(replies=[Reply(text=text)])


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One entry a message-extension search offers: a preview line and the card to insert."""

    title: str
    text: str
    card: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    """What a search found, or (with no results) a line saying why there are none."""

    results: tuple[SearchResult, ...] = ()
    message: str | None = None
