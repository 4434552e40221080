"""The HTTP edge: `POST /api/messages` and `GET /healthz`.

Bad input is answered here, before botbuilder sees it: wrong content type 415,
body too large 413, malformed JSON or an activity without the fields a reply
needs 400, any authentication failure 401 with no detail (the SDK would let
most of those surface as 500s: trap 2 of the SDK's traps in docs/architecture.md).
Invoke bodies are serialised here exactly once (trap 1).
"""

from __future__ import annotations

import json
import logging
import re
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

from bot.teams.activities import (
    ADAPTIVE_CARD_ACTION,
    CONVERSATION_KINDS,
    DIALOG_INVOKES,
    tenant_ids,
)
from bot.teams.extension import COMPOSE_EXTENSION_QUERY
from bot.teams.fastjson import activity_from_json

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


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _parse_activity(raw: bytes) -> Activity | str:
    """The activity, or the reason it is not one (for a 400)."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return "body is not valid JSON"
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    # A "\ud800" escape is valid JSON but not a character: such a string cannot
    # be stored or sent on (UnicodeEncodeError deep in a turn), so refuse it here.
    # Only a surrogate escape in the raw body can produce one, so the full check
    # (re-encoding the whole payload) runs only when the body has such an escape.
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "body contains an unpaired surrogate escape"
    if not isinstance(payload.get("type"), str) or not payload["type"]:
        return "activity has no type"
    if problem := _wrong_types(payload):
        return problem
    try:
        activity = activity_from_json(payload)
    except Exception:  # noqa: BLE001 - msrest raises several types on wrong shapes
        return "activity does not have the Bot Framework shape"
    if not isinstance(activity.service_url, str) or not activity.service_url.startswith("http"):
        return "activity has no serviceUrl"
    if activity.conversation is None or not isinstance(activity.conversation.id, str):
        return "activity has no conversation id"
    if problem := _forged_shape(activity):
        return problem
    if len(activity.service_url) > MAX_SERVICE_URL_CHARS:
        return "serviceUrl is too long"
    for identifier in _identifiers(activity):
        if isinstance(identifier, str) and len(identifier) > MAX_ID_CHARS:
            return "an activity identifier is too long"
    return activity


# msrest's deserializer turns a value of the wrong type into its str() (a list for an
# id becomes "[1, 2]"), so the fields the bot routes and replies by are checked on
# the raw JSON first.
_STRING_FIELDS = ("id", "serviceUrl", "channelId", "replyToId", "name", "text", "locale")
_ACCOUNT_FIELDS = ("conversation", "from", "recipient")
_ACCOUNT_STRING_FIELDS = ("id", "name", "conversationType", "tenantId", "aadObjectId")


def _wrong_types(payload: dict[str, Any]) -> str | None:
    for name in _STRING_FIELDS:
        if payload.get(name) is not None and not isinstance(payload[name], str):
            return f"activity field {name} must be a string"
    for name in _ACCOUNT_FIELDS:
        account = payload.get(name)
        if account is None:
            continue
        if not isinstance(account, dict):
            return f"activity field {name} must be an object"
        for inner in _ACCOUNT_STRING_FIELDS:
            if account.get(inner) is not None and not isinstance(account[inner], str):
                return f"activity field {name}.{inner} must be a string"
    for name in ("channelData", "entities", "membersAdded", "membersRemoved", "attachments"):
        expected = dict if name == "channelData" else list
        if payload.get(name) is not None and not isinstance(payload[name], expected):
            return f"activity field {name} has the wrong type"
    return None


def _forged_shape(activity: Activity) -> str | None:
    """Shapes Teams never sends, refused before any turn (and any patient data) can follow.

    Only a `personal` conversation is a personal chat, and it is the only
    place request forms go: a missing or unknown conversation type must not be
    read as one. Tenant fields that disagree could let a caller pick the
    allowed one; an activity with no user id cannot be owned, limited or answered.
    """
    kind = activity.conversation.conversation_type if activity.conversation else None
    if kind not in CONVERSATION_KINDS:
        return "activity has no known conversationType"
    tenants = tenant_ids(activity)
    if any(not isinstance(t, str) or t != tenants[0] for t in tenants):
        return "activity's tenant ids disagree"
    sender = activity.from_property
    if sender is None or not isinstance(sender.id, str) or not sender.id.strip():
        return "activity has no user id"
    return None


# Teams identifiers (conversation, user, activity ids) are a few hundred characters
# at most. Anything far longer is not from Teams; refusing it here keeps it out of
# the database and out of the URL of every reply (which the connector would reject).
MAX_ID_CHARS = 1024
MAX_SERVICE_URL_CHARS = 2048


def _identifiers(activity: Activity) -> list[object]:
    accounts = [activity.from_property, activity.recipient]
    return [
        activity.id,
        activity.reply_to_id,
        activity.channel_id,
        activity.conversation.id if activity.conversation else None,
        *(getattr(account, "id", None) for account in accounts),
    ]


TEAMS_CHANNEL = "msteams"
#: Invoke names IceBot answers itself (bot/teams/bot.py on_invoke_activity).
HANDLED_INVOKES = frozenset({ADAPTIVE_CARD_ACTION, COMPOSE_EXTENSION_QUERY, *DIALOG_INVOKES})


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


def _invoke_json(response: InvokeResponse, invoke_name: object) -> web.Response:
    if response.status == 501 and invoke_name not in HANDLED_INVOKES:
        # botbuilder's answer to an invoke name no handler claims (including none
        # at all): the caller asked for something we do not offer, so a 4xx (a
        # 5xx reads as an outage to monitoring and to retrying clients). For an
        # invoke we do handle, a 501 means the turn failed: that stays a 5xx.
        log.info("unsupported invoke answered 400")
        return _problem(400, "this invoke is not supported")
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
    bot: Bot,
) -> Handler:
    """The `/api/messages` endpoint: checked, authenticated, then the adapter runs `bot`."""

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
        invoke_response = await adapter.process_activity(auth, activity, bot.on_turn)
        if invoke_response is not None:
            return _invoke_json(invoke_response, activity.name)
        return web.Response(status=200)

    return handle
