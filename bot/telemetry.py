"""Traces and metrics for the operator (OpenTelemetry), or nothing at all.

`build_telemetry(settings)` returns `Telemetry`, whose every method does
nothing, unless `APPLICATIONINSIGHTS_CONNECTION_STRING` is set; only then is
OpenTelemetry imported (about 0.4 s and 30 MB: docs/performance.md) and
`OpenTelemetry` built, exporting to Application Insights. The app factory
makes one and hands it to the layers that report: the Teams edge (a span per
turn), the router (intent or card verb, and how the handler ended), the outbox
worker (a span per send attempt) and the connector's retry policy. Handlers
and the store know nothing of it.

What is recorded is chosen here, never passed through: names from closed sets
(intents, registered verbs, outcomes), request references, ODS codes, trust
and department codes, Teams ids. Never text a user typed, card data, exception
messages (they can quote a form value) or anything from a request's payload;
`tests/test_telemetry.py` runs a whole order and finds no patient value in any
span or metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Container, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

#: The service name Application Insights shows as the cloud role.
SERVICE_NAME = "ice-downtime-assistant"
#: How often the queue gauges are read from the store (one query each), and metrics exported.
SAMPLE_SECONDS = 60.0

Describe = Callable[[], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Backlog:
    """The queue as the gauges report it: read from the store once a minute, not per turn."""

    queued: int
    sending: int
    #: When the oldest request still queued or sending was submitted (None: none are).
    oldest: datetime | None
    #: Outcomes (sent or failed) recorded that the user has not yet been told.
    notices: int
    #: Proactive messages (announcements, reminders, ...) queued or being sent.
    broadcasts: int


ReadBacklog = Callable[[], Awaitable[Backlog]]


class Telemetry:
    """Nothing is exported: every method is a no-op, and OpenTelemetry is never imported.

    The interface the bot reports through; `OpenTelemetry` below overrides it.
    """

    enabled = False

    def __init__(self) -> None:
        self._nothing = contextlib.nullcontext()

    def turn(
        self, activity_type: str, describe: Describe
    ) -> contextlib.AbstractContextManager[Any]:
        """Around one activity (the Teams edge). `describe` is called only when enabled."""
        return self._nothing

    def handling(self, kind: str, name: str) -> contextlib.AbstractContextManager[Any]:
        """Around the handler of an intent, a card verb or a search (the router)."""
        return self._nothing

    def send(
        self, reference: str, attempt: int, describe: Describe
    ) -> contextlib.AbstractContextManager[Any]:
        """Around one delivery attempt of the outbox worker."""
        return self._nothing

    def outcome(self, outcome: str) -> None:
        """How the current turn or send ended, when the code that knows is not the one timing it."""

    def connector_retry(self, reason: str) -> None:
        """The connector policy is about to retry a call (`reason`: status code or error type)."""

    async def watch(self, read: ReadBacklog) -> None:
        """Keep the queue gauges current until cancelled (returns at once when disabled)."""

    async def close(self) -> None:
        """Flush what is buffered and stop the exporters."""


@dataclass(slots=True)
class _Unit:
    """The turn or send being timed on this task: what the counters are recorded with."""

    intent: str = "none"
    outcome: str = "ignored"


# Closed sets: a value outside them is recorded as "other", so a caller cannot
# put free text (or unbounded cardinality) into a dimension.
ACTIVITY_TYPES = frozenset(
    {
        "message",
        "invoke",
        "conversationUpdate",
        "installationUpdate",
        "messageReaction",
        "event",
        "typing",
    }
)


def closed(value: object, allowed: Container[str]) -> str:
    """`value` if it is one of `allowed`, else "other"."""
    return value if isinstance(value, str) and value in allowed else "other"


def _turn_failed(outcome: str) -> bool:
    return outcome == "error"


def _send_failed(outcome: str) -> bool:
    """Only a message the server accepted is a success ("sent", "sent-lease-lost", ...)."""
    return not outcome.startswith("sent")


class OpenTelemetry(Telemetry):
    """Spans and metrics through the given providers (Application Insights; in memory in tests)."""

    enabled = True

    def __init__(
        self,
        tracer_provider: Any,
        meter_provider: Any,
        *,
        sample_seconds: float = SAMPLE_SECONDS,
        owns_providers: bool = False,
    ) -> None:
        super().__init__()
        from opentelemetry import trace
        from opentelemetry.metrics import Observation
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._trace = trace
        self._observation = Observation
        self._server, self._consumer = SpanKind.SERVER, SpanKind.CONSUMER
        self._error = Status(StatusCode.ERROR)
        self._providers = (tracer_provider, meter_provider)
        self._owns_providers = owns_providers
        self._sample_seconds = sample_seconds
        self._tracer = tracer_provider.get_tracer("icebot")
        meter = meter_provider.get_meter("icebot")
        self._turns = meter.create_counter(
            "icebot.turns", unit="{turn}", description="Activities handled, by intent and outcome"
        )
        self._actions = meter.create_counter(
            "icebot.card_actions", unit="{action}", description="Card buttons pressed, by verb"
        )
        self._sends = meter.create_counter(
            "icebot.mail.sends", unit="{attempt}", description="Delivery attempts, by outcome"
        )
        self._retries = meter.create_counter(
            "icebot.connector.retries", unit="{retry}", description="Connector calls retried"
        )
        for name, unit, description, points in GAUGES:
            meter.create_observable_gauge(
                name,
                callbacks=[partial(self._observe, points)],
                unit=unit,
                description=description,
            )
        # Created here, per instance: the unit (turn or send) being timed on this task.
        self._unit: ContextVar[_Unit | None] = ContextVar(f"icebot-unit-{id(self)}", default=None)
        self._backlog: Backlog | None = None

    # timing ----------------------------------------------------------------------
    def turn(
        self, activity_type: str, describe: Describe
    ) -> contextlib.AbstractContextManager[Any]:
        kind = closed(activity_type, ACTIVITY_TYPES)

        def record(unit: _Unit) -> None:
            self._turns.add(
                1, {"activity_type": kind, "intent": unit.intent, "outcome": unit.outcome}
            )

        attributes = {"icebot.activity.type": kind, **describe()}
        return self._timed(f"turn {kind}", self._server, attributes, record, _turn_failed)

    def send(
        self, reference: str, attempt: int, describe: Describe
    ) -> contextlib.AbstractContextManager[Any]:
        def record(unit: _Unit) -> None:
            # Attempts above 10 share one value, so the dimension stays small
            # whatever MAIL_MAX_ATTEMPTS is.
            self._sends.add(1, {"outcome": unit.outcome, "attempt": str(min(attempt, 10))})

        attributes = {"icebot.reference": reference, "icebot.attempt": attempt, **describe()}
        return self._timed("outbox send", self._consumer, attributes, record, _send_failed)

    @contextlib.contextmanager
    def _timed(
        self,
        name: str,
        kind: Any,
        attributes: Mapping[str, Any],
        record: Callable[[_Unit], None],
        failed: Callable[[str], bool],
    ) -> Iterator[_Unit]:
        """A span current for the block; its unit's outcome is recorded when it ends.

        Exceptions are not recorded on the span (record_exception=False): their
        messages can quote a form value. Only the type is kept, as `error.type`.
        """
        unit = _Unit()
        token = self._unit.set(unit)
        span = self._tracer.start_span(
            name, kind=kind, attributes=attributes, record_exception=False
        )
        try:
            with self._trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                yield unit
        except Exception as error:
            unit.outcome = "error"
            span.set_attribute("error.type", type(error).__name__)
            raise
        finally:
            self._unit.reset(token)
            span.set_attribute("icebot.outcome", unit.outcome)
            if failed(unit.outcome):
                span.set_status(self._error)
            span.end()
            record(unit)

    @contextlib.contextmanager
    def handling(self, kind: str, name: str) -> Iterator[None]:
        unit = self._unit.get()
        self._trace.get_current_span().set_attribute(f"icebot.{kind}", name)
        outcome = "error"
        try:
            yield
            outcome = "answered"
        finally:
            if kind == "action":
                self._actions.add(1, {"verb": name, "outcome": outcome})
            if unit is not None:
                unit.intent = name if kind == "intent" else kind
                unit.outcome = outcome

    def outcome(self, outcome: str) -> None:
        unit = self._unit.get()
        if unit is not None:
            unit.outcome = outcome

    def connector_retry(self, reason: str) -> None:
        self._retries.add(1, {"reason": reason})
        self._trace.get_current_span().add_event("connector retry", {"icebot.reason": reason})

    # gauges ------------------------------------------------------------------------
    async def watch(self, read: ReadBacklog) -> None:
        """Read the backlog now and every `sample_seconds`; the gauges report the last read.

        A failed read clears it, so the gauges report nothing (a gap an operator
        sees) rather than a stale queue.
        """
        while True:
            try:
                self._backlog = await read()
            except Exception as error:  # noqa: BLE001 - a store outage must not end the task
                self._backlog = None
                log.warning("telemetry backlog read failed: %s", type(error).__name__)
            await asyncio.sleep(self._sample_seconds)

    def _observe(self, points: Points, _options: Any) -> list[Any]:
        """A gauge's values from the last backlog read; none when the last read failed."""
        backlog = self._backlog
        if backlog is None:
            return []
        return [self._observation(value, attributes) for value, attributes in points(backlog)]

    async def close(self) -> None:
        if self._owns_providers:
            await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        tracer_provider, meter_provider = self._providers
        tracer_provider.force_flush(5000)
        tracer_provider.shutdown()
        meter_provider.shutdown(timeout_millis=5000)


