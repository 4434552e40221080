"""Entry point: read settings, build the app, serve it.

python app.py                 # production: needs MicrosoftAppId (or DEV_MODE=true)
python app.py --dev-defaults  # what `make run` does: development mode unless configured
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web


def main(argv: list[str] | None = None) -> int:
    # Start-up creates a few hundred thousand objects that live as long as the
    # process (modules, pydantic and SQLAlchemy models, templates). The cyclic
    # collector would walk them over and over while they are being built (a
    # fifth of the cold start) and again in every later full collection during
    # turns. So nothing is collected until the app is built, and then what
    # exists is frozen out of the collector's sight (`gc.freeze`).
    gc.disable()
    # Imported here, not at the top, so the line above covers them.
    from bot.application import create_app
    from bot.settings import ConfigurationError, read_settings
    from bot.store.migrations import SchemaNotCurrent

    parser = argparse.ArgumentParser(description="ICE Downtime Assistant (Teams bot)")
    parser.add_argument(
        "--dev-defaults",
        action="store_true",
        help="default DEV_MODE to true (the environment and .env still win)",
    )
    args = parser.parse_args(argv)
    try:
        settings = read_settings(dev_defaults=args.dev_defaults)
    except ConfigurationError as error:
        print(f"ice-downtime-assistant: refusing to start: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(create_app(settings), settings.bind_host, settings.port))
    except OSError as error:
        print(
            f"ice-downtime-assistant: cannot listen on {settings.bind_host}:{settings.port}: "
            f"{error.strerror}. Stop the other process or set PORT.",
            file=sys.stderr,
        )
        return 2
    except SchemaNotCurrent as error:
        print(f"ice-downtime-assistant: refusing to start: {error}", file=sys.stderr)
        return 2
    return 0


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly.

    Our own loop rather than `web.run_app`, whose SIGTERM path cancels the
    cleanup task itself, so the database (and the outbox worker's in-flight
    send) would not be closed in order.
    """
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    gc.freeze()
    gc.enable()
    logging.getLogger("bot").info("listening on http://%s:%d/api/messages", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        logging.getLogger("bot").info("shutting down")
        await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
