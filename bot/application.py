"""The app factory: settings in, a ready aiohttp application out.

Nothing happens at import time. Resources that need the event loop (the
database, later the outbox worker) are opened in a cleanup context, so tests
can build as many independent apps as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
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
from bot.mail.transport import build_transport
from bot.mail.worker import OutboxWorker
from bot.orders.delivery import ComposeProcess, OrderDelivery
from bot.readiness import Readiness, readiness_body
from bot.router import Router
from bot.services import Services
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
from bot.teams.adapter import build_adapter, build_authentication, conversation_reference
from bot.teams.bot import IceBot
from bot.teams.broadcast import TeamsSender
from bot.teams.connector import ConnectorPool, RetryPolicy, SharedSession
from bot.teams.proactive import DeliveryNotifier
from bot.telemetry import Backlog, Telemetry, build_telemetry
from bot.web import messages_handler, no_stack_traces
from cards import CardRenderer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything one running bot holds; built at startup, closed at shutdown."""

    settings: Settings
    directory: Directory
    cards: CardRenderer
    router: Router
    db: Database
    profiles: Profiles
    activity_log: ActivityLog
    outbox: Outbox
    confirmations: Confirmations
    files: ReceivedFiles
    downloader: FileDownloader
    worker: OutboxWorker
    bot: IceBot
    readiness: Readiness
    conversations: Conversations
    incidents: IncidentBoard
    downtime_log: DowntimeLog
    broadcaster: BroadcastWorker
    #: None with FOLLOW_UP_HOURS=0.
    reminders: FollowUpScheduler | None
    clock: Callable[[], datetime]

    def services(self) -> dict[str, Any]:
        """What handlers may ask for by name (the router checked the names at start-up)."""
        return Services(
            settings=self.settings,
            directory=self.directory,
            cards=self.cards,
            profiles=self.profiles,
            router=self.router,
            outbox=self.outbox,
            confirmations=self.confirmations,
            files=self.files,
            downloader=self.downloader,
            incidents=self.incidents,
            downtime_log=self.downtime_log,
            clock=self.clock,
            kick=self.worker.kick,
        ).by_name()


RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", Settings)


