"""The app factory: settings in, a ready aiohttp application out.

Two phases, so that nothing needs patching after it exists:

1. `create_app` builds the whole object graph (`Runtime`, `bot/services.py`) in
   dependency order: stores, the delivery and broadcast workers, the handlers'
   `Services`, and last the bot, which gets its services at construction.
   Building opens nothing: no connection, no task, no child process.
2. One cleanup context per resource opens it when the app starts and closes it
   when the app stops, in reverse order: telemetry, the database (and its
   schema check), outbound HTTP, delivery, broadcasts, housekeeping, the
   telemetry gauges, and last "serving" (start-up warnings, `/healthz` ok).

Nothing happens at import time, so tests can build as many apps as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aiohttp import web

from bot.backoff import Backoff
from bot.broadcast import BroadcastWorker
from bot.directory import Directory, load_directory
from bot.files.download import FileDownloader, HostPolicy
from bot.handlers import build_router
from bot.incidents.board import IncidentBoard
from bot.incidents.downtime_log import DowntimeLog, with_log_notices
from bot.incidents.follow_up import FollowUpScheduler
from bot.incidents.messages import BroadcastComposer
from bot.logsafety import quiet_chatty_libraries
from bot.mail.process import ComposeProcess
from bot.mail.transport import build_transport
from bot.mail.worker import OutboxWorker
from bot.orders.delivery import OrderDelivery
from bot.readiness import Readiness, readiness_body
from bot.router import Router
from bot.services import Broadcasts, Delivery, Runtime, Services
from bot.settings import Settings
from bot.store import ActivityLog, Database, Profiles
from bot.store.broadcasts import BroadcastQueue
from bot.store.confirmations import Confirmations, Notices
from bot.store.conversations import Conversations
from bot.store.db import utcnow
from bot.store.files import ReceivedFiles
from bot.store.follow_ups import FollowUps
from bot.store.incidents import Incidents
from bot.store.migrations import migrate_or_refuse
from bot.store.outbox import Outbox
from bot.store.request_log import RequestLog
from bot.teams.adapter import Connector, build_connector, conversation_reference
from bot.teams.bot import IceBot
from bot.teams.broadcast import TeamsSender
from bot.teams.proactive import DeliveryNotifier
from bot.telemetry import Backlog, Telemetry, build_telemetry
from bot.web import messages_handler, no_stack_traces
from cards import CardRenderer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Serving:
    """Whether every start-up context has been entered (`/healthz` says "starting" until then)."""

    started: bool = False


RUNTIME = web.AppKey("runtime", Runtime)
SERVING = web.AppKey("serving", Serving)


def create_app(
    settings: Settings,
    *,
    directory: Directory | None = None,
    clock: Callable[[], datetime] = utcnow,
    telemetry: Telemetry | None = None,
) -> web.Application:
    """Build the web application; its resources open when it starts.

    `clock` is "now" for handlers, incidents, the broadcast and the reminder
    (tests move it forward; the mail outbox keeps the wall clock). `telemetry`
    defaults to what the settings ask for (bot/telemetry.py); tests pass one
    that keeps what it records in memory.
    """
    quiet_chatty_libraries()
    telemetry = telemetry or build_telemetry(settings)
    runtime = build_runtime(settings, directory or load_directory(), clock, telemetry)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[no_stack_traces])
    app[RUNTIME] = runtime
    app[SERVING] = serving = Serving()
    # Entered in this order when the app starts, left in the reverse order when it
    # stops: telemetry first, so the workers' last sends and the shutdown are still
    # recorded before the exporters flush; the database before anything that uses it.
    app.cleanup_ctx.extend(
        [
            partial(_telemetry_lifetime, telemetry),
            partial(_database, runtime.db, settings),
            partial(_outbound_http, runtime.connector, runtime.services.downloader),
            partial(_delivery, runtime.delivery, settings),
            partial(_broadcasts, runtime.broadcasts),
            partial(_housekeeping, runtime),
            partial(_gauges, telemetry, runtime),
            partial(_serving, serving, settings),
        ]
    )
    app.router.add_post(
        "/api/messages",
        messages_handler(
            authentication=runtime.connector.authentication,
            adapter=runtime.connector.adapter,
            bot=runtime.bot,
        ),
    )
    app.router.add_get("/healthz", _health)
    app.router.add_get("/readyz", _ready)
    return app


def build_runtime(
    settings: Settings,
    directory: Directory,
    clock: Callable[[], datetime],
    telemetry: Telemetry,
) -> Runtime:
    """Every long-lived object of one app, each built once, the bot last."""
    db = Database(settings.database_url)
    connector = build_connector(settings, on_retry=telemetry.connector_retry)
    cards = CardRenderer()
    router = build_router(telemetry)
    profiles = Profiles(db)
    conversations = Conversations(db)
    outbox = Outbox(db)
    confirmations = Confirmations(db)
    incidents = Incidents(db)
    request_log = RequestLog(db)
    tenants = _announced_tenants(settings)
    broadcasts = _build_broadcasts(
        settings,
        BroadcastComposer(
            cards=cards,
            directory=directory,
            incidents=incidents,
            requests=request_log,
            follow_up_hours=settings.follow_up_hours,
        ),
        BroadcastQueue(db),
        conversations,
        FollowUps(db),
        connector,
        tenants,
        clock,
    )
    downtime_log = DowntimeLog(
        request_log,
        profiles,
        conversations,
        broadcasts.queue,
        directory,
        kick_broadcast=broadcasts.worker.kick,
        tenants=tenants,
    )
    delivery = _build_delivery(
        settings,
        outbox,
        confirmations,
        Notices(db),
        directory,
        cards,
        connector,
        downtime_log,
        clock,
        telemetry,
    )
    services = Services(
        settings=settings,
        directory=directory,
        cards=cards,
        profiles=profiles,
        router=router,
        outbox=outbox,
        confirmations=confirmations,
        files=ReceivedFiles(db),
        downloader=FileDownloader(
            HostPolicy(settings.file_download_hosts, dev_mode=settings.dev_mode),
            max_bytes=settings.file_max_bytes,
        ),
        incidents=IncidentBoard(
            incidents, conversations, broadcasts.queue, kick=broadcasts.worker.kick, tenants=tenants
        ),
        downtime_log=downtime_log,
        clock=clock,
        kick=delivery.worker.kick,
    )
    activity_log = ActivityLog(db)
    return Runtime(
        settings=settings,
        services=services,
        db=db,
        activity_log=activity_log,
        conversations=conversations,
        connector=connector,
        delivery=delivery,
        broadcasts=broadcasts,
        readiness=Readiness(
            db, outbox, max_queue_age=timedelta(seconds=settings.ready_max_queue_age_seconds)
        ),
        bot=_build_bot(router, services, settings, activity_log, conversations, telemetry),
    )


def _build_broadcasts(
    settings: Settings,
    composer: BroadcastComposer,
    queue: BroadcastQueue,
    conversations: Conversations,
    follow_ups: FollowUps,
    connector: Connector,
    tenants: frozenset[str] | None,
    clock: Callable[[], datetime],
) -> Broadcasts:
    """The proactive message queue, its worker and the reminder scan."""
    worker = BroadcastWorker(
        queue,
        conversations,
        composer,
        TeamsSender(connector.adapter, settings.app_id),
        per_second=settings.broadcast_max_per_second,
        backoff=Backoff(
            base=settings.broadcast_retry_base_seconds,
            cap=settings.broadcast_retry_max_seconds,
            max_attempts=settings.broadcast_max_attempts,
        ),
        tenant_allowed=settings.tenant_allowed,
        poll_interval=settings.outbox_poll_seconds,
        clock=clock,
    )
    reminders = (
        FollowUpScheduler(
            follow_ups,
            hours=settings.follow_up_hours,
            tenants=tenants,
            kick=worker.kick,
            clock=clock,
        )
        if settings.follow_up_hours
        else None
    )
    return Broadcasts(queue=queue, worker=worker, reminders=reminders)


def _build_delivery(
    settings: Settings,
    outbox: Outbox,
    confirmations: Confirmations,
    notices: Notices,
    directory: Directory,
    cards: CardRenderer,
    connector: Connector,
    downtime_log: DowntimeLog,
    clock: Callable[[], datetime],
    telemetry: Telemetry,
) -> Delivery:
    """The mail outbox's worker, its compose process, and the notices that tell the user."""
    compose_process = ComposeProcess() if settings.mail_compose_process else None
    order_delivery = OrderDelivery(
        outbox=outbox,
        directory=directory,
        sender=settings.mail_from,
        compose_process=compose_process,
    )
    notifier = DeliveryNotifier(
        adapter=connector.adapter,
        app_id=settings.app_id,
        confirmations=confirmations,
        cards=cards,
        confirmation_context=order_delivery.confirmation,
        manual_text=order_delivery.manual_text,
        notices=notices,
        outbox=outbox,
        retry_seconds=settings.notify_retry_seconds,
    )
    worker = OutboxWorker(
        outbox,
        build_transport(settings),
        order_delivery.render_email,
        with_log_notices(notifier, downtime_log, clock),
        backoff=Backoff(
            base=settings.mail_retry_base_seconds,
            cap=settings.mail_retry_max_seconds,
            max_attempts=settings.mail_max_attempts,
        ),
        max_per_minute=settings.mail_max_per_minute,
        lease_seconds=settings.outbox_lease_seconds,
        poll_interval=settings.outbox_poll_seconds,
        telemetry=telemetry,
    )
    return Delivery(
        compose_process=compose_process, worker=worker, notifier=notifier, notices=notices
    )


