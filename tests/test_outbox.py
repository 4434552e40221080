"""Outbox and worker with real parts: SQLite store, aiosmtpd on loopback, composed email.

Time is a controllable clock; backoff waits are moved by advancing it, so no
test sleeps for real and none asserts on timings.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
from datetime import UTC, datetime, timedelta

import pypdf
import pytest
from sqlalchemy.dialects import postgresql

from bot.backoff import Backoff
from bot.mail.compose import compose_email
from bot.mail.events import DeliveryEvent
from bot.mail.transport import SmtpTransport, TemporaryDeliveryError
from bot.mail.worker import OutboxWorker
from bot.pacing import Pacer
from bot.store.outbox import Outbox, candidates, format_reference
from tests.support.clock import START, Clock
from tests.support.smtp import SAMPLE_PATIENT, document_from_payload, sample_payload

SENDER = "ice.downtime.bot@nhs.net"
MAILBOX = "kch-tr.us.reception_dh@nhs.net"
PRACTICE = "camberwell.test@nhs.net"


class Events:
    def __init__(self) -> None:
        self.seen: list[DeliveryEvent] = []
        self.arrived = asyncio.Event()

    async def __call__(self, event: DeliveryEvent) -> None:
        self.seen.append(event)
        self.arrived.set()


def render(row):
    """The app's render with the real PDF: for tests that inspect the email."""
    doc = document_from_payload(row.payload, row.reference, row.created_at)
    return compose_email(doc, sender=SENDER)


def quick_render(row):
    """Real headers and bodies, placeholder PDF: for tests about delivery, not content."""
    doc = document_from_payload(row.payload, row.reference, row.created_at)
    return compose_email(doc, sender=SENDER, render_attachment=lambda _doc: b"%PDF-1.4 test")


# The `db` fixture (tests/conftest.py) runs each test on SQLite and, when
# TEST_POSTGRES_URL names a throwaway database, on PostgreSQL too.


@pytest.fixture
def events():
    return Events()


def make_worker(outbox, smtp, events, clock, **overrides) -> OutboxWorker:
    options = {
        "max_per_minute": 30,
        "lease_seconds": 60,
        "poll_interval": 30.0,
        "clock": clock,
        "sleep": clock.sleep,
    }
    backoff = {"base": 1.0, "cap": 4.0, "max_attempts": 5, "rng": random.Random(7)}
    for name in list(backoff):
        if name in overrides:
            backoff[name] = overrides.pop(name)
    options["backoff"] = Backoff(**backoff)
    options.update(overrides)
    transport = options.pop("transport", None) or SmtpTransport(
        host=smtp.host, port=smtp.port, starttls=False, timeout=2
    )
    return OutboxWorker(outbox, transport, options.pop("render", quick_render), events, **options)


@pytest.fixture
def worker(outbox, smtp, events, clock):
    return make_worker(outbox, smtp, events, clock)


async def submit(outbox, form_id="form-1", payload=None):
    return await outbox.submit(
        form_id=form_id,
        user_id="29:user-aad",
        practice_ods="G85001",
        trust="KCH",
        department="Ultrasound",
        priority="Urgent",
        mailbox=MAILBOX,
        payload=payload or sample_payload(),
    )


def flat(text: str) -> str:
    return " ".join(text.split())


# --- submission --------------------------------------------------------------


async def test_submit_is_committed_with_a_daily_reference(outbox, db):
    first = await submit(outbox, "a")
    second = await submit(outbox, "b")
    assert (first.reference, second.reference) == ("DT-20261129-0001", "DT-20261129-0002")
    assert first.status == "queued" and first.mailbox == MAILBOX and not first.duplicate
    # Committed: a separate repository on the same database sees it.
    record = await Outbox(db).get(first.reference)
    assert record is not None and record.payload == sample_payload()


async def test_reference_day_is_the_uk_day_and_sequence_restarts(outbox):
    late_summer_evening = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # 00:30 BST on 1 July
    assert format_reference(late_summer_evening, 7) == "DT-20260701-0007"
    sub = await outbox.submit(
        form_id="x",
        user_id="u",
        practice_ods="G85001",
        trust="KCH",
        department="X-ray",
        priority="Routine",
        mailbox=MAILBOX,
        payload={},
        created_at=late_summer_evening,
    )
    assert sub.reference == "DT-20260701-0001"


async def test_double_submit_returns_the_first_and_inserts_nothing(outbox):
    first = await submit(outbox, "same-form")
    again = await submit(outbox, "same-form")
    assert again.duplicate and again.reference == first.reference
    racing = await asyncio.gather(*(submit(outbox, "raced-form") for _ in range(6)))
    assert len({s.reference for s in racing}) == 1
    assert sum(not s.duplicate for s in racing) == 1
    assert (await submit(outbox, "next")).reference == "DT-20261129-0003"


