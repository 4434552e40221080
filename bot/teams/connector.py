"""Outbound calls to the Bot Framework connector: pooled, retried, authenticated once.

Stock botbuilder 4.17 builds a new msrest ConnectorClient and UserTokenClient
for every turn and sends each reply through `requests` in a thread pool with a
new session. That is most of a turn's CPU. Here, without forking botbuilder:

* `PooledAuthentication` wraps the SDK's authentication and hands the adapter
  connector factories that reuse one client per (serviceUrl, audience) and one
  user-token client per app id;
* every pooled client sends through one shared aiohttp session;
* `TokenPolicy` caches the bot's access token per credentials (= per audience)
  instead of asking MSAL on every request;
* `RetryPolicy` retries what the connector documents as transient (412, 429,
  502, 503, 504, and connection failures), honouring Retry-After, a bounded
  number of times within a time budget; 401/403/404 are returned at once.

The connector's HTTP bodies are never logged (msrest's http logger is left out
of the pipeline): they are card contents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.auth.app_credentials import AppCredentials
from msrest.pipeline import Request, Response, SansIOHTTPPolicy
from msrest.pipeline.async_abc import AsyncHTTPPolicy, AsyncHTTPSender, AsyncPipeline
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http import ClientRequest
from msrest.universal_http.aiohttp import AioHttpClientResponse
from msrest.universal_http.async_abc import AsyncClientResponse

from bot.backoff import Backoff, Sleep, TryAgain, parse_retry_after, retrying
from bot.teams.fastjson import FastActivitySerializer

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({412, 429, 502, 503, 504})

#: What travels through a client's msrest pipeline: msrest's request, the aiohttp answer.
PipelineRequest = Request[ClientRequest]
PipelineResponse = Response[ClientRequest, AsyncClientResponse]
#: The next link of a pipeline, as msrest declares it.
_Link = AsyncHTTPPolicy[ClientRequest, AsyncClientResponse]
_Sender = AsyncHTTPSender[ClientRequest, AsyncClientResponse]
_Pipeline = AsyncPipeline[ClientRequest, AsyncClientResponse]


class SharedSession:
    """One aiohttp session for all connector traffic, opened lazily inside the loop."""

    def __init__(self, timeout_seconds: float = 15.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class SessionSender(_Sender):
    """msrest pipeline sender over the shared aiohttp session."""

    def __init__(self, session: SharedSession) -> None:
        self._session = session

    async def __aenter__(self) -> SessionSender:
        return self

    async def __aexit__(self, *exc_details: object) -> None:
        return None  # the session outlives any one client

    def build_context(self) -> None:
        return None

    async def send(self, request: PipelineRequest, **config: Any) -> PipelineResponse:
        http = request.http_request
        options: dict[str, Any] = {}
        if (seconds := config.get("connector_timeout")) is not None:
            # What is left of RetryPolicy's budget (None would mean no timeout at all).
            options["timeout"] = aiohttp.ClientTimeout(total=seconds)
        result = await self._session.get().request(
            http.method, http.url, headers=dict(http.headers), data=http.data, **options
        )
        response = AioHttpClientResponse(http, result)
        await response.load_body()
        return Response(request, response)


class TokenPolicy(_Link):
    """Adds the bot's bearer token, fetched off the event loop and reused until near expiry.

    MSAL tokens for the connector live an hour or more; reusing one for
    `lifetime_seconds` avoids MSAL's cache lookups and locking on every send.
    A 401 drops the cached token so the next call fetches a fresh one.
    """

    def __init__(self, credentials: AppCredentials, lifetime_seconds: float = 600.0) -> None:
        super().__init__()
        self._credentials = credentials
        self._lifetime = lifetime_seconds
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def _anonymous(self) -> bool:
        return not getattr(self._credentials, "microsoft_app_id", None)

    async def _bearer(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._token = await asyncio.to_thread(self._credentials.get_access_token)
                self._expires = time.monotonic() + self._lifetime
            return self._token

    async def send(self, request: PipelineRequest, **kwargs: Any) -> PipelineResponse:
        if not self._anonymous():
            request.http_request.headers["Authorization"] = f"Bearer {await self._bearer()}"
        response = await _next(self).send(request, **kwargs)
        if response.http_response.status_code == 401:
            self._token = None
        return response


class RetryPolicy(_Link):
    """Retry transient connector failures, a bounded number of times within a time budget.

    The budget is for the whole call, waits and attempts included: Teams
    retries a turn that has not answered in about 15 s, so a reply that is
    still being retried after that only earns a duplicate turn. Each attempt
    is also given only what is left of the budget as its timeout. A pause that
    would end past the budget is not taken: the last answer (or error) stands,
    and the caller's own fallback runs (the apology, or the notice re-tell).

    The pauses are `bot/backoff.py`'s, with this policy's numbers
    (CONNECTOR_RETRY_*): `base_delay` doubling to `max_delay`, no jitter (one
    caller, within one turn), and Teams' Retry-After taken as asked, up to
    `max_delay`.

    One instance per client pipeline: msrest links each policy to the next
    one of its pipeline, so a shared instance would send every client's calls
    through the last client's token policy.
    """

    def __init__(
        self,
        attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 10.0,
        budget: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self._backoff = Backoff(
            base=base_delay,
            cap=max_delay,
            max_attempts=attempts,
            jitter=False,
            retry_after="replace",
            retry_after_cap=max_delay,
        )
        self._budget = budget
        self._sleep = sleep
        self._clock = clock
        #: Told the reason (status code or error type) before each retry: telemetry.
        self._on_retry = on_retry or _ignore

    async def send(self, request: PipelineRequest, **kwargs: Any) -> PipelineResponse:
        deadline = self._clock() + self._budget

        async def attempt() -> PipelineResponse:
            response = await _next(self).send(
                request, **kwargs, connector_timeout=max(deadline - self._clock(), 0.001)
            )
            status = response.http_response.status_code
            if status in RETRY_STATUSES:
                raise _Transient(response, retry_after(response.http_response.headers))
            return response

        def fits(delay: float) -> bool:
            return self._clock() + delay < deadline

        try:
            return await retrying(
                attempt,
                self._backoff,
                retry_on=(aiohttp.ClientConnectionError, TimeoutError, _Transient),
                may_wait=fits,
                on_retry=self._retrying,
                sleep=self._sleep,
            )
        except _Transient as transient:
            status = transient.response.http_response.status_code
            log.warning("connector answered %d; no retry left", status)
            return transient.response

    def _retrying(self, error: Exception, delay: float) -> None:
        if isinstance(error, _Transient):
            status = error.response.http_response.status_code
            log.warning("connector answered %d; retrying in %.1fs", status, delay)
            self._on_retry(str(status))
        else:
            log.warning("connector unreachable (%s); retrying", type(error).__name__)
            self._on_retry(type(error).__name__)


class _Transient(TryAgain):
    """A connector answer worth retrying (RETRY_STATUSES), kept to return if no retry is left."""

    def __init__(self, response: PipelineResponse, wait: float | None) -> None:
        super().__init__(f"HTTP {response.http_response.status_code}", retry_after=wait)
        self.response = response


def _ignore(_reason: str) -> None:
    return None


def _next(policy: _Link) -> _Link | _Sender:
    """The policy's next link; AsyncPipeline sets it on every policy it is built with."""
    assert policy.next is not None, "a connector policy used outside its pipeline"
    return policy.next


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    return parse_retry_after(headers.get("Retry-After") if headers is not None else None)


