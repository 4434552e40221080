"""Entry point: read settings, build the app, serve it.

python app.py                 # production: needs MicrosoftAppId (or DEV_MODE=true)
python app.py --dev-defaults  # what `make run` does: development mode unless configured
"""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from bot.application import create_app
from bot.settings import ConfigurationError, DevDefaultSettings, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ICE Downtime Assistant (Teams bot)")
    parser.add_argument(
        "--dev-defaults",
        action="store_true",
        help="default DEV_MODE to true (the environment and .env still win)",
    )
    args = parser.parse_args(argv)
    try:
        settings = DevDefaultSettings() if args.dev_defaults else Settings()
    except ConfigurationError as error:
        print(f"ice-downtime-assistant: refusing to start: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(settings)
    logging.getLogger("bot").info(
        "listening on http://%s:%d/api/messages", settings.host, settings.port
    )
    web.run_app(app, host=settings.host, port=settings.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
