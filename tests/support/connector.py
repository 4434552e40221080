"""The connector stub the suite's bots reply to, with what the fault tests need.

`RecordingConnector` is `make chat`'s `ConnectorStub` (bot/devchat/connector.py)
plus a log of every call Teams would have received, with the status it
answered, and an outage switch: while `outage` is down, the calls it names get
its status and never reach the stub.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.devchat.connector import ConnectorStub


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    #: time.monotonic() when it was answered.
    at: float


@dataclass
class Outage:
    """Teams' side: while `status` is set, calls with a method in `methods` get it back."""

    status: int | None = None
    methods: frozenset[str] = frozenset({"PUT", "POST"})

    def down(self, status: int = 503, methods: tuple[str, ...] = ("PUT", "POST")) -> None:
        self.status, self.methods = status, frozenset(methods)

    def up(self) -> None:
        self.status = None


@dataclass
class RecordingConnector(ConnectorStub):
    #: Every call, answered by the stub or by the outage, in order.
    calls: list[Call] = field(default_factory=list)
    outage: Outage = field(default_factory=Outage)

    def app(self) -> web.Application:
        app = super().app()

        @web.middleware
        async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self.outage.status is not None and request.method in self.outage.methods:
                response: web.StreamResponse = web.json_response(
                    {"error": {"code": "Outage"}}, status=self.outage.status
                )
            else:
                response = await handler(request)
            self.calls.append(Call(request.method, request.path, response.status, time.monotonic()))
            return response

        app.middlewares.append(observe)
        return app


__all__ = ["Call", "Outage", "RecordingConnector"]
