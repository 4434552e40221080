"""Fetch a file a user attached in Teams: only from allowed hosts, streamed, bounded.

Teams stores a file attached in a personal chat in the sender's OneDrive and
gives the bot a short-lived, pre-authenticated `downloadUrl` on SharePoint
(`*.sharepoint.com`), fetched with a plain GET and no token. An image pasted
into the compose box instead comes as an `image/*` attachment whose
`contentUrl` is on the Bot Framework connector's own host (the activity's
`serviceUrl`, e.g. smba.trafficmanager.net) and needs the bot's token.

The rules, each enforced here before a byte is asked for:

* The URL's host must match FILE_DOWNLOAD_HOSTS (host names or `*.suffix`).
  A URL outside the list is never requested, not even resolved.
* `https` only; plain `http` only in development mode and only from a
  loopback host (the chat client's file server).
* No credentials in the URL; no cookies kept between downloads.
* Redirects: followed only to the same scheme, host and port (at most 3), so
  neither the request nor the bot's token can be sent on to another host.
* The bot's token is added only to an offer the Teams edge marked
  `teams_hosted` (an inline image on the activity's own `serviceUrl` host),
  and only over https.
* FILE_MAX_BYTES: refused before downloading when the attachment or
  Content-Length declares more, and while downloading as soon as more arrives.
* A total time limit for the whole download.

What comes back is checked by content (`bot.files.content`), never by name.
Nothing here logs the URL or the file's name: both may hold a patient's name.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from ssl import SSLContext

import aiohttp
from yarl import URL

from bot.files.content import ACCEPTED_TEXT, FileKind, identify, megabytes
from bot.turns import Bearer, FileOffer

log = logging.getLogger(__name__)

#: Seconds for a whole download, redirects included. A personal chat's turn
#: waits for it; Teams resends a message after ~15 s, and the resend is
#: dropped as a duplicate, so a slow download never runs twice.
DOWNLOAD_SECONDS = 10.0
MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class DownloadRefused(Exception):
    """The file was not (fully) fetched or is not an accepted form; `message` is for the user.

    `reason` is a short code for logs: host, scheme, too_large, type, status,
    redirect, timeout, network.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A fetched file that is one of the accepted kinds, byte for byte as it arrived."""

    content: bytes
    kind: FileKind

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _not_fetched(reason: str) -> DownloadRefused:
    return DownloadRefused(
        reason,
        "I couldn't fetch that file from Teams. Please attach it again in a moment; if it "
        "keeps failing, email the form yourself (type 'mailbox' to see where).",
    )


def _too_large(limit: int) -> DownloadRefused:
    return DownloadRefused(
        "too_large",
        f"That file is larger than {megabytes(limit)}, the most I accept for a form. Please "
        "attach a smaller copy (a PDF of the form, or a photo at a lower resolution).",
    )


WRONG_TYPE = (
    f"I can only send {ACCEPTED_TEXT}. That file is not one of these, so I have not sent it. "
    "Please attach the completed form in one of those formats."
)


class HostPolicy:
    """Which URLs may be fetched at all: FILE_DOWNLOAD_HOSTS, https, loopback http in dev."""

    def __init__(self, patterns: Iterable[str], *, dev_mode: bool) -> None:
        self._exact = frozenset(p for p in patterns if not p.startswith("*."))
        self._suffixes = tuple(p[1:] for p in patterns if p.startswith("*."))
        self._dev_mode = dev_mode

    def host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        if name in self._exact:
            return True
        return not _is_ip(name) and any(name.endswith(suffix) for suffix in self._suffixes)

    def refusal(self, url: URL) -> str | None:
        """Why this URL must not be requested (a reason code), or None when it may be."""
        host = url.raw_host
        if not url.is_absolute() or not host or url.user is not None or url.password is not None:
            return "host"
        if not self.host_allowed(host):
            return "host"
        if url.scheme == "https":
            return None
        if url.scheme == "http" and self._dev_mode and _is_loopback(host):
            return None
        return "scheme"


class FileDownloader:
    """One per app; its aiohttp session (no cookies, no proxy from the environment) is lazy."""

    def __init__(
        self,
        policy: HostPolicy,
        *,
        max_bytes: int,
        timeout_seconds: float = DOWNLOAD_SECONDS,
        max_redirects: int = MAX_REDIRECTS,
        ssl: SSLContext | bool = True,
    ) -> None:
        self._policy = policy
        self._max_bytes = max_bytes
        self._timeout = timeout_seconds
        self._max_redirects = max_redirects
        #: True (the system's CAs); tests pass an SSLContext trusting their own CA.
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    async def fetch(self, offer: FileOffer, bearer: Bearer | None = None) -> Downloaded:
        """The file's bytes if it is an accepted form; DownloadRefused (with a message) if not."""
        if offer.declared_size is not None and offer.declared_size > self._max_bytes:
            raise _too_large(self._max_bytes)
        try:
            url = URL(offer.url, encoded=False)
        except (ValueError, TypeError):
            raise _not_fetched("host") from None
        if reason := self._policy.refusal(url):
            log.warning("file download refused reason=%s host=%s", reason, url.raw_host or "-")
            raise _not_fetched(reason)
        headers = {"Accept-Encoding": "identity"}
        if offer.teams_hosted and bearer is not None and url.scheme == "https":
            token = await bearer()
            if token:
                headers["Authorization"] = f"Bearer {token}"
        try:
            async with asyncio.timeout(self._timeout):
                content = await self._get(url, headers)
        except TimeoutError:
            raise _not_fetched("timeout") from None
        except aiohttp.ClientError as error:
            log.warning("file download failed reason=network error=%s", type(error).__name__)
            raise _not_fetched("network") from None
        kind = identify(content)
        if kind is None:
            raise DownloadRefused("type", WRONG_TYPE)
        return Downloaded(content, kind)

    async def _get(self, url: URL, headers: dict[str, str]) -> bytes:
        session = self._open()
        for _ in range(self._max_redirects + 1):
            async with session.get(
                url, headers=headers, allow_redirects=False, ssl=self._ssl
            ) as response:
                if response.status in _REDIRECTS:
                    url = self._redirect(url, response)
                    continue
                if response.status != 200:
                    log.warning("file download refused reason=status status=%d", response.status)
                    raise _not_fetched("status")
                if (response.content_length or 0) > self._max_bytes:
                    raise _too_large(self._max_bytes)
                return await self._read(response)
        raise _not_fetched("redirect")

    def _redirect(self, url: URL, response: aiohttp.ClientResponse) -> URL:
        """The next URL, only if it is the same scheme, host and port as this one."""
        location = response.headers.get("Location", "")
        try:
            target = url.join(URL(location))
        except (ValueError, TypeError):
            raise _not_fetched("redirect") from None
        same = (target.scheme, target.raw_host, target.port) == (url.scheme, url.raw_host, url.port)
        if not location or not same or self._policy.refusal(target):
            log.warning("file download refused reason=redirect host=%s", target.raw_host or "-")
            raise _not_fetched("redirect")
        return target

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        received = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            received += chunk
            if len(received) > self._max_bytes:
                raise _too_large(self._max_bytes)
        return bytes(received)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    name = host.lower().rstrip(".").strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