Points = Callable[[Backlog], list[tuple[float, dict[str, str]]]]


def _oldest_age(backlog: Backlog) -> float:
    if backlog.oldest is None:
        return 0.0
    return max((datetime.now(UTC) - backlog.oldest).total_seconds(), 0.0)


#: The gauges: name, unit, description, and the values (with attributes) each reports.
GAUGES: tuple[tuple[str, str, str, Points], ...] = (
    (
        "icebot.outbox.depth",
        "{request}",
        "Requests queued or being sent (shared by every instance)",
        lambda b: [(b.queued, {"status": "queued"}), (b.sending, {"status": "sending"})],
    ),
    (
        "icebot.outbox.oldest_age",
        "s",
        "Age of the oldest request still queued or sending",
        lambda b: [(_oldest_age(b), {})],
    ),
    (
        "icebot.notices.backlog",
        "{notice}",
        "Outcomes recorded that the user has not yet been told",
        lambda b: [(b.notices, {})],
    ),
    (
        "icebot.broadcasts.backlog",
        "{message}",
        "Proactive messages (announcements, reminders) queued or being sent",
        lambda b: [(b.broadcasts, {})],
    ),
)


def build_telemetry(settings: Settings) -> Telemetry:
    """The telemetry the settings ask for: Application Insights, or none.

    A connection string the exporter refuses does not stop the bot (it serves
    users before it serves dashboards): it runs without telemetry and says so.
    """
    connection_string = settings.applicationinsights_connection_string.strip()
    if not connection_string:
        return Telemetry()
    try:
        return _application_insights(connection_string)
    except ValueError as error:
        log.error("telemetry OFF: APPLICATIONINSIGHTS_CONNECTION_STRING was refused: %s", error)
        return Telemetry()


def _application_insights(connection_string: str) -> OpenTelemetry:
    """Azure Monitor's exporters behind the OpenTelemetry SDK (not the distro: D26)."""
    from azure.monitor.opentelemetry.exporter import (
        AzureMonitorMetricExporter,
        AzureMonitorTraceExporter,
    )
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": SERVICE_NAME})
    traces = AzureMonitorTraceExporter(connection_string=connection_string)
    metrics = AzureMonitorMetricExporter(connection_string=connection_string)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(traces))
    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=SAMPLE_SECONDS * 1000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    return OpenTelemetry(tracer_provider, meter_provider, owns_providers=True)
