"""Authentication: real RS256 tokens against the SDK's own validator, offline.

The app runs with an app id (dev_mode off), so every request to
/api/messages is checked by botframework-connector's ChannelValidation
against a local OpenID metadata/JWKS server (tests/support/jwt.py). Nothing
on the inbound path is patched. Each rejection must be a bare 401: no body,
no hint of what was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from bot.application import create_app
from bot.settings import ConfigurationError, Settings
from tests.support import jwt as channel_jwt
from tests.support.jwt import APP_ID, ISSUER, TEAMS_KID, UNENDORSED_KID, WEBCHAT_KID, ChannelKeys
from tests.support.processes import run_until_exit
from tests.support.teams import BotHarness, activity

# The offline JWT fixtures (tests/support/jwt.py), made visible to this module.
channel_keys_server = channel_jwt.channel_keys_server
channel_keys = channel_jwt.channel_keys
offline_outbound_token = channel_jwt.offline_outbound_token

pytestmark = pytest.mark.security

REPO = Path(__file__).resolve().parent.parent
HOUR = 3600


@pytest.fixture
async def secured(make_bot, channel_keys, offline_outbound_token) -> BotHarness:
    return await make_bot(dev_mode=False, app_id=APP_ID, app_password="not-a-real-secret")


async def post_raw(harness: BotHarness, body: dict[str, Any], headers: dict[str, str]):
    """POST and return (status, raw body bytes, connector calls caused)."""
    before = len(harness.connector.sent)
    response = await harness.client.post("/api/messages", json=body, headers=headers)
    return response.status, await response.read(), harness.connector.sent[before:]


async def test_a_valid_channel_token_is_accepted_and_the_bot_answers(
    secured: BotHarness, channel_keys: ChannelKeys
) -> None:
    body = activity(secured.service_url, text="help")
    status, _, sent = await post_raw(secured, body, channel_keys.bearer(secured.service_url))
    assert status in (200, 201)
    assert len(sent) == 1 and sent[0].card is not None, "the bot should have answered 'help'"
    assert "/keys" in channel_keys.requests_served, "the SDK must have fetched our JWKS"


def _now() -> int:
    return int(time.time())


# Each case: what is wrong with the request, and how to build its Authorization header.
# `keys` is the ChannelKeys fixture, `url` the activity's serviceUrl.
REJECTED = {
    "missing header": lambda keys, url: {},
    "empty header": lambda keys, url: {"Authorization": ""},
    "wrong scheme": lambda keys, url: {"Authorization": "Basic " + keys.sign({"serviceurl": url})},
    "bearer without token": lambda keys, url: {"Authorization": "Bearer "},
    "garbage token": lambda keys, url: {"Authorization": "Bearer not.a.jwt"},
    "random bytes": lambda keys, url: {"Authorization": "Bearer %%%%"},
    "three spaces": lambda keys, url: {
        "Authorization": "Bearer  " + keys.sign({"serviceurl": url})
    },
    "bad signature (unpublished key, published kid)": lambda keys, url: {
        "Authorization": "Bearer " + keys.sign({"serviceurl": url}, key=keys.stranger_key)
    },
    "tampered payload": lambda keys, url: {
        "Authorization": "Bearer " + _tamper(keys.sign({"serviceurl": url}))
    },
    "unknown kid": lambda keys, url: {
        "Authorization": "Bearer " + keys.sign({"serviceurl": url}, kid="no-such-key")
    },
    "no kid": lambda keys, url: {
        "Authorization": "Bearer " + keys.sign({"serviceurl": url}, kid=None)
    },
    "expired": lambda keys, url: {
        "Authorization": "Bearer "
        + keys.sign({"serviceurl": url, "iat": _now() - 2 * HOUR, "exp": _now() - HOUR})
    },
    "not yet valid": lambda keys, url: {
        "Authorization": "Bearer "
        + keys.sign({"serviceurl": url, "nbf": _now() + HOUR, "exp": _now() + 2 * HOUR})
    },
    "wrong audience": lambda keys, url: {
        "Authorization": "Bearer " + keys.sign({"serviceurl": url, "aud": "someone-elses-bot"})
    },
    "no audience": lambda keys, url: {
        "Authorization": "Bearer " + keys.sign({"serviceurl": url, "aud": None})
    },
    "wrong issuer": lambda keys, url: {
        "Authorization": "Bearer "
        + keys.sign({"serviceurl": url, "iss": "https://attacker.example"})
    },
    "serviceurl claim for another service": lambda keys, url: {
        "Authorization": "Bearer " + keys.sign({"serviceurl": "https://attacker.example/"})
    },
    "no serviceurl claim": lambda keys, url: {"Authorization": "Bearer " + keys.sign()},
    "key not endorsed for msteams": lambda keys, url: {
        "Authorization": "Bearer "
        + keys.sign({"serviceurl": url}, key=keys.webchat_key, kid=WEBCHAT_KID)
    },
    "alg none": lambda keys, url: {
        "Authorization": "Bearer " + _unsigned({"serviceurl": url, "iss": ISSUER, "aud": APP_ID})
    },
    "HS256 signed with the public key": lambda keys, url: {
        "Authorization": "Bearer " + _hs256_with_public_key(keys, {"serviceurl": url})
    },
}


def _tamper(token: str) -> str:
    """Same header and signature, a different (re-encoded) payload."""

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["aud"] = claims["aud"] + "x"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(claims: dict[str, Any]) -> str:

    now = _now()
    return jwt.encode(
        {**claims, "iat": now, "nbf": now, "exp": now + HOUR},
        key=None,
        algorithm="none",
        headers={"kid": TEAMS_KID},
    )


def _hs256_with_public_key(keys: ChannelKeys, claims: dict[str, Any]) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the published RSA key."""

    public_pem = keys.teams_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = _now()
    payload = {
        "iss": ISSUER,
        "aud": APP_ID,
        "iat": now,
        "nbf": now,
        "exp": now + HOUR,
        **claims,
    }

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": TEAMS_KID}).encode())
        + "."
        + b64(json.dumps(payload).encode())
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