def create_app(
    settings: Settings,
    *,
    directory: Directory | None = None,
    clock: Callable[[], datetime] = utcnow,
    telemetry: Telemetry | None = None,
) -> web.Application:
    """Build the web application; the database opens when the app starts.

    `clock` is "now" for handlers, incidents, the broadcast and the reminder
    (tests move it forward; the mail outbox keeps the wall clock). `telemetry`
    defaults to what the settings ask for (bot/telemetry.py); tests pass one
    that keeps what it records in memory.
    """
    quiet_chatty_libraries()
    telemetry = telemetry or build_telemetry(settings)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[no_stack_traces])
    app[SETTINGS] = settings
    connector_session = SharedSession()
    retry = partial(
        RetryPolicy,
        attempts=settings.connector_retry_attempts,
        base_delay=settings.connector_retry_base_seconds,
        max_delay=settings.connector_retry_max_seconds,
        budget=settings.connector_retry_budget_seconds,
        on_retry=telemetry.connector_retry,
    )
    authentication = build_authentication(settings, ConnectorPool(connector_session, retry=retry))
    adapter = build_adapter(authentication)

    async def runtime(app: web.Application) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        try:
            # Development mode migrates; production refuses a database not at the head
            # revision (app.py exits 2), since migrating is a release step there.
            await migrate_or_refuse(settings, db)
        except BaseException:
            await db.close()
            raise
        profiles = Profiles(db)
        activity_log = ActivityLog(db)
        outbox = Outbox(db)
        confirmations = Confirmations(db)
        files = ReceivedFiles(db)
        downloader = FileDownloader(
            HostPolicy(settings.file_download_hosts, dev_mode=settings.dev_mode),
            max_bytes=settings.file_max_bytes,
        )
        notices = Notices(db)
        router = build_router(telemetry)
        resolved_directory = directory or load_directory()
        cards = CardRenderer()
        compose_process = ComposeProcess() if settings.mail_compose_process else None
        delivery = OrderDelivery(
            outbox=outbox,
            directory=resolved_directory,
            sender=settings.mail_from,
            compose_process=compose_process,
        )
        notifier = DeliveryNotifier(
            adapter=adapter,
            app_id=settings.app_id,
            confirmations=confirmations,
            cards=cards,
            confirmation_context=delivery.confirmation,
            manual_text=delivery.manual_text,
            notices=notices,
            outbox=outbox,
            retry_seconds=settings.notify_retry_seconds,
        )
        conversations = Conversations(db)
        incidents_store = Incidents(db)
        queue = BroadcastQueue(db)
        request_log = RequestLog(db)
        tenants = _announced_tenants(settings)
        broadcaster = BroadcastWorker(
            queue,
            conversations,
            BroadcastComposer(
                cards=cards,
                directory=resolved_directory,
                incidents=incidents_store,
                requests=request_log,
                follow_up_hours=settings.follow_up_hours,
            ),
            TeamsSender(adapter, settings.app_id),
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
        incidents = IncidentBoard(
            incidents_store, conversations, queue, kick=broadcaster.kick, tenants=tenants
        )
        downtime_log = DowntimeLog(
            request_log,
            profiles,
            conversations,
            queue,
            resolved_directory,
            kick_broadcast=broadcaster.kick,
            tenants=tenants,
        )
        reminders = (
            FollowUpScheduler(
                FollowUps(db),
                hours=settings.follow_up_hours,
                tenants=tenants,
                kick=broadcaster.kick,
                clock=clock,
            )
            if settings.follow_up_hours
            else None
        )
        worker = OutboxWorker(
            outbox,
            build_transport(settings),
            delivery.render_email,
            with_log_notices(notifier, downtime_log, clock),
            max_per_minute=settings.mail_max_per_minute,
            lease_seconds=settings.outbox_lease_seconds,
            backoff_base=settings.mail_retry_base_seconds,
            backoff_max=settings.mail_retry_max_seconds,
            max_attempts=settings.mail_max_attempts,
            poll_interval=settings.outbox_poll_seconds,
            telemetry=telemetry,
        )
        bot_services: dict[str, Any] = {}
        bot = IceBot(
            router=router,
            services=bot_services,
            settings=settings,
            activity_log=activity_log,
            conversations=conversations,
            make_reference=conversation_reference,
            telemetry=telemetry,
        )
        state = Runtime(
            settings=settings,
            directory=resolved_directory,
            cards=cards,
            router=router,
            db=db,
            profiles=profiles,
            activity_log=activity_log,
            outbox=outbox,
            confirmations=confirmations,
            files=files,
            downloader=downloader,
            worker=worker,
            bot=bot,
            readiness=Readiness(
                db,
                outbox,
                max_queue_age=timedelta(seconds=settings.ready_max_queue_age_seconds),
            ),
            conversations=conversations,
            incidents=incidents,
            downtime_log=downtime_log,
            broadcaster=broadcaster,
            reminders=reminders,
            clock=clock,
        )
        bot_services.update(state.services())
        app[RUNTIME] = state
        _announce(settings)
        worker.start()
        # Announcements, reconciliations and reminders queued before a restart go on
        # from where they were: the queue is in the database (bot/store/broadcasts.py).
        broadcaster.start()
        housekeeping = asyncio.create_task(_housekeeping(state), name="housekeeping")
        # Re-tells "sent"/"failed" outcomes Teams did not take at the time (see
        # bot/teams/proactive.py); its state is in the database, so a restart resumes it.
        retell = asyncio.create_task(
            notifier.retell_forever(settings.notify_retry_seconds), name="notice-retry"
        )
        # The queue gauges, read from the store once a minute (nothing when telemetry is off).
        gauges = asyncio.create_task(
            telemetry.watch(partial(_backlog, outbox, notices, queue)), name="telemetry-gauges"
        )
        tasks = [housekeeping, retell, gauges]
        if reminders is not None:
            tasks.append(asyncio.create_task(reminders.run_forever(), name="follow-ups"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await broadcaster.stop()  # finishes a proactive send already under way
            await worker.stop()  # finishes a send already under way
            if compose_process is not None:
                compose_process.close()
            await connector_session.close()
            await downloader.close()
            await db.close()

    # Telemetry's own context, entered first so it is closed last: the worker's
    # final send and the shutdown are still recorded, then the exporters flush.
    app.cleanup_ctx.append(partial(_telemetry_lifetime, telemetry))
    app.cleanup_ctx.append(runtime)
    app.router.add_post(
        "/api/messages",
        messages_handler(
            authentication=authentication, adapter=adapter, bot=lambda: app[RUNTIME].bot
        ),
    )
    app.router.add_get("/healthz", _health)
    app.router.add_get("/readyz", _ready)
    return app


async def _housekeeping(state: Runtime, interval: float = 3600.0) -> None:
    """Hourly: purge patient data past retention (requests and their attached forms),
    delete attached forms never sent, forget old de-duplication keys."""
    while True:
        try:
            now = utcnow()
            purged = await state.outbox.purge(now, state.settings.retention_days)
            abandoned = await state.files.forget_abandoned(now)
            forgotten = await state.activity_log.forget_older_than(timedelta(days=2))
            log.info(
                "housekeeping purged=%d abandoned_files=%d forgotten_activities=%d",
                purged,
                abandoned,
                forgotten,
            )
        except Exception as error:  # noqa: BLE001 - retried next hour; never kills the app
            log.error("housekeeping failed: %s", type(error).__name__)
        await asyncio.sleep(interval)


async def _telemetry_lifetime(telemetry: Telemetry, _app: web.Application) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await telemetry.close()


async def _backlog(outbox: Outbox, notices: Notices, broadcasts: BroadcastQueue) -> Backlog:
    depth = await outbox.depth()
    untold, waiting = await notices.untold(), await broadcasts.waiting()
    return Backlog(depth.queued, depth.sending, depth.oldest, untold, waiting)


async def _health(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    ready = RUNTIME in request.app
    body = {
        "status": "ok" if ready else "starting",
        "dev_mode": settings.dev_mode,
        "authentication": "on" if settings.auth_enabled else "OFF (development mode)",
    }
    return web.json_response(body, status=200 if ready else 503)


async def _ready(request: web.Request) -> web.Response:
    """Readiness (bot/readiness.py): database, migrations, outbox; 503 says which failed."""
    if RUNTIME not in request.app:
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
