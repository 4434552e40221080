"""`make chat`: talk to a running bot from the terminal as a Teams user would.

    python -m bot.devchat [--bot http://localhost:$PORT/api/messages] [--port N]

It talks to the bot where `make run` listens: `PORT` from the environment or
`.env`, as the bot reads it (3978 by default). Its own connector stub, where
the bot's replies go, takes a free port unless `--port` names one.

Type a message; cards are shown as text with numbered buttons. Type a number to
press that button; if the card has inputs you are asked for each (Enter keeps
the value shown). `/sample N` (or `/sample <button title>`) presses that
button with a complete test request filled in (a test-range NHS number, never
a real patient): `order`, `1`, then `/sample next` three times, `/sample review
request` and `1` sends one. `/search kings us` searches as the
message extension does from any chat's compose box. `/channel` and
`/personal` switch conversation type (channel messages @mention the bot),
`/quit` leaves. `/attach PATH [text]` attaches a local file (a completed
trust form) as Teams does: the file is served from a loopback file server
and the bot fetches it (`make run` allows that in development mode), e.g.
`/attach ~/forms/general-imaging.pdf kings ultrasound urgent`.

A button that opens a Teams dialog (the request form's "New request") opens
one here too: its cards are shown as `--- dialog ---`, and numbers press the
dialog's buttons until it closes (`/close` closes it as Teams' X does).
`/dialogs off` plays a client that cannot open dialogs: the same button then
sends a message, and the form's steps come as cards in the chat.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.devchat.connector import ConnectorStub
from bot.devchat.files import LocalFiles
from bot.devchat.session import ChatSession, Shown

PROMPT = "you> "


def show(items: list[Shown]) -> None:
    for item in items:
        if item.card is not None:
            banner = "dialog" if item.dialog else "card updated" if item.updated else "card"
            print(f"\n--- {banner} " + "-" * (60 - len(banner)))
            if item.text:
                print(item.text)
            print(item.card.text)
            print("-" * 66)
        else:
            print(f"\nbot> {item.text}")


async def ask(prompt: str) -> str:
    return (await asyncio.to_thread(input, prompt)).strip()


async def fill_inputs(session: ChatSession) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for element in session.card_inputs():
        current = element.get("value", "")
        label = element.get("label") or element.get("id")
        choices = [c.get("value") for c in element.get("choices", []) if isinstance(c, dict)]
        hint = f" {choices}" if choices else ""
        answer = await ask(f"  {label}{hint} [{current}]: ")
        values[element["id"]] = answer or current
    return values


async def watch_updates(session: ChatSession) -> None:
    """Print what the bot sends later on its own (e.g. 'sent at 10:32')."""
    while True:
        await asyncio.sleep(0.5)
        items = session.drain()
        if items:
            show(items)
            print(PROMPT, end="", flush=True)


def default_bot_url() -> str:
    """The bot `make run` starts: its PORT comes from the environment or `.env`, like the bot's."""
    from bot.settings import DevDefaultSettings

    try:
        port = DevDefaultSettings().port
    except Exception:  # noqa: BLE001 - a configuration `make run` would refuse: use the default
        port = 3978
    return f"http://localhost:{port}/api/messages"


async def run(bot_url: str, port: int) -> int:
    connector = ConnectorStub()
    runner = web.AppRunner(connector.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    port = int(runner.addresses[0][1])  # the free port the OS gave, when asked for port 0
    files = LocalFiles()
    files_runner = await files.start()
    async with aiohttp.ClientSession() as http:
        session = ChatSession(bot_url, f"http://127.0.0.1:{port}/", connector, http, files=files)
        print(
            f"Talking to {bot_url} (connector stub on :{port}). Try 'ICE is down'. /quit to leave.",
            flush=True,
        )
        watcher = asyncio.create_task(watch_updates(session))
        try:
            while True:
                line = await ask(PROMPT)
                if line in ("/quit", "/exit"):
                    return 0
                if line in ("/dialogs on", "/dialogs off"):
                    session.dialogs = line.endswith("on")
                    print(
                        f"(dialogs {'open' if session.dialogs else 'off: steps come in the chat'})"
                    )
                    continue
                if line == "/close":
                    show(session.close_dialog())
                    continue
                if line in ("/channel", "/personal", "/groupChat"):
                    session.kind = line[1:]
                    print(f"(now in a {session.kind} conversation)")
                    continue
                if not line:
                    continue
                if line.startswith("/sample"):
                    which = line.removeprefix("/sample").strip() or "1"
                    try:
                        number = int(which) if which.isdigit() else session.button(which)
                        show(await session.press(number, session.sample_inputs()))
                    except LookupError as error:
                        print(f"({error}; usage: /sample N or /sample <button title>)")
                    continue
                try:
                    if line.startswith("/attach"):
                        words = shlex.split(line.removeprefix("/attach"))
                        if not words:
                            print("(usage: /attach PATH [text])")
                            continue
                        show(await session.attach(Path(words[0]), " ".join(words[1:])))
                        continue
                    if line.startswith("/search"):
                        show(await session.search(line.removeprefix("/search").strip()))
                    elif line.isdigit():
                        inputs = await fill_inputs(session) if session.card_inputs() else {}
                        show(await session.press(int(line), inputs))
                    else:
                        show(await session.say(line))
                except LookupError as error:
                    print(f"({error})")
                except aiohttp.ClientError as error:
                    print(f"(cannot reach the bot at {bot_url}: {error}; is `make run` running?)")
        except (EOFError, KeyboardInterrupt):
            return 0
        finally:
            watcher.cancel()
            await runner.cleanup()
            await files_runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bot", default=None, help="default: the PORT `make run` listens on")
    parser.add_argument(
        "--port", type=int, default=0, help="port for the local connector stub (default: any free)"
    )
    args = parser.parse_args()
    return asyncio.run(run(args.bot or default_bot_url(), args.port))


if __name__ == "__main__":
    sys.exit(main())
