"""Telemetry (bot/telemetry.py): what an operator sees, and that no patient value is in it.

The bot runs for real (HTTP, CloudAdapter, the outbox worker, aiosmtpd); its
telemetry goes to OpenTelemetry's in-memory span exporter and metric reader,
or, in the last test, through Azure Monitor's own exporter to a stand-in for
Application Insights' ingestion endpoint on loopback. Every span name,
attribute, event and status, and every metric's name and data point
attributes, is searched for the patient's details the test typed into the form.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bot.application import create_app
from bot.telemetry import OpenTelemetry, Telemetry, build_telemetry
from tests.support.cards import card_text
from tests.support.incidents import (
    ADMIN,
    EVERYWHERE,
    declare,
    incident_settings,
    install_everywhere,
)
from tests.support.orders import PATIENT, PATIENT_VALUES, reference_of, send
from tests.support.smtp import ScriptedSmtp, smtp_settings
from tests.support.teams import BotHarness, activity
from tests.support.waiting import until

REPO = Path(__file__).resolve().parent.parent

#: Every patient value of the order, as typed and as the bot normalises or formats it.
SECRETS = (
    *PATIENT_VALUES,
    "se1 7eh",
    "Right upper quadrant",
    "deranged LFTs",
    "Biliary",
    "Ultrasound abdomen",
    "4 May 1980",
    "04-May-1980",
)

#: A message that should never have been typed in a channel.
PATIENT_IN_A_CHANNEL = (
    f"{PATIENT['patient_forenames']} {PATIENT['patient_surname']} {PATIENT['nhs_number']} "
    f"{PATIENT['clinical_history']}"
)


def leaked(text: str) -> list[str]:
    """The patient values found in `text` (case and spacing ignored)."""
    squeezed = "".join(text.lower().split())
    return [value for value in SECRETS if "".join(value.lower().split()) in squeezed]


@dataclass
class Recorded:
    """What the bot's telemetry recorded, in memory."""

    telemetry: OpenTelemetry
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self) -> list[tuple[str, dict[str, Any], float]]:
        """(metric name, data point attributes, value) of every data point, gauges read now."""
        found = []
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        found.append((metric.name, dict(point.attributes or {}), point.value))
        return found

    def has(self, name: str) -> bool:
        return any(metric == name for metric, _, _ in self.points())

    def total(self, name: str, **attributes: str) -> float:
        return sum(
            value
            for metric, point, value in self.points()
            if metric == name and all(point.get(k) == v for k, v in attributes.items())
        )

    def everything(self) -> str:
        """Every string telemetry holds, spans and metrics, as one text to search."""
        parts: list[str] = []
        for span in self.finished():
            parts += [span.name, json.dumps(dict(span.attributes or {}), default=str)]
            parts += [span.status.description or ""]
            for event in span.events:
                parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
            parts.append(json.dumps(dict(span.resource.attributes), default=str))
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    parts += [metric.name, metric.description or "", metric.unit or ""]
                    for point in metric.data.data_points:
                        parts.append(json.dumps(dict(point.attributes or {}), default=str))
        return "\n".join(parts)


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    # The gauges re-read the store every 50 ms here (production: once a minute).
    yield Recorded(
        OpenTelemetry(tracer_provider, meter_provider, sample_seconds=0.05), spans, reader
    )
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
async def observe(connector, aiohttp_client, make_settings, recorded):
    """Start the real app with these setting overrides, its telemetry in `recorded`."""
    stub, service_url = connector

    async def start(**overrides: Any) -> BotHarness:
        app = create_app(make_settings(**overrides), telemetry=recorded.telemetry)
        return BotHarness(await aiohttp_client(app), stub, service_url)

    return start


@pytest.fixture
async def observed(observe, scripted) -> BotHarness:
    """The real app mailing `scripted`."""
    return await observe(**smtp_settings(scripted, notify_retry_seconds=600))


def sent_card(bot: BotHarness, card_id: str) -> bool:
    return any(
        u.activity_id == card_id and "Sent at" in card_text(u.card or {})
        for u in bot.connector.updates
    )


