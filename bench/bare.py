"""The floor: the same HTTP exchange as a bot turn with none of the bot.

It reads and parses the activity JSON and answers 200, which is all the HTTP
work any bot must do. Whatever a bot costs above this is the bot's own. It sends
no reply to the connector, so the harness expects none from it.

Run: `python -m bench.bare --port 3978` (or PORT in the environment).
"""

from __future__ import annotations

import argparse
import json
import os

from aiohttp import web


async def messages(request: web.Request) -> web.Response:
    activity = json.loads(await request.read())
    if not isinstance(activity, dict) or "type" not in activity:
        return web.Response(status=400)
    return web.Response(status=200)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bare aiohttp floor for the bot benchmark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3978")))
    args = parser.parse_args(argv)
    web.run_app(build_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