class ConnectorPool:
    """Connector clients keyed by (serviceUrl, audience), each on the shared session.

    One bot has one app id, so the key needs nothing else. The pool is bounded:
    Teams uses a handful of regional service URLs, anything beyond is churn.
    """

    def __init__(
        self,
        session: SharedSession,
        *,
        retry: Callable[[], RetryPolicy] = RetryPolicy,
        max_clients: int = 64,
    ) -> None:
        self._session = session
        #: Makes each client's own retry policy (see RetryPolicy: never shared).
        self._retry = retry
        self._max = max_clients
        self._clients: OrderedDict[tuple[str, str | None], ConnectorClient] = OrderedDict()
        self._token_clients: dict[str, UserTokenClient] = {}

    async def connector(
        self, inner: ConnectorFactory, service_url: str, audience: str | None
    ) -> ConnectorClient:
        key = (service_url, audience)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        client = await inner.create(service_url, audience)  # type: ignore[arg-type]  # ABC says str; SDK passes None
        client.config.pipeline = self._pipeline(client)
        client.conversations._serialize = FastActivitySerializer(client.conversations._serialize)
        self._clients[key] = client
        if len(self._clients) > self._max:
            self._clients.popitem(last=False)
        return client

    def _pipeline(self, client: ConnectorClient) -> _Pipeline:
        # msrest declares config.credentials None; the connector's configuration refuses None,
        # so a client always holds its AppCredentials.
        credentials = cast(AppCredentials, client.config.credentials)
        policies: list[_Link | SansIOHTTPPolicy[ClientRequest, AsyncClientResponse]] = [
            client.config.user_agent_policy,
            RawDeserializer(),
            self._retry(),
            TokenPolicy(credentials),
        ]
        return AsyncPipeline(policies, SessionSender(self._session))

    async def token_client(
        self, key: str, make: Callable[[], Awaitable[UserTokenClient]]
    ) -> UserTokenClient:
        client = self._token_clients.get(key)
        if client is None:
            client = self._token_clients[key] = await make()
        return client


class PooledConnectorFactory(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, pool: ConnectorPool) -> None:
        self._inner = inner
        self._pool = pool

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        return await self._pool.connector(self._inner, service_url, audience)


class PooledAuthentication(BotFrameworkAuthentication):
    """The SDK's authentication, unchanged, with pooled outbound clients."""

    def __init__(self, inner: BotFrameworkAuthentication, pool: ConnectorPool) -> None:
        self._inner = inner
        self._pool = pool

    def _pooled(self, result: AuthenticateRequestResult) -> AuthenticateRequestResult:
        if result.connector_factory is not None:
            result.connector_factory = PooledConnectorFactory(result.connector_factory, self._pool)
        return result

    async def authenticate_request(
        self, activity: Any, auth_header: str
    ) -> AuthenticateRequestResult:
        return self._pooled(await self._inner.authenticate_request(activity, auth_header))

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return self._pooled(
            await self._inner.authenticate_streaming_request(auth_header, channel_id_header)
        )

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return PooledConnectorFactory(
            self._inner.create_connector_factory(claims_identity), self._pool
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        claims = claims_identity.claims or {}
        key = str(claims.get("appid") or claims.get("azp") or claims.get("aud") or "")
        return await self._pool.token_client(
            key, lambda: self._inner.create_user_token_client(claims_identity)
        )

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)