@pytest.mark.parametrize("case", list(REJECTED))
async def test_rejected_with_a_bare_401(
    secured: BotHarness, channel_keys: ChannelKeys, case: str
) -> None:
    headers = REJECTED[case](channel_keys, secured.service_url)
    status, raw, sent = await post_raw(secured, activity(secured.service_url, text="help"), headers)
    assert status == 401, case
    assert raw == b"", f"{case}: a 401 must not explain itself, got {raw!r}"
    assert sent == [], f"{case}: the bot must not answer an unauthenticated request"


async def test_the_same_token_is_accepted_between_rejections(
    secured: BotHarness, channel_keys: ChannelKeys
) -> None:
    """A rejection does not poison the metadata cache or the app for the real channel."""
    url = secured.service_url
    bad = {"Authorization": "Bearer " + channel_keys.sign({"serviceurl": url}, kid="nope")}
    assert (await post_raw(secured, activity(url, text="help"), bad))[0] == 401
    status, _, sent = await post_raw(secured, activity(url, text="help"), channel_keys.bearer(url))
    assert status in (200, 201) and len(sent) == 1


async def test_an_invoke_needs_a_token_too(secured: BotHarness, channel_keys: ChannelKeys) -> None:
    url = secured.service_url
    value = {"action": {"type": "Action.Execute", "verb": "ice.down", "data": {}}}
    body = activity(url, type="invoke", name="adaptiveCard/action", value=value)
    status, raw, _ = await post_raw(secured, body, {})
    assert (status, raw) == (401, b"")
    response = await secured.client.post(
        "/api/messages", json=body, headers=channel_keys.bearer(url)
    )
    assert response.status == 200
    assert (await response.json())["statusCode"] == 200


async def test_key_without_any_endorsements_is_rejected(
    secured: BotHarness, channel_keys: ChannelKeys
) -> None:
    """A published key that endorses no channel at all is not a Teams key either."""
    url = secured.service_url
    token = channel_keys.sign(
        {"serviceurl": url}, key=channel_keys.unendorsed_key, kid=UNENDORSED_KID
    )
    status, raw, sent = await post_raw(
        secured, activity(url, text="help"), {"Authorization": "Bearer " + token}
    )
    assert (status, raw, sent) == (401, b"", [])


# --- refusing to run without authentication -------------------------------------------------


def test_settings_without_app_id_outside_dev_mode_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MicrosoftAppId", "app_id", "DEV_MODE", "dev_mode"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as refused:
        Settings(_env_file=None)
    message = str(refused.value)
    assert "MicrosoftAppId" in message and "DEV_MODE" in message


def test_settings_with_app_id_need_no_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEV_MODE", raising=False)
    settings = Settings(
        _env_file=None, app_id=APP_ID, app_password="not-a-real-secret", mail_transport="smtp"
    )
    assert settings.auth_enabled and not settings.dev_mode


@pytest.mark.slow
def test_app_py_exits_2_without_app_id(tmp_path: Path) -> None:
    result = run_until_exit(
        tmp_path, {"DEV_MODE": "false"}, unset=["MicrosoftAppId", "MicrosoftAppPassword", "app_id"]
    )
    assert result.returncode == 2, result.stderr
    assert "refusing to start" in result.stderr
    assert "MicrosoftAppId is not set" in result.stderr and "DEV_MODE=true" in result.stderr
    assert result.stdout == ""


async def test_dev_mode_is_on_healthz(make_bot) -> None:
    dev = await make_bot(dev_mode=True)
    health = await (await dev.client.get("/healthz")).json()
    assert health["dev_mode"] is True
    assert health["authentication"] == "OFF (development mode)"


async def test_production_healthz_says_auth_is_on(make_bot) -> None:
    prod = await make_bot(dev_mode=False, app_id=APP_ID, app_password="x")
    health = await (await prod.client.get("/healthz")).json()
    assert health == {"status": "ok", "dev_mode": False, "authentication": "on"}


async def test_dev_mode_is_loud_in_the_startup_log(
    aiohttp_client, make_settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot"):
        await aiohttp_client(create_app(make_settings(dev_mode=True)))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(
        "DEVELOPMENT MODE" in r.getMessage() and "authentication is OFF" in r.getMessage()
        for r in warnings
    ), [r.getMessage() for r in warnings]


async def test_production_start_does_not_claim_dev_mode(
    aiohttp_client, make_settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot"):
        production = make_settings(dev_mode=False, app_id=APP_ID, app_password="not-a-real-secret")
        await aiohttp_client(create_app(production))
    assert not any("DEVELOPMENT MODE" in r.getMessage() for r in caplog.records)
