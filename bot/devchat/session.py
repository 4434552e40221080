"""One simulated Teams user talking to a running bot over HTTP.

The session plays both sides Teams normally plays: it posts activities to the
bot, and its `ConnectorStub` receives what the bot sends back.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.devchat.connector import ConnectorStub, Sent
from bot.devchat.files import LocalFiles
from bot.devchat.render import RenderedCard, render_card
from bot.devchat.samples import SAMPLE_REQUEST

BOT_ID = "28:local-ice-downtime-bot"
#: What Teams sends for a file attached in a personal chat.
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"


@dataclass
class Shown:
    """Something the user now sees: a card (with its activity id) or a text."""

    text: str
    card: RenderedCard | None = None
    activity_id: str | None = None
    updated: bool = False
    #: A card shown in a Teams dialog (task module) rather than in the chat.
    dialog: bool = False


@dataclass
class ChatSession:
    bot_url: str
    service_url: str
    connector: ConnectorStub
    http: aiohttp.ClientSession
    user_id: str = "29:local-user"
    user_name: str = "Local Tester"
    tenant_id: str = "local-tenant"
    kind: str = "personal"
    files: LocalFiles | None = None
    #: Open buttons that ask for a dialog as Teams does (`task/fetch`); False plays a
    #: client without dialogs, which sends them as ordinary Action.Submit messages.
    dialogs: bool = True
    last_card: Shown | None = None
    #: The open dialog's card; None when no dialog is open.
    dialog: Shown | None = None
    _seen: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _activity(self, **fields: Any) -> dict[str, Any]:
        conversation_id = f"local-{self.kind}-{self.user_id}"
        body: dict[str, Any] = {
            "type": "message",
            "id": f"local-{uuid.uuid4().hex[:12]}",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {"id": self.user_id, "name": self.user_name, "aadObjectId": "local-aad"},
            "recipient": {"id": BOT_ID, "name": "ICE Downtime"},
            "conversation": {"id": conversation_id, "conversationType": self.kind},
            "channelData": {"tenant": {"id": self.tenant_id}},
            "locale": "en-GB",
        }
        body.update(fields)
        return body

    async def say(self, text: str) -> list[Shown]:
        if self.kind != "personal":
            text = f"<at>ICE Downtime</at> {text}"
            entity = {
                "type": "mention",
                "text": "<at>ICE Downtime</at>",
                "mentioned": {"id": BOT_ID},
            }
            return await self._post(self._activity(text=text, entities=[entity]))
        return await self._post(self._activity(text=text))

    async def attach(self, path: Path, text: str = "") -> list[Shown]:
        """Send `path` as Teams sends an attached file: a download URL on (our) file server."""
        if self.files is None:
            raise LookupError("this chat has no file server")
        path = await asyncio.to_thread(path.expanduser)
        if not await asyncio.to_thread(path.is_file):
            raise LookupError(f"no such file: {path}")
        url = self.files.offer(path)
        attachment = {
            "contentType": FILE_DOWNLOAD_INFO,
            "contentUrl": url,
            "name": path.name,
            "content": {
                "downloadUrl": url,
                "uniqueId": uuid.uuid4().hex.upper(),
                "fileType": path.suffix.lstrip(".").lower(),
            },
        }
        fields: dict[str, Any] = {"attachments": [attachment]}
        if text:
            fields["text"] = text
        if self.kind != "personal":
            fields["text"] = f"<at>ICE Downtime</at> {text}".strip()
            fields["entities"] = [
                {"type": "mention", "text": "<at>ICE Downtime</at>", "mentioned": {"id": BOT_ID}}
            ]
        return await self._post(self._activity(**fields))

    async def press(self, number: int, inputs: dict[str, Any] | None = None) -> list[Shown]:
        """Press button `number` of the open dialog's card or else the last card, with the
        card's inputs as filled in."""
        shown = self.dialog or self.last_card
        if shown is None or shown.card is None:
            raise LookupError("there is no card to press a button on")
        buttons = shown.card.buttons
        if not 1 <= number <= len(buttons):
            raise LookupError(f"the card has buttons 1 to {len(buttons)}")
        action = buttons[number - 1]
        if action.get("type") == "Action.OpenUrl":
            return [Shown(text=f"(would open {action.get('url')} in the browser)")]
        if action.get("type") == "Action.ToggleVisibility":
            return [Shown(text="(folded parts of the card are listed above already)")]
        data = {**(inputs or {}), **(action.get("data") or {})}
        if self.dialog is not None:
            return await self._dialog("task/submit", data)
        if self.dialogs and (data.get("msteams") or {}).get("type") == "task/fetch":
            return await self._dialog("task/fetch", data)
        if action.get("type") == "Action.Execute":
            value = {"action": {"type": "Action.Execute", "verb": action.get("verb"), "data": data}}
            body = self._activity(
                type="invoke",
                name="adaptiveCard/action",
                value=value,
                replyToId=shown.activity_id,
            )
            return await self._post(body)
        return await self._post(self._activity(value=data, replyToId=shown.activity_id))

    async def _dialog(self, name: str, data: dict[str, Any]) -> list[Shown]:
        """Open a dialog (`task/fetch`) or press a button in it (`task/submit`), as Teams does:
        the answer is the dialog's next card, a line of text, or nothing (it closes)."""
        value = {"context": {"theme": "default"}, "data": data}
        reply_to = self.last_card.activity_id if self.last_card else None
        body = self._activity(type="invoke", name=name, value=value, replyToId=reply_to)
        async with self.http.post(self.bot_url, json=body) as response:
            payload = await response.json(content_type=None) if response.content_length else None
            if response.status >= 400:
                return [Shown(text=f"(the bot answered HTTP {response.status}: {payload})")]
        task = payload.get("task") if isinstance(payload, dict) else None
        shown: list[Shown] = []
        if isinstance(task, dict) and task.get("type") == "continue":
            info = task.get("value") or {}
            card = render_card((info.get("card") or {}).get("content") or {})
            self.dialog = Shown(text=str(info.get("title", "")), card=card, dialog=True)
            shown.append(self.dialog)
        else:
            self.dialog = None
            if isinstance(task, dict) and task.get("type") == "message":
                shown.append(Shown(text=f"(dialog) {task.get('value', '')}"))
            else:
                shown.append(Shown(text="(the dialog closed)"))
        return shown + self.drain()

    def close_dialog(self) -> list[Shown]:
        """Close the dialog without submitting it (Teams' X): nothing is sent to the bot."""
        self.dialog = None
        return [Shown(text="(the dialog closed)")]

    async def search(self, query: str, command_id: str = "lookup") -> list[Shown]:
        """Type `query` in the message extension's search box, as Teams sends it."""
        value = {
            "commandId": command_id,
            "parameters": [{"name": "query", "value": query}],
            "queryOptions": {"skip": 0, "count": 25},
        }
        body = self._activity(type="invoke", name="composeExtension/query", value=value)
        async with self.http.post(self.bot_url, json=body) as response:
            payload = await response.json(content_type=None) if response.content_length else None
            if response.status >= 400 or not isinstance(payload, dict):
                return [Shown(text=f"(the bot answered HTTP {response.status}: {payload})")]
        extension = payload.get("composeExtension") or {}
        if extension.get("type") != "result":
            return [Shown(text=f"(search) {extension.get('text', '')}")]
        return [
            Shown(
                text=f"(search result) {a['preview']['content']['title']}",
                card=render_card(a["content"]),
            )
            for a in extension.get("attachments", [])
        ]

    def card_inputs(self) -> list[dict[str, Any]]:
        shown = self.dialog or self.last_card
        return shown.card.inputs if shown and shown.card else []

    def sample_inputs(self) -> dict[str, Any]:
        """The last card's inputs filled from the sample request where it has a value."""
        return {
            element["id"]: SAMPLE_REQUEST.get(element["id"], element.get("value", ""))
            for element in self.card_inputs()
        }

    def button(self, title: str) -> int:
        """The number of the button with this title on the dialog's or the last card."""
        shown = self.dialog or self.last_card
        buttons = shown.card.buttons if shown and shown.card else []
        for number, action in enumerate(buttons, start=1):
            if str(action.get("title", "")).lower() == title.lower():
                return number
        raise LookupError(f"no button {title!r}")

    async def _post(self, body: dict[str, Any]) -> list[Shown]:
        async with self.http.post(self.bot_url, json=body) as response:
            payload = await response.json(content_type=None) if response.content_length else None
            if response.status >= 400:
                return [Shown(text=f"(the bot answered HTTP {response.status}: {payload})")]
        shown = []
        if isinstance(payload, dict) and str(payload.get("type", "")).endswith("card.adaptive"):
            card = Shown(
                text="",
                card=render_card(payload["value"]),
                activity_id=self.last_card.activity_id if self.last_card else None,
                updated=True,
            )
            self.last_card = card
            shown.append(card)
        drained = self.drain()
        if not drained and isinstance(payload, dict) and isinstance(payload.get("value"), str):
            # Teams shows an invoke's message briefly; when a message arrived, that is the answer.
            shown.append(Shown(text=payload["value"]))
        return shown + drained

    def drain(self) -> list[Shown]:
        """What the bot sent to the connector since we last looked (incl. background updates)."""
        new: list[Sent] = self.connector.sent[self._seen :]
        self._seen = len(self.connector.sent)
        shown = []
        for sent in new:
            if sent.card is not None:
                card = Shown(
                    text=sent.text or "",
                    card=render_card(sent.card),
                    activity_id=sent.assigned_id,
                    updated=sent.method == "PUT",
                )
                self.last_card = card
                shown.append(card)
            elif sent.text:
                shown.append(Shown(text=sent.text))
        return shown
