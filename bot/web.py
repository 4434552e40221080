"""The HTTP edge: `POST /api/messages` and `GET /healthz`.

Bad input is answered here, before botbuilder sees it: wrong content type 415,
body too large 413, malformed JSON or an activity without the fields a reply
needs 400, any authentication failure 401 with no detail (the SDK would let
most of those surface as 500s: TEAMS-NOTES trap 2). Invoke bodies are
serialised here exactly once (trap 1).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import jwt  # PyJWT: a botframework-connector dependency
from aiohttp import web
from botbuilder.core import Bot, InvokeResponse
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ChannelValidation,
    JwtTokenExtractor,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def no_stack_traces(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Whatever fails, the caller gets a plain JSON error and the log gets the exception type."""
    try:
        return await handler(request)
    except web.HTTPException as http_error:
        if http_error.status == 413:
            return _problem(413, "request body too large")
        raise
    except Exception as error:  # noqa: BLE001 - last line of defence
        log.error("unhandled %s on %s %s", type(error).__name__, request.method, request.path)
        return _problem(500, "internal error")


def _parse_activity(raw: bytes) -> Activity | str:
    """The activity, or the reason it is not one (for a 400)."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return "body is not valid JSON"
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    if not isinstance(payload.get("type"), str) or not payload["type"]:
        return "activity has no type"
    try:
        activity = Activity().deserialize(payload)
    except Exception:  # noqa: BLE001 - msrest raises several types on wrong shapes
        return "activity does not have the Bot Framework shape"
    if not isinstance(activity.service_url, str) or not activity.service_url.startswith("http"):
        return "activity has no serviceUrl"
    if activity.conversation is None or not isinstance(activity.conversation.id, str):
        return "activity has no conversation id"
    return activity


TEAMS_CHANNEL = "msteams"


def _signed_by_a_teams_key(auth_header: str) -> bool:
    """Whether the token's signing key is published as endorsed for Teams.

    botframework-connector 4.17.1 checks endorsements only when the key has a
    non-empty list (`if key_id and metadata.endorsements`), so a key published
    without endorsements passes for any channel. This is the missing half of
    that check, run after the SDK accepted the token (so the key set it looks
    in is the one the SDK just validated against). It reads the SDK's metadata
    cache: if that ever changes shape this returns False and every request is
    refused (fails closed; test_security_auth would show it at once).
    It also means only Bot Framework channel tokens are accepted, not
    Emulator (AAD-issued) ones: right for a Teams-only production bot.
    """
    scheme, _, token = auth_header.partition(" ")
    if scheme != "Bearer" or not token:
        return False
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return False
    endpoint = (
        ChannelValidation.open_id_metadata_endpoint
        or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    )
    metadata = JwtTokenExtractor.metadataCache.get(endpoint)
    keys = getattr(metadata, "keys", None)
    if not kid or not isinstance(keys, list):
        return False
    return any(
        isinstance(key, dict)
        and key.get("kid") == kid
        and isinstance(key.get("endorsements"), list)
        and TEAMS_CHANNEL in key["endorsements"]
        for key in keys
    )


def _authenticated_anonymously(auth: Any) -> bool:
    """True when authentication is off (no app id, development mode only)."""
    identity = getattr(auth, "claims_identity", None)
    return (
        getattr(identity, "authentication_type", None)
        == AuthenticationConstants.ANONYMOUS_AUTH_TYPE
    )


def _invoke_json(response: InvokeResponse) -> web.Response:
    body: Any = response.body
    if hasattr(body, "serialize"):
        body = body.serialize()
    if body is None:
        return web.Response(status=response.status or 200)
    return web.json_response(body, status=response.status or 200)


def messages_handler(
    *,
    authentication: BotFrameworkAuthentication,
    adapter: CloudAdapter,
    bot: Callable[[], Bot],
) -> Handler:
    """The `/api/messages` endpoint; `bot` is looked up per request so startup can build it."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return _problem(415, "content type must be application/json")
        raw = await request.read()
        parsed = _parse_activity(raw)
        if isinstance(parsed, str):
            return _problem(400, parsed)
        activity = parsed
        try:
            auth = await authentication.authenticate_request(
                activity, request.headers.get("Authorization", "")
            )
        except Exception as error:  # noqa: BLE001 - every auth failure is a 401, no detail
            log.warning("authentication failed: %s", type(error).__name__)
            return web.Response(status=401)
        if not _authenticated_anonymously(auth) and not _signed_by_a_teams_key(
            request.headers.get("Authorization", "")
        ):
            log.warning("authentication failed: signing key not endorsed for Teams")
            return web.Response(status=401)
        invoke_response = await adapter.process_activity(auth, activity, bot().on_turn)
        if invoke_response is not None:
            return _invoke_json(invoke_response)
        return web.Response(status=200)

    return handle