def _build_bot(
    router: Router,
    services: Services,
    settings: Settings,
    activity_log: ActivityLog,
    conversations: Conversations,
    telemetry: Telemetry,
) -> IceBot:
    return IceBot(
        router=router,
        services=services,
        settings=settings,
        activity_log=activity_log,
        conversations=conversations,
        make_reference=conversation_reference,
        telemetry=telemetry,
    )


# --- one context per resource ---------------------------------------------------------


async def _telemetry_lifetime(telemetry: Telemetry, _app: web.Application) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await telemetry.close()


async def _database(db: Database, settings: Settings, _app: web.Application) -> AsyncIterator[None]:
    """Check the schema revision (development mode migrates; production refuses a database
    not at the head revision, and app.py exits 2: migrating is a release step there)."""
    try:
        await migrate_or_refuse(settings, db)
    except BaseException:
        await db.close()
        raise
    try:
        yield
    finally:
        await db.close()


async def _outbound_http(
    connector: Connector, downloader: FileDownloader, _app: web.Application
) -> AsyncIterator[None]:
    """The HTTP sessions to Teams and to file hosts: opened on first use, closed last."""
    try:
        yield
    finally:
        await connector.close()
        await downloader.close()


async def _delivery(
    delivery: Delivery, settings: Settings, _app: web.Application
) -> AsyncIterator[None]:
    """The outbox worker, and the task that re-tells outcomes Teams did not take at the time
    (bot/teams/proactive.py); both keep their state in the database, so a restart resumes."""
    delivery.worker.start()
    try:
        async with _task(
            delivery.notifier.retell_forever(settings.notify_retry_seconds), "notice-retry"
        ):
            yield
    finally:
        await delivery.worker.stop()  # finishes a send already under way
        if delivery.compose_process is not None:
            delivery.compose_process.close()


