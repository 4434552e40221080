"""Build the CloudAdapter and its authentication from our settings."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.auth import BotFrameworkAuthentication

from bot.settings import Settings
from bot.teams.activities import invoke_message_body
from bot.teams.connector import ConnectorPool, PooledAuthentication, RetryPolicy, SharedSession
from bot.teams.fastjson import model_json

log = logging.getLogger(__name__)

SORRY = (
    "Sorry, something went wrong on my side and I couldn't finish that. Please try again. "
    "If ICE is down and this keeps happening, type 'mailbox' for where to email requests."
)


@dataclass(frozen=True)
class SdkConfiguration:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads, which are not the
    `Microsoft*` environment names Azure sets (those are `Settings`' aliases)."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


@dataclass(frozen=True, slots=True)
class Connector:
    """The way out to Teams: the adapter, and the one HTTP session every client shares."""

    session: SharedSession
    authentication: BotFrameworkAuthentication
    adapter: CloudAdapter

    async def close(self) -> None:
        await self.session.close()


def build_connector(settings: Settings, on_retry: Callable[[str], None]) -> Connector:
    """Authentication and adapter for `settings`, their clients pooled on one session.

    Nothing is opened here: the session is made on the first call to Teams.
    `on_retry` hears each connector retry (telemetry counts them).
    """
    session = SharedSession()
    retry = partial(
        RetryPolicy,
        attempts=settings.connector_retry_attempts,
        base_delay=settings.connector_retry_base_seconds,
        max_delay=settings.connector_retry_max_seconds,
        budget=settings.connector_retry_budget_seconds,
        on_retry=on_retry,
    )
    authentication = build_authentication(settings, ConnectorPool(session, retry=retry))
    return Connector(session, authentication, build_adapter(authentication))


def build_authentication(settings: Settings, pool: ConnectorPool) -> BotFrameworkAuthentication:
    """The SDK's own validation of inbound tokens, with pooled outbound connector clients."""
    inner = ConfigurationBotFrameworkAuthentication(
        SdkConfiguration(
            APP_ID=settings.app_id,
            APP_PASSWORD=settings.app_password,
            APP_TYPE=settings.app_type,
            APP_TENANTID=settings.app_tenant_id,
        )
    )
    return PooledAuthentication(inner, pool)


def build_adapter(authentication: BotFrameworkAuthentication) -> CloudAdapter:
    adapter = CloudAdapter(authentication)
    adapter.on_turn_error = _on_turn_error
    return adapter


async def _on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Log the failure without its message (it may quote patient data) and tell the user."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("turn failed: %s\n%s", type(error).__name__, frames)
    try:
        if turn_context.activity.type == ActivityTypes.invoke:
            # A card button waits for the invoke's answer; a chat message would
            # leave Teams showing "Unable to reach app".
            await turn_context.send_activity(
                Activity(
                    type=ActivityTypes.invoke_response,
                    value=InvokeResponse(status=200, body=invoke_message_body(SORRY)),
                )
            )
            return
        await turn_context.send_activity(SORRY)
    except Exception as send_error:  # noqa: BLE001 - nothing more we can do for this turn
        log.error("could not tell the user about the failure: %s", type(send_error).__name__)


def conversation_reference(activity: Activity) -> dict[str, Any]:
    """A JSON-safe conversation reference for proactive messages later.

    Without the triggering activity's id: a proactive message is a new message
    in the conversation, not a reply, and leaving the id out makes the reference
    the same on every turn, so it is stored once rather than on every message.
    """
    reference = TurnContext.get_conversation_reference(activity)
    reference.activity_id = None
    return model_json(reference)
