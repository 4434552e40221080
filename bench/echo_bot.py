"""The peer: a stock Bot Framework echo bot, written the way Microsoft's samples write it.

This is deliberately *not* tuned. It follows the 02.echo-bot Python sample
(CloudAdapter + ConfigurationBotFrameworkAuthentication, ActivityHandler, the
sample's error handler and `aiohttp_error_middleware`), so "N times the stock
echo bot" means the same thing to anyone who has run that sample. The only
departures: no module-level globals (the app is built by a function) and it
binds to loopback, because the benchmark must never listen on other addresses.

Run: `PORT=3978 python -m bench.echo_bot`.
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.web import Request, Response
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.core.integration import aiohttp_error_middleware
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount


class DefaultConfig:
    """The sample's config object: the SDK reads these attribute names.

    The sample reads the app id from the environment; here it is fixed empty
    (authentication off, as our bot runs with DEV_MODE in the benchmark) so a
    stray MicrosoftAppId in the shell cannot turn every request into a 401.
    """

    PORT = int(os.environ.get("PORT", "3978"))
    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot(ActivityHandler):
    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        for member in members_added:
            if member.id != turn_context.activity.recipient.id:
                await turn_context.send_activity("Hello and welcome!")

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))


async def on_error(context: TurnContext, error: Exception) -> None:
    """The sample's catch-all: log, tell the user, and trace in the Emulator."""
    print(f"\n [on_turn_error] unhandled error: {error}", file=sys.stderr)
    traceback.print_exc()
    await context.send_activity("The bot encountered an error or bug.")
    await context.send_activity("To continue to run this bot, please fix the bot source code.")
    if context.activity.channel_id == "emulator":
        trace_activity = Activity(
            label="TurnError",
            name="on_turn_error Trace",
            timestamp=datetime.now(UTC),
            type=ActivityTypes.trace,
            value=f"{error}",
            value_type="https://www.botframework.com/schemas/error",
        )
        await context.send_activity(trace_activity)


def build_app(config: DefaultConfig | None = None) -> web.Application:
    cfg = config if config is not None else DefaultConfig()
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(cfg))
    adapter.on_turn_error = on_error
    bot = EchoBot()

    async def messages(req: Request) -> Response:
        return await adapter.process(req, bot)

    app = web.Application(middlewares=[aiohttp_error_middleware])
    app.router.add_post("/api/messages", messages)
    return app


def main() -> None:
    cfg = DefaultConfig()
    web.run_app(build_app(cfg), host="127.0.0.1", port=cfg.PORT)


if __name__ == "__main__":
    main()