async def _broadcasts(broadcasts: Broadcasts, _app: web.Application) -> AsyncIterator[None]:
    """Announcements, reconciliations and reminders queued before a restart go on from where
    they were: the queue is in the database (bot/store/broadcasts.py)."""
    broadcasts.worker.start()
    try:
        if broadcasts.reminders is None:
            yield
        else:
            async with _task(broadcasts.reminders.run_forever(), "follow-ups"):
                yield
    finally:
        await broadcasts.worker.stop()  # finishes a proactive send already under way


async def _housekeeping(runtime: Runtime, _app: web.Application) -> AsyncIterator[None]:
    async with _task(_housekeep(runtime), "housekeeping"):
        yield


async def _gauges(
    telemetry: Telemetry, runtime: Runtime, _app: web.Application
) -> AsyncIterator[None]:
    """The queue gauges, read from the store once a minute (nothing when telemetry is off)."""
    async with _task(telemetry.watch(partial(_backlog, runtime)), "telemetry-gauges"):
        yield


async def _serving(
    serving: Serving, settings: Settings, _app: web.Application
) -> AsyncIterator[None]:
    _announce(settings)
    serving.started = True
    try:
        yield
    finally:
        serving.started = False


@contextlib.asynccontextmanager
async def _task(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run `work` as a task while the block runs; cancel it, and wait for it, on the way out."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _housekeep(runtime: Runtime, interval: float = 3600.0) -> None:
    """Hourly: purge patient data past retention (requests and their attached forms),
    delete attached forms never sent, forget old de-duplication keys."""
    services = runtime.services
    while True:
        try:
            now = utcnow()
            purged = await services.outbox.purge(now, runtime.settings.retention_days)
            abandoned = await services.files.forget_abandoned(now)
            forgotten = await runtime.activity_log.forget_older_than(timedelta(days=2))
            log.info(
                "housekeeping purged=%d abandoned_files=%d forgotten_activities=%d",
                purged,
                abandoned,
                forgotten,
            )
        except Exception as error:  # noqa: BLE001 - retried next hour; never kills the app
            log.error("housekeeping failed: %s", type(error).__name__)
        await asyncio.sleep(interval)


async def _backlog(runtime: Runtime) -> Backlog:
    depth = await runtime.services.outbox.depth()
    untold = await runtime.delivery.notices.untold()
    waiting = await runtime.broadcasts.queue.waiting()
    return Backlog(depth.queued, depth.sending, depth.oldest, untold, waiting)


# --- routes ---------------------------------------------------------------------------


async def _health(request: web.Request) -> web.Response:
    settings = request.app[RUNTIME].settings
    ready = request.app[SERVING].started
    body = {
        "status": "ok" if ready else "starting",
        "dev_mode": settings.dev_mode,
        "authentication": "on" if settings.auth_enabled else "OFF (development mode)",
    }
    return web.json_response(body, status=200 if ready else 503)


async def _ready(request: web.Request) -> web.Response:
    """Readiness (bot/readiness.py): database, migrations, outbox; 503 says which failed."""
    if not request.app[SERVING].started:
        return web.json_response({"status": "starting"}, status=503)
    body, status = readiness_body(await request.app[RUNTIME].readiness.check())
    return web.json_response(body, status=status)


def _announced_tenants(settings: Settings) -> frozenset[str] | None:
    """Whose conversations incident messages may reach: the allow-list (None: every tenant,
    which `Settings.tenant_allowed` permits in development mode only)."""
    if not settings.allowed_tenant_ids and settings.dev_mode:
        return None
    return settings.allowed_tenant_ids


def _announce(settings: Settings) -> None:
    if settings.dev_mode:
        log.warning(
            "DEVELOPMENT MODE: %s. Never expose this instance to Teams or the internet.",
            "authentication is OFF" if not settings.auth_enabled else "authentication is on",
        )
    if not settings.allowed_tenant_ids:
        log.warning(
            "ALLOWED_TENANT_IDS is empty: %s",
            "every tenant is allowed (development mode)"
            if settings.dev_mode
            else "every tenant is refused",
        )
