"""A stand-in for the Bot Framework connector service, so a benchmark never leaves loopback.

A bot under test posts its replies to the activity's `serviceUrl`. Pointing that
at this stub lets the harness prove that every turn really produced its reply
(a fast bot that silently drops replies must not look good), while the stub's
own CPU is reported separately so it is not charged to the bot.

It answers the calls botbuilder 4.17 makes during a turn: send / reply / update
activity, create conversation (private messages) and the member look-ups
`TeamsInfo` does. Control endpoints under `/_bench/` let the harness reset the
counters and ask which expected replies are missing.

Run on its own: `python -m bench.connector_stub --port 0` prints `READY <port>`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

_JSON = "application/json"


@dataclass
class StubState:
    """Counters for one measurement window; reset by the harness between windows.

    Replies are keyed `reply:<replyToId>` and updates `update:<activityId>` so the
    harness can check by key that each request it sent was answered, not merely
    that the totals add up (a retry storm could otherwise hide a lost reply).
    """

    counts: Counter[str] = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)
    #: Client (host, port) pairs seen: how many TCP connections the bot opened to us.
    #: A bot that reuses one session opens a handful; a fresh session per call, one per reply.
    peers: set[tuple[str, int]] = field(default_factory=set)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    last_bodies: list[dict] = field(default_factory=list)
    keep_bodies: int = 20

    def reset(self) -> None:
        self.counts.clear()
        self.seen.clear()
        self.peers.clear()
        self.last_bodies.clear()

    def record(self, kind: str, key: str | None, body: dict | None) -> str:
        self.counts[kind] += 1
        if key:
            self.seen.add(f"{kind}:{key}")
        if body is not None:
            self.last_bodies.append(body)
            del self.last_bodies[: -self.keep_bodies]
        return f"stub-{next(self.ids)}"


async def _body(request: web.Request) -> dict | None:
    if not request.can_read_body:
        return None
    try:
        data = json.loads(await request.read())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def build_app(state: StubState | None = None) -> web.Application:
    """The stub as an aiohttp app, so tests can mount it in-process and the CLI can serve it."""
    st = state if state is not None else StubState()

    @web.middleware
    async def note_peer(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer and not request.path.startswith("/_bench/"):
            st.peers.add((str(peer[0]), int(peer[1])))
        return await handler(request)

    async def send_to_conversation(request: web.Request) -> web.Response:
        body = await _body(request)
        key = (body or {}).get("replyToId") or None
        new_id = st.record("reply", key, body)
        return web.json_response({"id": new_id}, status=200)

    async def reply_to_activity(request: web.Request) -> web.Response:
        body = await _body(request)
        new_id = st.record("reply", request.match_info["activity_id"], body)
        return web.json_response({"id": new_id}, status=200)

    async def update_activity(request: web.Request) -> web.Response:
        body = await _body(request)
        activity_id = request.match_info["activity_id"]
        st.record("update", activity_id, body)
        return web.json_response({"id": activity_id}, status=200)

    async def create_conversation(request: web.Request) -> web.Response:
        body = await _body(request)
        new_id = st.record("create", None, body)
        return web.json_response({"id": f"a:{new_id}", "activityId": new_id}, status=201)

    def _member(member_id: str, conversation_id: str) -> dict:
        return {
            "id": member_id,
            "name": "Bench User",
            "aadObjectId": "00000000-0000-0000-0000-00000000b3c4",
            "givenName": "Bench",
            "surname": "User",
            "email": "bench.user@nhs.net",
            "userPrincipalName": "bench.user@nhs.net",
            "tenantId": "bench-tenant",
            "userRole": "user",
            "conversationId": conversation_id,
        }

    async def get_member(request: web.Request) -> web.Response:
        st.record("member", None, None)
        return web.json_response(
            _member(request.match_info["member_id"], request.match_info["conversation_id"])
        )

    async def get_members(request: web.Request) -> web.Response:
        st.record("members", None, None)
        return web.json_response([_member("29:bench-user", request.match_info["conversation_id"])])

    async def paged_members(request: web.Request) -> web.Response:
        st.record("members", None, None)
        member = _member("29:bench-user", request.match_info["conversation_id"])
        return web.json_response({"members": [member]})

    async def stats(request: web.Request) -> web.Response:
        cpu = time.process_time()
        return web.json_response(
            {"counts": dict(st.counts), "connections": len(st.peers), "cpu_s": cpu}
        )

    async def reset(request: web.Request) -> web.Response:
        st.reset()
        return web.json_response({"cpu_s": time.process_time()})

    async def check(request: web.Request) -> web.Response:
        """Which of these keys never arrived. Takes a list, answers only the misses.

        A key may list alternatives as `a|b` (a card submission may be answered
        by a reply or by updating the card in place; either proves the turn ran).
        """
        keys = await request.json()
        missing = [k for k in keys if not any(part in st.seen for part in k.split("|"))]
        return web.json_response({"missing": len(missing), "sample": missing[:5]})

    async def last(request: web.Request) -> web.Response:
        return web.json_response(st.last_bodies)

    app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[note_peer])
    conv = "/v3/conversations/{conversation_id}"
    app.router.add_post("/v3/conversations", create_conversation)
    app.router.add_post(f"{conv}/activities", send_to_conversation)
    app.router.add_post(f"{conv}/activities/{{activity_id}}", reply_to_activity)
    app.router.add_put(f"{conv}/activities/{{activity_id}}", update_activity)
    app.router.add_get(f"{conv}/members", get_members)
    app.router.add_get(f"{conv}/pagedmembers", paged_members)
    app.router.add_get(f"{conv}/members/{{member_id}}", get_member)
    app.router.add_get("/_bench/stats", stats)
    app.router.add_post("/_bench/reset", reset)
    app.router.add_post("/_bench/check", check)
    app.router.add_get("/_bench/last", last)
    return app


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    # The harness reads this line to learn the port: binding port 0 here avoids
    # the race of picking a free port in one process and binding it in another.
    print(f"READY {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
