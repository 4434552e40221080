"""Real Bot Framework JWT validation, offline.

A generated RSA key signs RS256 tokens the way the Bot Framework channel
does; a local OpenID metadata + JWKS server publishes the public keys. The
SDK's inbound validator runs unchanged: only *where* it fetches the metadata
from is redirected (`ChannelValidation.open_id_metadata_endpoint`).

The server runs in its own thread (`http.server`), not on the test's event
loop: the SDK fetches the metadata with a blocking `requests.get`, which would
deadlock against a server on the same loop (trap 3 of the SDK's traps in
docs/architecture.md).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from botframework.connector.auth import ChannelValidation, JwtTokenExtractor
from botframework.connector.auth.microsoft_app_credentials import MicrosoftAppCredentials
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

APP_ID = "00000000-1ce0-4bad-b0f0-000000000001"
ISSUER = "https://api.botframework.com"
#: The key Teams tokens are signed with: published, endorsed for msteams.
TEAMS_KID = "teams-key"
#: Published, but endorsed only for other channels (a Web Chat key, say).
WEBCHAT_KID = "webchat-key"
#: Published with no endorsements at all.
UNENDORSED_KID = "unendorsed-key"


def generate_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: RSAPrivateKey, kid: str, endorsements: list[str] | None) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    if endorsements is not None:
        jwk["endorsements"] = endorsements
    return jwk


@dataclass
class ChannelKeys:
    """The Bot Framework channel's signing keys, as far as the bot under test can tell."""

    metadata_url: str
    teams_key: RSAPrivateKey
    webchat_key: RSAPrivateKey
    unendorsed_key: RSAPrivateKey
    #: Never published: tokens signed with it must fail the signature check.
    stranger_key: RSAPrivateKey
    requests_served: list[str] = field(default_factory=list)

    def sign(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        key: RSAPrivateKey | None = None,
        kid: str | None = TEAMS_KID,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """An RS256 token like the channel's; `claims` override the defaults (None drops one).

        Defaults: iss api.botframework.com, aud our app id, iat/nbf now, exp in an hour.
        The `serviceurl` claim has no default: pass the activity's serviceUrl.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": APP_ID,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        payload.update(claims or {})
        payload = {name: value for name, value in payload.items() if value is not None}
        token_headers: dict[str, Any] = {"kid": kid} if kid is not None else {}
        token_headers.update(headers or {})
        return jwt.encode(payload, key or self.teams_key, algorithm="RS256", headers=token_headers)

    def bearer(self, service_url: str, **claims: Any) -> dict[str, str]:
        """The Authorization header of a valid channel request for this serviceUrl."""
        return {"Authorization": "Bearer " + self.sign({"serviceurl": service_url, **claims})}


class _MetadataServer(ThreadingHTTPServer):
    daemon_threads = True
    documents: dict[str, bytes]
    served: list[str]


class _MetadataHandler(BaseHTTPRequestHandler):
    server: _MetadataServer

    def do_GET(self) -> None:
        self.server.served.append(self.path)
        document = self.server.documents.get(self.path)
        if document is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(document)))
        self.end_headers()
        self.wfile.write(document)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not every metadata fetch."""


@pytest.fixture(scope="session")
def channel_keys_server() -> Iterator[ChannelKeys]:
    """Keys and a metadata/JWKS server on 127.0.0.1, started once per test session."""
    server = _MetadataServer(("127.0.0.1", 0), _MetadataHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    keys = ChannelKeys(
        metadata_url=f"{base}/.well-known/openid-configuration",
        teams_key=generate_key(),
        webchat_key=generate_key(),
        unendorsed_key=generate_key(),
        stranger_key=generate_key(),
    )
    jwks = {
        "keys": [
            public_jwk(keys.teams_key, TEAMS_KID, ["msteams", "webchat"]),
            public_jwk(keys.webchat_key, WEBCHAT_KID, ["webchat", "directline"]),
            public_jwk(keys.unendorsed_key, UNENDORSED_KID, None),
        ]
    }
    server.documents = {
        "/.well-known/openid-configuration": json.dumps(
            {"issuer": ISSUER, "jwks_uri": f"{base}/keys"}
        ).encode(),
        "/keys": json.dumps(jwks).encode(),
    }
    server.served = keys.requests_served
    thread = threading.Thread(target=server.serve_forever, name="jwks-server", daemon=True)
    thread.start()
    try:
        yield keys
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def channel_keys(channel_keys_server: ChannelKeys, monkeypatch: pytest.MonkeyPatch) -> ChannelKeys:
    """Point the SDK's channel validation at the local server, with a cold metadata cache.

    Both changes are undone by monkeypatch after the test: the endpoint goes
    back to Microsoft's default, and the class-level cache the test filled is
    dropped (the original dict is put back, untouched).
    """
    monkeypatch.setattr(
        ChannelValidation, "open_id_metadata_endpoint", channel_keys_server.metadata_url
    )
    monkeypatch.setattr(JwtTokenExtractor, "metadataCache", {})
    channel_keys_server.requests_served.clear()
    return channel_keys_server


OUTBOUND_TOKEN = "outbound-token-for-the-connector-stub"


@pytest.fixture
def offline_outbound_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The bot's *outbound* token (bot -> connector) without Microsoft's login service.

    With an app id set, every reply first asks login.microsoftonline.com (MSAL)
    for a token, which cannot run here. Only that fetch is replaced; the
    inbound validation under test is not touched.
    """

    def fixed_token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        return OUTBOUND_TOKEN

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", fixed_token)
    return OUTBOUND_TOKEN
