"""Transports against a real aiosmtpd server on loopback, and the file transport on disk."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest

from bot.mail.compose import compose_email
from bot.mail.transport import (
    FileTransport,
    MailTransport,
    PermanentDeliveryError,
    SmtpTransport,
    TemporaryDeliveryError,
    build_transport,
    tls12_context,
)
from bot.settings import Settings
from tests.support.smtp import SmtpTestServer, document_from_payload, sample_payload
from tests.support.tls import self_signed_certificate

CREATED = dt.datetime(2026, 11, 29, 10, 32, tzinfo=dt.UTC)
SENDER = "ice.downtime.bot@nhs.net"


def message(reference: str = "DT-20261129-0007"):
    # The PDF is not what these tests are about: a placeholder keeps them fast.
    doc = document_from_payload(sample_payload(), reference, CREATED)
    return compose_email(doc, sender=SENDER, render_attachment=lambda _doc: b"%PDF-1.4 test")


def plain(server: SmtpTestServer, **kwargs) -> SmtpTransport:
    return SmtpTransport(host=server.host, port=server.port, starttls=False, timeout=5, **kwargs)


async def test_delivers_to_mailbox_and_practice_copy(smtp):
    await plain(smtp).send(message())
    (received,) = smtp.received
    assert received.mail_from == SENDER
    assert set(received.rcpt_tos) == {"kch-tr.us.reception_dh@nhs.net", "camberwell.test@nhs.net"}
    parsed = received.message
    assert parsed["Reply-To"] == "camberwell.test@nhs.net"
    assert parsed["Message-ID"] == "<DT-20261129-0007.ice-downtime@nhs.net>"


async def test_smtp_down_is_temporary():
    server = SmtpTestServer()  # never started: connection refused
    with pytest.raises(TemporaryDeliveryError):
        await plain(server).send(message())


@pytest.mark.parametrize("code", [421, 451])
async def test_4xx_is_temporary_and_carries_the_code(smtp, code):
    smtp.fail_next(code)
    with pytest.raises(TemporaryDeliveryError) as caught:
        await plain(smtp).send(message())
    assert caught.value.code == code
    assert smtp.received == []


async def test_5xx_is_permanent(smtp):
    smtp.fail_next(550)
    with pytest.raises(PermanentDeliveryError) as caught:
        await plain(smtp).send(message())
    assert caught.value.code == 550
    assert "O'Brien" not in str(caught.value)


async def test_login_is_skipped_without_username(smtp):
    # aiosmtpd offers no AUTH here: a login attempt would fail the send.
    await plain(smtp, username="").send(message())
    assert len(smtp.received) == 1


# --- TLS -------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made fresh for this test run."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"), "smtp.test")


def server_context(certificate, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    return context


def trusting(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def starttls(server: SmtpTestServer, context: ssl.SSLContext | None) -> SmtpTransport:
    return SmtpTransport(
        host=server.host, port=server.port, starttls=True, timeout=5, tls_context=context
    )


async def test_starttls_negotiates_tls12_or_newer(certificate):
    with SmtpTestServer(tls_context=server_context(certificate), require_starttls=True) as server:
        await starttls(server, trusting(certificate)).send(message())
        (received,) = server.received
    assert received.tls_version in {"TLSv1.2", "TLSv1.3"}


async def test_untrusted_certificate_is_a_temporary_failure(certificate):
    with SmtpTestServer(tls_context=server_context(certificate), require_starttls=True) as server:
        with pytest.raises(TemporaryDeliveryError) as caught:
            await starttls(server, None).send(message())  # system CAs: self-signed is unknown
        assert server.received == []
    assert "TLS" in caught.value.reason


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
async def test_server_limited_to_tls11_is_refused(certificate):
    old = server_context(certificate, maximum=ssl.TLSVersion.TLSv1_1)
    with SmtpTestServer(tls_context=old, require_starttls=True) as server:
        with pytest.raises(TemporaryDeliveryError):
            await starttls(server, trusting(certificate)).send(message())
        assert server.received == []


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_floor_is_raised_even_on_a_callers_context():
    lax = ssl.create_default_context()
    lax.minimum_version = ssl.TLSVersion.TLSv1
    assert tls12_context(lax).minimum_version == ssl.TLSVersion.TLSv1_2
    default = tls12_context()
    assert default.minimum_version == ssl.TLSVersion.TLSv1_2
    assert default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname


# --- files and the factory ---------------------------------------------------


async def test_file_transport_writes_one_eml_per_message_id(tmp_path):
    transport = FileTransport(tmp_path / "mail")
    await transport.send(message())
    await transport.send(message())  # a retry of the same request
    await transport.send(message("DT-20261129-0008"))
    files = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert files == ["DT-20261129-0007.eml", "DT-20261129-0008.eml"]
    assert (
        b"Message-ID: <DT-20261129-0007.ice-downtime@nhs.net>"
        in (tmp_path / "mail" / "DT-20261129-0007.eml").read_bytes()
    )


def test_build_transport_follows_settings(tmp_path):
    base = {"dev_mode": True, "mail_dir": tmp_path}
    file_transport = build_transport(Settings(mail_transport="file", **base))
    assert isinstance(file_transport, FileTransport) and file_transport.directory == tmp_path
    smtp_transport = build_transport(
        Settings(mail_transport="smtp", smtp_host="send.nhs.net", smtp_port=587, **base)
    )
    assert isinstance(smtp_transport, SmtpTransport)
    assert isinstance(smtp_transport, MailTransport)