async def test_double_submit_sends_one_email(outbox, worker, smtp, events):
    await asyncio.gather(submit(outbox, "f"), submit(outbox, "f"))
    await submit(outbox, "f")
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert len(smtp.received) == 1 and [e.status for e in events.seen] == ["sent"]


# --- claiming ------------------------------------------------------------------


async def test_two_workers_never_claim_the_same_row(outbox, clock):
    for n in range(6):
        await submit(outbox, f"f{n}")
    one, two = await asyncio.gather(
        outbox.claim_due("w1", clock(), 60, limit=6), outbox.claim_due("w2", clock(), 60, limit=6)
    )
    refs_one, refs_two = {r.reference for r in one}, {r.reference for r in two}
    assert not refs_one & refs_two and len(refs_one | refs_two) == 6


async def test_expired_lease_is_claimable_again(outbox, clock):
    sub = await submit(outbox)
    assert [r.reference for r in await outbox.claim_due("w1", clock(), 60)] == [sub.reference]
    assert await outbox.claim_due("w2", clock(), 60) == []
    clock.advance(61)
    (again,) = await outbox.claim_due("w2", clock(), 60)
    assert again.reference == sub.reference and again.attempts == 2
    assert not await outbox.mark_sent(sub.reference, owner="w1", message_id="<m>", sent_at=clock())


def test_postgres_claim_uses_skip_locked():
    sql = str(
        candidates(START, 5).with_for_update(skip_locked=True).compile(dialect=postgresql.dialect())
    )
    assert "FOR UPDATE SKIP LOCKED" in sql


# --- delivery through a real SMTP server ------------------------------------------


async def test_email_arrives_with_routing_headers_body_and_pdf(outbox, smtp, events, clock):
    worker = make_worker(outbox, smtp, events, clock, render=render)
    sub = await submit(outbox)
    assert await worker.run_once() == 1

    (received,) = smtp.received
    assert set(received.rcpt_tos) == {MAILBOX, PRACTICE}
    message = received.message
    assert message["From"] == SENDER and message["To"] == MAILBOX
    assert message["Cc"] == PRACTICE and message["Reply-To"] == PRACTICE
    # .strip(): Python folds a subject that fits one line to "Subject:\r\n <value>",
    # and its parser keeps the fold's space; unfolded, it is the usual "Subject: <value>".
    assert message["Subject"].strip() == (
        f"ICE downtime radiology request | KCH Ultrasound | Urgent | {sub.reference}"
    )
    for key in ("surname", "forenames", "nhs_number", "postcode", "phone", "date_of_birth"):
        assert SAMPLE_PATIENT[key] not in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    for value in SAMPLE_PATIENT.values():
        for line in value.splitlines():
            assert line in text
    (pdf,) = list(message.iter_attachments())
    assert pdf.get_filename() == f"{sub.reference}.pdf"
    pdf_text = flat(
        " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.get_content())).pages)
    )
    for value in ("O'Brien", "Zoë Łukasz", "999 000 0018", "SE5 8RE", sub.reference):
        assert value in pdf_text

    (event,) = events.seen
    assert (event.reference, event.status, event.mailbox) == (sub.reference, "sent", MAILBOX)
    assert event.user_id == "29:user-aad" and event.sent_at == START
    record = await outbox.get(sub.reference)
    assert record.status == "sent" and record.message_id == message["Message-ID"]


async def test_smtp_down_then_up_delivers_exactly_once(outbox, worker, smtp, events, clock):
    sub = await submit(outbox)
    smtp.stop()
    assert await worker.run_once() == 1
    record = await outbox.get(sub.reference)
    assert record.status == "queued" and record.attempts == 1 and record.last_error
    assert await worker.run_once() == 0  # not due yet: backing off

    clock.advance(5)
    await worker.run_once()  # still down
    assert (await outbox.get(sub.reference)).attempts == 2

    smtp.start()  # same port
    clock.advance(5)
    assert await worker.run_once() == 1
    clock.advance(60)
    assert await worker.run_once() == 0
    assert len(smtp.received) == 1
    assert [e.status for e in events.seen] == ["sent"]
    assert (await outbox.get(sub.reference)).status == "sent"


async def test_permanent_rejection_fails_once_and_is_not_retried(
    outbox, worker, smtp, events, clock
):
    sub = await submit(outbox)
    smtp.fail_next(550)
    await worker.run_once()
    clock.advance(3600)
    assert await worker.run_once() == 0
    assert smtp.received == []
    (event,) = events.seen
    assert event.status == "failed" and "550" in event.reason and event.sent_at is None
    record = await outbox.get(sub.reference)
    assert record.status == "failed" and record.failed_at == START and record.attempts == 1


