"""The benchmark's pieces work, so a bad `make bench` figure is the bot's and not the harness's.

In-process and fast: the stock echo bot and the connector stub run on the
test's own loop (the echo bot's blocking `requests` call runs in a worker
thread, so the stub on this loop can answer it).
"""

from __future__ import annotations

import json

from aiohttp import web

from bench import bare, connector_stub, echo_bot
from bench.load import message_activity, prepare, run_load


async def test_stub_records_the_echo_bots_reply(aiohttp_server):
    state = connector_stub.StubState()
    stub = await aiohttp_server(connector_stub.build_app(state))
    bot = await aiohttp_server(echo_bot.build_app())
    service_url = str(stub.make_url("")).rstrip("/")

    def factory(i: int):
        activity = message_activity("hello bench", service_url=service_url, user=i)
        return activity, f"reply:{activity['id']}"

    requests = prepare(factory, 2)
    result = await run_load(str(bot.make_url("/api/messages")), requests, 1)

    assert (result.ok, result.non_2xx, result.errors) == (2, 0, 0)
    assert state.counts["reply"] == 2
    assert {f"reply:{json.loads(r.body)['id']}" for r in requests} <= state.seen
    assert state.last_bodies[-1]["text"] == "Echo: hello bench"


async def test_stub_answers_member_lookup_and_check(aiohttp_client):
    client = await aiohttp_client(connector_stub.build_app())
    member = await client.get("/v3/conversations/a:1/members/29:someone")
    assert member.status == 200
    assert (await member.json())["id"] == "29:someone"
    upd = await client.put("/v3/conversations/a:1/activities/card-1", json={"type": "message"})
    assert (await upd.json())["id"] == "card-1"
    check = await client.post("/_bench/check", json=["update:card-1", "reply:never"])
    assert (await check.json())["missing"] == 1


async def test_load_client_counts_non_2xx(aiohttp_server):
    calls = {"n": 0}

    async def flaky(request: web.Request) -> web.Response:
        await request.read()
        calls["n"] += 1
        return web.Response(status=503 if calls["n"] % 2 == 0 else 200)

    app = web.Application()
    app.router.add_post("/api/messages", flaky)
    server = await aiohttp_server(app)
    requests = prepare(lambda i: (message_activity("x", service_url="http://x"), None), 10)

    result = await run_load(str(server.make_url("/api/messages")), requests, 3)

    assert result.ok == 5
    assert result.non_2xx == 5
    assert result.statuses == {200: 5, 503: 5}
    assert len(result.latencies) == 10


async def test_bare_floor_answers_200(aiohttp_client):
    client = await aiohttp_client(bare.build_app())
    resp = await client.post("/api/messages", json=message_activity("x", service_url="http://x"))
    assert resp.status == 200


def test_profile_summary_shares_self_time_by_package_and_ours_inclusive(tmp_path):
    from bench.profile_ours import summarise

    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(
        "main (app.py:70);handle (bot/web.py:217);execute (sqlalchemy/engine/base.py:1) 3\n"
        "main (app.py:70);handle (bot/web.py:220);render (cards/render.py:126) 1\n"
    )
    summary = summarise(collapsed)
    assert dict(summary["self_by_package"]) == {"sqlalchemy": 75.0, "cards": 25.0}
    ours = dict(summary["ours_inclusive"])
    assert ours["handle (bot/web.py)"] == 100.0  # two lines of one function, counted once
    assert ours["render (cards/render.py)"] == 25.0
