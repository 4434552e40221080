"""The load client: Teams-shaped activities sent over a fixed number of keep-alive connections.

Closed loop on purpose: each connection sends its next request only when the
previous one has answered, as Teams does per conversation. A fixed request
count (not a fixed duration) makes every system do the same work, so CPU per
turn and the reply check compare like with like.

Bodies are serialised before the clock starts so the client's own JSON work is
not part of the latency it reports.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

TENANT_ID = "5e1a1bd0-bench-0000-0000-00000000d0c5"
BOT_ID = "28:00000000-bench-bot-0000-000000000001"


@dataclass(frozen=True, slots=True)
class Sent:
    """One request ready to send: the body bytes and the key its reply will carry."""

    body: bytes
    expect: str | None


@dataclass
class LoadResult:
    """What one load window measured. Latencies are seconds, in completion order."""

    requests: int = 0
    ok: int = 0
    non_2xx: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    expected_keys: list[str] = field(default_factory=list)
    first_error: str | None = None

    @property
    def turns_per_s(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile: with a few hundred samples, interpolation adds nothing."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]


def bench_user_id(user: int) -> str:
    return f"29:1bench-user-{user:04d}"


def message_activity(
    text: str,
    *,
    service_url: str,
    user: int = 0,
    value: Mapping[str, Any] | None = None,
    reply_to_id: str | None = None,
) -> dict[str, Any]:
    """A personal-chat message as Teams sends it, with a fresh id so de-duplication never hits.

    Each simulated user has its own conversation, as real users of a personal
    app do; this keeps per-conversation state honest under 50 connections.
    """
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    user_id = bench_user_id(user)
    activity: dict[str, Any] = {
        "type": "message",
        "id": f"bench-{uuid.uuid4().hex}",
        "timestamp": now,
        "localTimestamp": now,
        "localTimezone": "Europe/London",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {
            "id": user_id,
            "name": f"Bench User {user}",
            "aadObjectId": f"00000000-0000-0000-0000-{user:012d}",
        },
        "conversation": {
            "conversationType": "personal",
            "tenantId": TENANT_ID,
            "id": f"a:1bench-conversation-{user:04d}",
        },
        "recipient": {"id": BOT_ID, "name": "ICE Downtime"},
        "textFormat": "plain",
        "locale": "en-GB",
        "text": text,
        "entities": [
            {
                "type": "clientInfo",
                "locale": "en-GB",
                "country": "GB",
                "platform": "Web",
                "timezone": "Europe/London",
            }
        ],
        "channelData": {"tenant": {"id": TENANT_ID}},
    }
    if value is not None:
        activity["value"] = dict(value)
        activity["text"] = ""
    if reply_to_id is not None:
        activity["replyToId"] = reply_to_id
    return activity


#: Builds request number i; returns the activity and the stub key its reply must carry.
Factory = Callable[[int], tuple[dict[str, Any], str | None]]


def prepare(factory: Factory, count: int) -> list[Sent]:
    """Serialise every body up front (see module docstring)."""
    out: list[Sent] = []
    for i in range(count):
        activity, expect = factory(i)
        out.append(Sent(json.dumps(activity).encode(), expect))
    return out


async def run_load(
    url: str,
    requests: list[Sent],
    concurrency: int,
    *,
    timeout_s: float = 30.0,
) -> LoadResult:
    """Send every prepared request over `concurrency` connections; stops when all are sent."""
    result = LoadResult(requests=len(requests))
    feed = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        for item in feed:
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=item.body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.errors += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                continue
            result.latencies.append(time.perf_counter() - t0)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                result.ok += 1
                if item.expect is not None:
                    result.expected_keys.append(item.expect)
            else:
                result.non_2xx += 1
                result.first_error = result.first_error or f"HTTP {status}"

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - start
    return result


async def first_2xx(
    url: str,
    body: Callable[[], bytes],
    *,
    since: float,
    deadline_s: float,
    interval_s: float = 0.01,
) -> tuple[float | None, int]:
    """Poll with real activities until one answers 2xx; returns (seconds since `since`, attempts).

    `since` is the perf_counter reading taken just before the server was
    spawned, so the figure is spawn to first 2xx, imports included. Connection
    refused while the server imports is expected and retried.
    """
    start = since
    attempts = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for attempts in itertools.count(1):
            try:
                async with session.post(
                    url, data=body(), headers={"Content-Type": "application/json"}
                ) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        return time.perf_counter() - start, attempts
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.perf_counter() - start > deadline_s:
                return None, attempts
            await asyncio.sleep(interval_s)
    return None, attempts