async def test_a_whole_order_leaves_no_patient_data_in_spans_or_metrics(
    observed: BotHarness, recorded: Recorded, scripted: ScriptedSmtp
) -> None:
    """Form, Send, SMTP, the card update; a refused send; patient text typed in a channel."""
    scripted.script(250, 550)  # the first request is accepted, the second refused for good
    _, first = await send(observed, reply_to_id="card-1")
    _, second = await send(observed, reply_to_id="card-2")
    delivered, refused = reference_of(first.only_card), reference_of(second.only_card)
    await until(lambda: sent_card(observed, "card-1"))
    # The refusal's notice carries the whole request text to the user: not to telemetry.
    await until(
        lambda: any("could NOT be emailed" in (s.text or "") for s in observed.connector.sent)
    )
    # Patient details typed where they should not be, and a search for a patient's name.
    await observed.say(PATIENT_IN_A_CHANNEL, kind="channel", mention=True)
    query = {"commandId": "lookup", "parameters": [{"name": "query", "value": "Testpatient"}]}
    await observed.post(
        activity(observed.service_url, type="invoke", name="composeExtension/query", value=query)
    )
    # A reply Teams refuses once with 503: retried, and counted.
    observed.connector.fail_next(503)
    assert (await observed.say("help")).status == 200
    await until(lambda: recorded.has("icebot.outbox.depth"))
    await until(lambda: recorded.total("icebot.outbox.depth") == 0)
    await until(lambda: recorded.total("icebot.notices.backlog") == 0)

    assert leaked(recorded.everything()) == []

    # And what an operator needs is there.
    spans = recorded.finished()
    sends = {
        (s.attributes["icebot.reference"], s.attributes["icebot.outcome"]): s
        for s in spans
        if s.name == "outbox send"
    }
    assert set(sends) == {(delivered, "sent"), (refused, "failed")}
    assert sends[(delivered, "sent")].kind is SpanKind.CONSUMER
    assert sends[(delivered, "sent")].status.status_code is StatusCode.UNSET
    assert sends[(refused, "failed")].status.status_code is StatusCode.ERROR
    assert sends[(delivered, "sent")].attributes["icebot.trust"] == "kch"
    actions = [s.attributes.get("icebot.action") for s in spans if s.name == "turn invoke"]
    assert actions.count("order.send") == 2
    assert any(e.name == "connector retry" for s in spans for e in s.events)

    assert recorded.total("icebot.card_actions", verb="order.send", outcome="answered") == 2
    assert recorded.total("icebot.card_actions", verb="order.review", outcome="answered") == 2
    assert recorded.total("icebot.turns", intent="order", outcome="answered") == 2
    assert recorded.total("icebot.turns", intent="help", outcome="answered") == 1
    assert recorded.total("icebot.turns", intent="search", outcome="answered") == 1
    assert recorded.total("icebot.mail.sends", outcome="sent", attempt="1") == 1
    assert recorded.total("icebot.mail.sends", outcome="failed", attempt="1") == 1
    assert recorded.total("icebot.connector.retries", reason="503") == 1
    assert recorded.has("icebot.broadcasts.backlog")
    assert recorded.total("icebot.broadcasts.backlog") == 0


async def test_the_queue_gauges_follow_the_outbox(
    observed: BotHarness, recorded: Recorded, scripted: ScriptedSmtp
) -> None:
    scripted.stop()  # the relay is down: the request waits, retried
    _, turn = await send(observed, reply_to_id="card-3")
    reference = reference_of(turn.only_card)
    await until(lambda: recorded.total("icebot.mail.sends", outcome="retry") >= 2)
    await until(lambda: recorded.has("icebot.outbox.depth"))
    await until(lambda: recorded.total("icebot.outbox.depth") == 1)
    assert recorded.total("icebot.outbox.oldest_age") > 0

    # Teams refuses the "sent" card update, and the new card sent instead: the user
    # is not told yet (the retry pass comes after NOTIFY_RETRY_SECONDS).
    observed.connector.fail_next(500, times=2)
    scripted.start()
    await until(lambda: recorded.total("icebot.mail.sends", outcome="sent") == 1)
    await until(lambda: recorded.total("icebot.outbox.depth") == 0)
    await until(lambda: recorded.total("icebot.notices.backlog") == 1)
    assert recorded.total("icebot.outbox.oldest_age") == 0
    sends = [s for s in recorded.finished() if s.name == "outbox send"]
    assert {s.attributes["icebot.reference"] for s in sends} == {reference}
    assert [s.attributes["icebot.outcome"] for s in sends][-1] == "sent"
    assert {s.attributes["icebot.outcome"] for s in sends[:-1]} == {"retry"}


async def test_the_broadcast_backlog_counts_announcements_not_yet_sent(
    observe, recorded: Recorded
) -> None:
    """An outage declared to six conversations, sent at most one a minute here: five wait."""
    bot = await observe(**incident_settings(broadcast_max_per_second=1 / 60))
    await install_everywhere(bot)
    await bot.say("hello", user_id=ADMIN)  # the admin's personal chat, registered by use
    await declare(bot)
    await until(lambda: recorded.total("icebot.broadcasts.backlog") == len(EVERYWHERE) - 1)