async def test_temporary_451_then_ok_delivers_once(outbox, worker, smtp, events, clock):
    await submit(outbox)
    smtp.fail_next(451)
    await worker.run_once()
    assert smtp.received == [] and events.seen == []
    clock.advance(5)
    await worker.run_once()
    assert len(smtp.received) == 1 and [e.status for e in events.seen] == ["sent"]


async def test_attempts_exhausted_becomes_a_reported_failure(outbox, smtp, events, clock):
    worker = make_worker(outbox, smtp, events, clock, max_attempts=2)
    sub = await submit(outbox)
    smtp.stop()
    await worker.run_once()
    clock.advance(5)
    await worker.run_once()
    (event,) = events.seen
    assert event.status == "failed" and "2 attempts" in event.reason
    assert (await outbox.get(sub.reference)).status == "failed"


async def test_process_stopped_between_claim_and_send_delivers_once(outbox, smtp, events, clock):
    sub = await submit(outbox)
    dead = make_worker(outbox, smtp, events, clock, owner="dead")
    await outbox.claim_due(dead.owner, clock(), 60)  # claimed, then the process died
    del dead

    restarted = make_worker(outbox, smtp, events, clock, owner="restarted")
    assert await restarted.run_once() == 0  # lease still held
    clock.advance(61)
    assert await restarted.run_once() == 1
    assert await restarted.run_once() == 0
    assert len(smtp.received) == 1 and [e.status for e in events.seen] == ["sent"]
    assert (await outbox.get(sub.reference)).status == "sent"


async def test_notify_failure_is_logged_and_row_stays_sent(outbox, smtp, clock, caplog):
    calls = []

    async def broken(event):
        calls.append(event)
        raise RuntimeError("Teams said no")

    worker = make_worker(outbox, smtp, None, clock)
    worker._notify = broken
    sub = await submit(outbox)
    with caplog.at_level(logging.ERROR, logger="bot.mail.worker"):
        assert await worker.run_once() == 1
    assert len(calls) == 1 and (await outbox.get(sub.reference)).status == "sent"
    assert any("notify-failed" in r.getMessage() for r in caplog.records)
    clock.advance(3600)
    assert await worker.run_once() == 0 and len(smtp.received) == 1


async def test_invalid_payload_is_a_permanent_failure_not_a_crash_loop(
    outbox, worker, smtp, events, clock, caplog
):
    payload = {"patient": {"surname": "Secretname"}}  # no routing: render raises KeyError
    sub = await submit(outbox, payload=payload)
    with caplog.at_level(logging.DEBUG, logger="bot"):
        await worker.run_once()
    (event,) = events.seen
    assert event.status == "failed" and "could not be rendered" in event.reason
    assert smtp.received == []
    clock.advance(3600)
    assert await worker.run_once() == 0
    assert (await outbox.get(sub.reference)).status == "failed"
    assert not any("Secretname" in r.getMessage() for r in caplog.records)


async def test_logs_carry_no_patient_value(outbox, smtp, events, clock, caplog):
    # Production level for everything, DEBUG for the bot's own loggers. (aiosqlite logs
    # SQL parameters at DEBUG, payload included: the app must keep it above DEBUG.)
    worker = make_worker(outbox, smtp, events, clock, render=render)
    smtp.fail_next(451)
    caplog.set_level(logging.INFO)
    with caplog.at_level(logging.DEBUG, logger="bot"):
        await submit(outbox)
        await worker.run_once()
        clock.advance(5)
        await worker.run_once()
    lines = [r.getMessage() for r in caplog.records]
    assert any("outbox sent" in line and "DT-20261129-0001" in line for line in lines)
    for value in SAMPLE_PATIENT.values():
        for word in value.replace(",", " ").split():
            if len(word) > 4 and word not in ("Ultrasound",):
                assert not any(word in line for line in lines), word


async def test_pacing_waits_for_the_window(outbox, smtp, events, clock):
    worker = make_worker(outbox, smtp, events, clock, max_per_minute=2)
    for n in range(3):
        await submit(outbox, f"f{n}")
    assert await worker.run_once() == 3
    assert clock.sleeps == [60.0]
    assert len(smtp.received) == 3


def test_pacer_sliding_window():
    clock = Clock()
    pacer = Pacer(2, clock, clock.sleep)
    assert pacer.delay() == 0
    pacer.record()
    clock.advance(10)
    pacer.record()
    assert pacer.delay() == 50
    clock.advance(50)
    assert pacer.delay() == 0


