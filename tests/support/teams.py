"""Teams-shaped activities and a harness that talks to the real app over HTTP.

The bot under test is the real aiohttp application with the real CloudAdapter;
its replies go to a `ConnectorStub` on loopback, which records them. Nothing in
between is mocked.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient

from bot.devchat.connector import ConnectorStub, Sent
from tests.support.cards import iter_actions

BOT_ID = "28:ice-downtime-bot"
BOT_NAME = "ICE Downtime"
TENANT = "tenant-sel"


def activity(
    service_url: str,
    *,
    type: str = "message",
    text: str | None = None,
    value: Any = None,
    name: str | None = None,
    kind: str = "personal",
    user_id: str = "29:user-1",
    user_name: str = "Sam Receptionist",
    conversation_id: str | None = None,
    tenant: str | None = TENANT,
    activity_id: str | None = None,
    reply_to_id: str | None = None,
    mention: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One activity as Teams sends it (personal chat, channel or group chat)."""
    conversation: dict[str, Any] = {
        "id": conversation_id or f"a:{kind}-conversation-{user_id}",
        "conversationType": kind,
        "tenantId": tenant,
    }
    if kind == "channel":
        conversation["id"] = conversation_id or "19:channel@thread.tacv2;messageid=1"
    body: dict[str, Any] = {
        "type": type,
        "id": activity_id or f"act-{next(_ids)}",
        "timestamp": "2026-11-29T10:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": user_id, "name": user_name, "aadObjectId": f"aad-{user_id}"},
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": conversation,
        "channelData": {"tenant": {"id": tenant}} if tenant else {},
        "locale": "en-GB",
    }
    if kind == "channel":
        body["channelData"].update({"team": {"id": "19:team"}, "channel": {"id": "19:channel"}})
    if text is not None:
        if mention:
            tag = f"<at>{BOT_NAME}</at>"
            body["text"] = f"{tag} {text}"
            body["entities"] = [
                {"type": "mention", "text": tag, "mentioned": {"id": BOT_ID, "name": BOT_NAME}}
            ]
        else:
            body["text"] = text
    if value is not None:
        body["value"] = value
    if name is not None:
        body["name"] = name
    if reply_to_id is not None:
        body["replyToId"] = reply_to_id
    body.update(extra or {})
    return body


_ids = itertools.count(1)


@dataclass
class Turn:
    """What one POST produced: the HTTP answer and the connector calls it caused."""

    status: int
    body: Any
    sent: list[Sent] = field(default_factory=list)
    #: The posted activity's type and replyToId: which card updates answer this turn.
    kind: str = "message"
    reply_to_id: str | None = None

    @property
    def cards(self) -> list[dict[str, Any]]:
        """Cards this turn produced: new messages, plus (for Action.Submit) the update of
        the card pressed. Background updates from the outbox worker are not this turn's."""
        return [s.card for s in self.sent if s.card is not None and self._answers(s)]

    def _answers(self, sent: Sent) -> bool:
        if sent.method != "PUT":
            return True
        return self.kind == "message" and sent.activity_id == self.reply_to_id

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.sent if s.text]

    @property
    def invoke_card(self) -> dict[str, Any] | None:
        """The card an Action.Execute response replaced the original with."""
        if isinstance(self.body, dict) and self.body.get("type", "").endswith("card.adaptive"):
            return self.body["value"]
        return None

    @property
    def dialog_card(self) -> dict[str, Any] | None:
        """The card a dialog invoke's answer shows next (`task` of type `continue`)."""
        task = self.body.get("task") if isinstance(self.body, dict) else None
        if isinstance(task, dict) and task.get("type") == "continue":
            return task["value"]["card"]["content"]
        return None

    @property
    def dialog_message(self) -> str | None:
        """The text a dialog invoke's answer shows (`task` of type `message`)."""
        task = self.body.get("task") if isinstance(self.body, dict) else None
        if isinstance(task, dict) and task.get("type") == "message":
            return task["value"]
        return None

    @property
    def dialog_closed(self) -> bool:
        """A dialog invoke answered 200 with no body: Teams closes the dialog."""
        return self.kind == "invoke" and self.status == 200 and self.body is None

    @property
    def only_card(self) -> dict[str, Any]:
        cards = ([self.invoke_card] if self.invoke_card else []) + self.cards
        assert len(cards) == 1, f"expected one card, got {len(cards)}: {self}"
        return cards[0]


@dataclass
class BotHarness:
    client: TestClient
    connector: ConnectorStub
    service_url: str

    async def post(self, body: Any, *, headers: dict[str, str] | None = None) -> Turn:
        before = len(self.connector.sent)
        response = await self.client.post("/api/messages", json=body, headers=headers)
        try:
            payload = await response.json(content_type=None)
        except ValueError:
            payload = None
        sent = self.connector.sent[before:]
        if not isinstance(body, dict):
            return Turn(response.status, payload, sent)
        return Turn(response.status, payload, sent, str(body.get("type")), body.get("replyToId"))

    async def say(self, text: str, **kwargs: Any) -> Turn:
        return await self.post(activity(self.service_url, text=text, **kwargs))

    async def execute(self, verb: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Turn:
        """Press an Action.Execute button (an `adaptiveCard/action` invoke)."""
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": {**(data or {}), "verb": verb},
            },
            "trigger": "manual",
        }
        kwargs.setdefault("reply_to_id", "card-activity-1")
        return await self.post(
            activity(
                self.service_url, type="invoke", name="adaptiveCard/action", value=value, **kwargs
            )
        )

    async def open_dialog(self, data: dict[str, Any], **kwargs: Any) -> Turn:
        """Press a button that opens a Teams dialog (a `task/fetch` invoke with its data)."""
        return await self._dialog("task/fetch", data, **kwargs)

    async def submit_dialog(self, data: dict[str, Any], **kwargs: Any) -> Turn:
        """Press an Action.Submit inside a dialog (a `task/submit` invoke), inputs merged in."""
        return await self._dialog("task/submit", data, **kwargs)

    async def _dialog(self, name: str, data: dict[str, Any], **kwargs: Any) -> Turn:
        value = {"context": {"theme": "default"}, "data": data}
        kwargs.setdefault("reply_to_id", "card-activity-1")
        return await self.post(
            activity(self.service_url, type="invoke", name=name, value=value, **kwargs)
        )

    async def submit(self, verb: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Turn:
        """Press the Action.Submit fallback (a message with `value` and no text)."""
        kwargs.setdefault("reply_to_id", "card-activity-1")
        return await self.post(
            activity(self.service_url, value={**(data or {}), "verb": verb}, **kwargs)
        )


def find_action(card: dict[str, Any], verb: str) -> dict[str, Any]:
    """The first action in a card (top level or in ActionSets) with this verb."""
    for action in iter_actions(card):
        if action.get("verb") == verb or (action.get("data") or {}).get("verb") == verb:
            return action
    raise AssertionError(f"no action with verb {verb!r} in card")
