"""The app factory: settings in, a ready aiohttp application out.

Nothing happens at import time. Resources that need the event loop (the
database, later the outbox worker) are opened in a cleanup context, so tests
can build as many independent apps as they like.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.directory import Directory, load_directory
from bot.handlers import build_router
from bot.router import Router
from bot.settings import Settings
from bot.store import ActivityLog, Database, Profiles
from bot.teams.adapter import build_adapter, build_authentication, conversation_reference
from bot.teams.bot import IceBot
from bot.web import messages_handler, no_stack_traces
from cards import CardRenderer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything one running bot holds; built at startup, closed at shutdown."""

    settings: Settings
    directory: Directory
    cards: CardRenderer
    router: Router
    db: Database
    profiles: Profiles
    activity_log: ActivityLog
    bot: IceBot

    def services(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "directory": self.directory,
            "cards": self.cards,
            "profiles": self.profiles,
            "router": self.router,
        }


RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", Settings)


def create_app(settings: Settings, *, directory: Directory | None = None) -> web.Application:
    """Build the web application; the database opens when the app starts."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[no_stack_traces])
    app[SETTINGS] = settings
    authentication = build_authentication(settings)
    adapter = build_adapter(authentication)

    async def runtime(app: web.Application) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        await db.create_schema()
        profiles = Profiles(db)
        activity_log = ActivityLog(db)
        router = build_router()
        resolved_directory = directory or load_directory()
        cards = CardRenderer()
        bot_services: dict[str, Any] = {}
        bot = IceBot(
            router=router,
            services=bot_services,
            settings=settings,
            activity_log=activity_log,
            profiles=profiles,
            make_reference=conversation_reference,
        )
        state = Runtime(
            settings=settings,
            directory=resolved_directory,
            cards=cards,
            router=router,
            db=db,
            profiles=profiles,
            activity_log=activity_log,
            bot=bot,
        )
        bot_services.update(state.services())
        app[RUNTIME] = state
        _announce(settings)
        try:
            yield
        finally:
            await db.close()

    app.cleanup_ctx.append(runtime)
    app.router.add_post(
        "/api/messages",
        messages_handler(
            authentication=authentication, adapter=adapter, bot=lambda: app[RUNTIME].bot
        ),
    )
    app.router.add_get("/healthz", _health)
    return app


async def _health(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    ready = RUNTIME in request.app
    body = {
        "status": "ok" if ready else "starting",
        "dev_mode": settings.dev_mode,
        "authentication": "on" if settings.auth_enabled else "OFF (development mode)",
    }
    return web.json_response(body, status=200 if ready else 503)


def _announce(settings: Settings) -> None:
    if settings.dev_mode:
        log.warning(
            "DEVELOPMENT MODE: %s. Never expose this instance to Teams or the internet.",
            "authentication is OFF" if not settings.auth_enabled else "authentication is on",
        )
    if not settings.allowed_tenant_ids:
        log.warning(
            "ALLOWED_TENANT_IDS is empty: %s",
            "every tenant is allowed (development mode)"
            if settings.dev_mode
            else "every tenant is refused",
        )
