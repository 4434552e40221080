"""Every handler the bot has, registered on one router.

`build_router()` is the single place the bot's behaviour is assembled; the
manifest's command lists are generated from the router it returns.
"""

from __future__ import annotations

from bot.handlers import (
    downtime_log,
    forwarding,
    guidance,
    incidents,
    lookups,
    orders,
    search,
    situations,
)
from bot.nlu import prepare as prepare_parser
from bot.router import Router
from bot.telemetry import Telemetry


def build_router(telemetry: Telemetry | None = None) -> Router:
    """Register every handler; raises RegistrationError at start-up if one cannot be served."""
    router = Router(telemetry=telemetry or Telemetry())
    for module in (
        situations,
        incidents,
        lookups,
        guidance,
        orders,
        forwarding,
        downtime_log,
        search,
    ):
        module.register(router)
    router.check_complete()
    prepare_parser()  # compiled here, at start-up, not in the first user's turn
    return router


__all__ = ["build_router"]
