"""A local stand-in for the Bot Framework connector service.

The bot answers a turn by calling back to the activity's `serviceUrl`. Pointing
that URL here lets the chat client and the tests see exactly what the bot
sent (replies, card updates, new conversations) without Microsoft's cloud.
Faults can be queued (`fail_next`) to test the bot's handling of 429s and 5xxs.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Sent:
    """One call the bot made to the connector."""

    method: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    #: The id the connector gave a new message (what a later update or replyToId refers to).
    assigned_id: str | None = None

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.body.get("attachments") or []:
            content = attachment.get("content")
            adaptive = attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
            if adaptive and isinstance(content, dict):
                return content
        return None

    @property
    def text(self) -> str | None:
        return self.body.get("text")


@dataclass
class ConnectorStub:
    """Records what the bot sends; answers like the connector would."""

    sent: list[Sent] = field(default_factory=list)
    created_conversations: list[dict[str, Any]] = field(default_factory=list)
    _faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    #: Conversations that answer every call with this status (403: the app was removed).
    _refusing: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{cid}/activities", self._post)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._put)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        return app

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` calls with `status` (e.g. 429 with Retry-After)."""
        self._faults.extend([(status, headers or {})] * times)

    def refuse(self, conversation_id: str, status: int = 403) -> None:
        """Answer every call to this conversation with `status`, as Teams does once the app
        is removed from it (403) or the conversation is gone (404)."""
        self._refusing[conversation_id] = status

    @property
    def pending_faults(self) -> int:
        """Injected failures not yet used up."""
        return len(self._faults)

    @property
    def replies(self) -> list[Sent]:
        return [s for s in self.sent if s.method == "POST"]

    @property
    def updates(self) -> list[Sent]:
        return [s for s in self.sent if s.method == "PUT"]

    async def wait_for(self, count: int) -> list[Sent]:
        """Wait until at least `count` calls were recorded (for background sends).

        Callers bound the wait with `asyncio.timeout`.
        """
        while len(self.sent) < count:
            await self._event().wait()
            self._event().clear()
        return self.sent

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _fault(self) -> web.Response | None:
        if not self._faults:
            return None
        status, headers = self._faults.pop(0)
        return web.json_response({"error": {"code": "Injected"}}, status=status, headers=headers)

    def _refused(self, request: web.Request) -> web.Response | None:
        status = self._refusing.get(request.match_info["cid"])
        if status is None:
            return None
        return web.json_response({"error": {"code": "BotNotInConversationRoster"}}, status=status)

    def _record(self, request: web.Request, body: dict[str, Any], method: str) -> str:
        activity_id = request.match_info.get("aid")
        assigned = f"activity-{next(self._ids)}" if method == "POST" else activity_id
        self.sent.append(Sent(method, request.match_info["cid"], activity_id, body, assigned))
        self._event().set()
        return assigned or ""

    async def _post(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        if fault := self._fault():
            return fault
        new_id = self._record(request, await request.json(), "POST")
        return web.json_response({"id": new_id}, status=201)

    async def _put(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        if fault := self._fault():
            return fault
        self._record(request, await request.json(), "PUT")
        return web.json_response({"id": request.match_info["aid"]}, status=200)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        if fault := self._fault():
            return fault
        body = await request.json()
        self.created_conversations.append(body)
        conversation_id = f"personal-{next(self._ids)}"
        return web.json_response({"id": conversation_id, "activityId": None}, status=201)

    async def _member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["mid"]
        return web.json_response({"id": member_id, "name": "Test User", "userRole": "user"})