async def test_a_failing_turn_records_the_error_type_and_never_its_message(
    observed: BotHarness, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parse_that_fails(text: str) -> Any:
        raise ValueError(f"could not parse {PATIENT['patient_surname']} {PATIENT['nhs_number']}")

    monkeypatch.setattr("bot.router.parse", parse_that_fails)
    await observed.say("what is the mailbox for KCH ultrasound")

    (turn,) = [s for s in recorded.finished() if s.name == "turn message"]
    assert turn.attributes["error.type"] == "ValueError"
    assert turn.attributes["icebot.outcome"] == "error"
    assert turn.status.status_code is StatusCode.ERROR
    assert turn.events == ()  # no exception event: its message quotes the patient
    assert recorded.total("icebot.turns", activity_type="message", outcome="error") == 1
    assert leaked(recorded.everything()) == []


async def test_turns_stopped_at_the_edge_are_counted_with_why(
    observed: BotHarness, recorded: Recorded
) -> None:
    await observed.say("help", tenant="tenant-elsewhere")
    await observed.say("help", activity_id="same-id")
    await observed.say("help", activity_id="same-id")  # Teams' retry of the same activity
    await observed.execute("no.such.verb", {"x": "1"})
    assert recorded.total("icebot.turns", intent="none", outcome="refused") == 1
    assert recorded.total("icebot.turns", intent="none", outcome="duplicate") == 1
    assert recorded.total("icebot.turns", intent="help", outcome="answered") == 1
    assert recorded.total("icebot.turns", intent="none", outcome="unknown_verb") == 1
    # A verb nobody registered is not a dimension (it is text from the client).
    assert "no.such.verb" not in recorded.everything()


def test_without_a_connection_string_nothing_of_opentelemetry_is_even_imported(
    tmp_path: Path,
) -> None:
    """The default: no exporter, no SDK, no API module loaded by a bot that starts and stops."""
    script = f"""
import asyncio, sys
from aiohttp import web
from bot.application import create_app
from bot.settings import Settings

async def main():
    settings = Settings(_env_file=None, dev_mode=True,
                        database_url="sqlite+aiosqlite:///{tmp_path}/bot.db")
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await runner.cleanup()

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor"))))
"""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_build_telemetry_is_off_without_the_setting_and_off_when_it_is_refused(
    make_settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert type(build_telemetry(make_settings())) is Telemetry
    refused = make_settings(applicationinsights_connection_string="InstrumentationKey=not-a-uuid")
    assert type(build_telemetry(refused)) is Telemetry
    assert "telemetry OFF: APPLICATIONINSIGHTS_CONNECTION_STRING was refused" in caplog.text


# --- Application Insights, through Azure Monitor's exporter -----------------------------


class _Ingestion(ThreadingHTTPServer):
    daemon_threads = True
    envelopes: list[dict[str, Any]]
    raw: list[bytes]


class _IngestionHandler(BaseHTTPRequestHandler):
    """Application Insights' track endpoint, as far as the exporter can tell: 200, all accepted."""

    server: _Ingestion

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.raw.append(body)
        items = json.loads(body)
        self.server.envelopes.extend(items if isinstance(items, list) else [items])
        answer = json.dumps(
            {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def ingestion() -> Iterator[_Ingestion]:
    server = _Ingestion(("127.0.0.1", 0), _IngestionHandler)
    server.envelopes, server.raw = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The exporter may reach our ingestion stand-in and nothing else (no Microsoft service).

    Its side channels (SDK statistics, remote configuration) are switched off by
    their documented variables; any other name it tries to resolve is refused here
    and listed, so the test fails instead of the machine reaching out.
    """
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")
    # SDK statistics to the app's own resource: here, a second exporter that would
    # outlive the test (and the stand-in) until the interpreter exits.
    monkeypatch.setenv("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true")
    refused: list[str] = []
    resolve = socket.getaddrinfo

    def loopback(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            refused.append(str(host))
            raise OSError(f"test: no network beyond loopback ({host})")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback)
    return refused


async def test_with_a_connection_string_an_order_reaches_application_insights_without_patient_data(
    connector, aiohttp_client, make_settings, smtp, ingestion: _Ingestion, loopback_only, tmp_path
) -> None:
    stub, service_url = connector
    endpoint = f"http://127.0.0.1:{ingestion.server_address[1]}/"
    settings = make_settings(
        **smtp_settings(smtp),
        applicationinsights_connection_string=(
            f"InstrumentationKey=00000000-0000-4000-8000-000000000001;IngestionEndpoint={endpoint}"
        ),
    )
    client = await aiohttp_client(create_app(settings))
    bot = BotHarness(client, stub, service_url)
    _, turn = await send(bot, reply_to_id="card-9")
    reference = reference_of(turn.only_card)
    await until(lambda: sent_card(bot, "card-9"))
    await bot.say(PATIENT_IN_A_CHANNEL, kind="channel", mention=True)
    await client.close()  # the app's cleanup flushes the exporters

    names = {
        (e["name"].rsplit(".", 1)[-1], e["data"]["baseData"].get("name"))
        for e in ingestion.envelopes
    }
    assert ("Request", "turn invoke") in names
    assert ("Request", "outbox send") in names
    metrics = {
        m["name"]
        for e in ingestion.envelopes
        if e["name"].endswith("Metric")
        for m in e["data"]["baseData"]["metrics"]
    }
    assert {"icebot.turns", "icebot.card_actions", "icebot.mail.sends"} <= metrics
    assert {
        "icebot.outbox.depth",
        "icebot.outbox.oldest_age",
        "icebot.notices.backlog",
        "icebot.broadcasts.backlog",
    } <= metrics
    send_request = next(
        e for e in ingestion.envelopes if e["data"]["baseData"].get("name") == "outbox send"
    )
    assert send_request["data"]["baseData"]["properties"]["icebot.reference"] == reference
    assert send_request["tags"]["ai.cloud.role"] == "ice-downtime-assistant"
    assert leaked("\n".join(body.decode() for body in ingestion.raw)) == []
    assert loopback_only == []