async def test_each_retry_waits_the_mail_backoff_growing_to_its_cap(outbox, smtp, events, clock):
    """The worker schedules each retry by its Backoff (bot/backoff.py): jittered, capped."""
    worker = make_worker(outbox, smtp, events, clock, base=10, cap=100, max_attempts=99)
    sub = await submit(outbox)
    smtp.stop()
    for step in (10, 20, 40, 80, 100, 100):
        assert await worker.run_once() == 1
        record = await outbox.get(sub.reference)
        wait = (record.next_attempt_at - clock()).total_seconds()
        assert step / 2 <= wait <= step, (record.attempts, wait)
        clock.advance(wait)


# --- the running loop ---------------------------------------------------------------


async def test_start_kick_delivers_without_waiting_for_the_poll(outbox, smtp, events, clock):
    worker = make_worker(outbox, smtp, events, clock, poll_interval=3600)
    worker.start()
    try:
        await asyncio.sleep(0)
        await submit(outbox)
        worker.kick()
        await asyncio.wait_for(events.arrived.wait(), 5)
    finally:
        await worker.stop()
    assert len(smtp.received) == 1


class HeldTransport:
    """Holds a send open until released, to stop the worker mid-send."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.sent = 0

    async def send(self, message) -> None:
        self.started.set()
        await self.release.wait()
        self.sent += 1


async def test_stop_waits_for_the_send_in_flight(outbox, smtp, events, clock):
    transport = HeldTransport()
    worker = make_worker(outbox, smtp, events, clock, transport=transport, poll_interval=3600)
    sub = await submit(outbox)
    worker.start()
    await asyncio.wait_for(transport.started.wait(), 5)
    stopping = asyncio.create_task(worker.stop())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not stopping.done()
    transport.release.set()
    await asyncio.wait_for(stopping, 5)
    assert transport.sent == 1
    assert (await outbox.get(sub.reference)).status == "sent"


async def test_unexpected_transport_error_is_retried_not_fatal(outbox, smtp, events, clock):
    class Flaky:
        calls = 0

        async def send(self, message):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise ValueError("boom")

    worker = make_worker(outbox, smtp, events, clock, transport=Flaky())
    sub = await submit(outbox)
    await worker.run_once()
    assert (await outbox.get(sub.reference)).status == "queued"
    clock.advance(5)
    await worker.run_once()
    assert (await outbox.get(sub.reference)).status == "sent"


# --- retention --------------------------------------------------------------------


async def test_purge_removes_payload_and_keeps_metadata(outbox, worker, clock):
    sent = await submit(outbox, "sent-one")
    await worker.run_once()
    failed = await submit(outbox, "failed-one")
    (row,) = await outbox.claim_due("w", clock(), 60)
    await outbox.mark_failed(row.reference, owner="w", error="550 rejected")
    pending = await submit(outbox, "pending-one")
    await outbox.mark_retry(pending.reference, owner=None, next_attempt_at=clock(), error="x")

    assert await outbox.purge(clock() + timedelta(days=13), retention_days=14) == 0
    assert await outbox.purge(clock() + timedelta(days=15), retention_days=14) == 2
    for reference, status in ((sent.reference, "sent"), (failed.reference, "failed")):
        record = await outbox.get(reference)
        assert record.payload is None and record.purged_at is not None
        assert (record.status, record.practice_ods, record.trust, record.department) == (
            status,
            "G85001",
            "KCH",
            "Ultrasound",
        )
        assert record.created_at == START
    assert (await outbox.get(pending.reference)).payload is not None
    assert await outbox.purge(clock() + timedelta(days=30), retention_days=14) == 0


def test_temporary_error_reason_has_code():
    error = TemporaryDeliveryError("try later", code=451)
    assert error.code == 451 and str(error) == "451 try later"


async def test_limit_is_checked_in_the_same_transaction_as_the_insert(outbox, clock) -> None:
    from bot.store.outbox import RecentLimit, TooManyRequests

    limit = RecentLimit(most=2, since=clock() - timedelta(hours=1))

    async def queue(form_id: str):
        return await outbox.submit(
            form_id=form_id,
            user_id="29:user",
            practice_ods="G85001",
            trust="kch",
            department="ultrasound",
            priority="routine",
            mailbox="kch-tr.us.reception_dh@nhs.net",
            payload={"p": 1},
            limit=limit,
        )

    first = await queue("form-a")
    await queue("form-b")
    with pytest.raises(TooManyRequests):
        await queue("form-c")
    again = await queue("form-a")  # a repeated Send of a queued form is never refused
    assert again.duplicate and again.reference == first.reference
    assert await outbox.count_since("29:user", limit.since) == 2
