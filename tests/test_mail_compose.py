"""The composed email: routing headers, no patient data in headers, every field in body and PDF."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy

import pypdf
import pytest

from bot.mail.compose import HeaderInjectionError, compose_email, message_id_for
from bot.mail.pdf import find_unicode_font, render_pdf, transliterate_latin1
from tests.support.smtp import SAMPLE_PATIENT, document_from_payload, sample_payload

CREATED = datetime(2026, 11, 29, 10, 32, tzinfo=UTC)
SENDER = "ice.downtime.bot@nhs.net"


def make_doc(**patient: str):
    return document_from_payload(sample_payload(**patient), "DT-20261129-0007", CREATED)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_headers_route_to_mailbox_with_practice_on_reply_to_and_cc():
    message = compose_email(make_doc(), sender=SENDER)
    assert message["To"] == "kch-tr.us.reception_dh@nhs.net"
    assert message["Cc"] == "camberwell.test@nhs.net"
    assert message["Reply-To"] == "camberwell.test@nhs.net"
    assert message["From"] == SENDER
    assert message["Subject"] == (
        "ICE downtime radiology request | KCH Ultrasound | Urgent | DT-20261129-0007"
    )
    assert message["Date"] == "Sun, 29 Nov 2026 10:32:00 +0000"


def test_message_id_depends_only_on_reference():
    first = compose_email(make_doc(), sender=SENDER)
    again = compose_email(make_doc(surname="Different"), sender=SENDER)
    assert first["Message-ID"] == again["Message-ID"] == "<DT-20261129-0007.ice-downtime@nhs.net>"
    assert message_id_for("DT-20261129-0008", SENDER) != first["Message-ID"]


def test_no_patient_value_in_any_header():
    message = compose_email(make_doc(), sender=SENDER)
    headers = "\n".join(f"{name}: {value}" for name, value in message.items())
    identifiers = (
        "surname",
        "forenames",
        "date_of_birth",
        "nhs_number",
        "address",
        "postcode",
        "phone",
        "clinical_history",
    )
    for key in identifiers:
        for word in SAMPLE_PATIENT[key].replace(",", " ").split():
            if len(word) > 3:
                assert word not in headers, key
    assert "9990000018" not in headers.replace(" ", "")


def test_text_and_html_bodies_carry_every_field():
    message = compose_email(make_doc(), sender=SENDER)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for value in SAMPLE_PATIENT.values():
        for line in value.splitlines():
            assert line in text
    assert "Zoë Łukasz" in html and "999 000 0018" in html
    assert "kch-tr.us.reception_dh@nhs.net" in text and "G85001" in text


def test_html_escapes_markup_typed_by_the_user():
    message = compose_email(make_doc(clinical_question="<script>alert(1)</script>"), sender=SENDER)
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;after meals&lt;/b&gt;" in html


def test_pdf_attachment_named_by_reference_contains_the_fields():
    message = compose_email(make_doc(), sender=SENDER)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "DT-20261129-0007.pdf"
    assert attachment.get_content_type() == "application/pdf"
    text = flat(pdf_text(attachment.get_content()))
    assert "DT-20261129-0007" in text
    for value in ("O'Brien", "Zoë Łukasz", "999 000 0018", "SE5 8RE", "Gallstones?"):
        assert value in text


def test_round_trips_through_bytes():
    raw = compose_email(make_doc(), sender=SENDER).as_bytes()
    parsed = message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"].endswith("DT-20261129-0007")
    assert "Zoë" in parsed.get_body(("plain",)).get_content()


@pytest.mark.skipif(find_unicode_font() is None, reason="no DejaVu font on this machine")
def test_unicode_font_is_used_when_available():
    doc = make_doc(surname="Wiśniewski", forenames="Łukasz Zoë")
    assert "Wiśniewski" in pdf_text(render_pdf(doc))


def test_without_a_unicode_font_names_are_transliterated_not_lost(monkeypatch):
    monkeypatch.setattr("bot.mail.pdf.find_unicode_font", lambda *_: None)
    text = pdf_text(render_pdf(make_doc(surname="Wiśniewski", forenames="Łukasz Zoë")))
    assert "Wisniewski" in text and "Lukasz Zoë" in text
    assert transliterate_latin1("Łódź “quote” – dash") == 'Lódz "quote" - dash'


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mailbox", "kch-tr.us.reception_dh@nhs.net\r\nBcc: attacker@example.com"),
        ("mailbox", "a@nhs.net, attacker@example.com"),
        ("practice_email", "practice@nhs.net\nBcc: attacker@example.com"),
        ("practice_email", "Practice <practice@nhs.net>"),
        ("reference", "DT-1\r\nBcc: attacker@example.com"),
    ],
)
def test_header_injection_in_addresses_or_reference_is_refused(field, value):
    payload = sample_payload()
    reference = "DT-20261129-0007"
    if field == "reference":
        reference = value
    else:
        payload["routing"][field] = value
    doc = document_from_payload(payload, reference, CREATED)
    with pytest.raises(HeaderInjectionError):
        compose_email(doc, sender=SENDER)


def test_header_injection_in_sender_is_refused():
    with pytest.raises(HeaderInjectionError):
        compose_email(make_doc(), sender="bot@nhs.net\r\nBcc: x@example.com")


def test_control_characters_in_subject_parts_are_folded_away():
    payload = sample_payload()
    payload["routing"]["department"] = "Ultrasound\r\nBcc: attacker@example.com"
    payload["routing"]["priority"] = "Urgent\n"
    doc = document_from_payload(payload, "DT-20261129-0007", CREATED)
    message = compose_email(doc, sender=SENDER)
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    parsed = message_from_bytes(message.as_bytes(), policy=default_policy)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == (
        "ICE downtime radiology request | KCH Ultrasound Bcc: attacker@example.com | Urgent"
        " | DT-20261129-0007"
    )


def _routes() -> list[tuple[str, str]]:
    """(trust short name, department label) for every route the directory offers."""
    from bot.directory import load_directory
    from bot.orders.routing import RouteError, resolve_route
    from bot.vocabulary import MODALITIES

    directory, found = load_directory(), set()
    for trust in directory.trusts:
        for modality in MODALITIES:
            try:
                route = resolve_route(directory, trust.id, modality.id)
            except RouteError:
                continue
            found.add((trust.short_name, route.department_label))
    return sorted(found)


@pytest.mark.parametrize(("trust", "department"), _routes())
@pytest.mark.parametrize("priority", ["Urgent", "Routine"])
def test_subject_reads_back_exactly_as_composed(trust: str, department: str, priority: str):
    """A 70-77 character subject used to be folded onto a continuation line, leaving
    "Subject:" empty, and came back with a leading space. Read back after the SMTP
    transport's own serialisation, as the hospital's mail client would."""
    from aiosmtplib.email import flatten_message

    from bot.mail.compose import subject_for

    routing = {"trust_short": trust, "department": department, "priority": priority}
    payload = {**sample_payload(), "routing": {**sample_payload()["routing"], **routing}}
    for reference in ("DT-20261129-0007", "DT-20261129-1234567"):
        doc = document_from_payload(payload, reference, CREATED)
        composed = compose_email(doc, sender=SENDER, render_attachment=lambda _doc: b"%PDF")
        parsed = message_from_bytes(composed.as_bytes(), policy=default_policy)
        wire = flatten_message(parsed)
        received = message_from_bytes(wire, policy=default_policy)
        assert received["Subject"] == subject_for(doc)
        subject_lines = wire.split(b"\r\n\r\n")[0].split(b"Subject:")[1].split(b"\r\n")
        assert subject_lines[0].strip(), "the Subject line itself must carry text"
        assert all(len(line) <= 78 for line in wire.split(b"\r\n\r\n")[0].split(b"\r\n"))


@pytest.mark.parametrize("lines", [200, 500])
def test_a_value_longer_than_a_page_still_makes_the_pdf(lines: int):
    """A clinical history the form accepts (here hundreds of short lines) made a
    table row taller than a page; fpdf2 refused it and the request failed, not rendered.
    The value now continues in the rows below, every line of it."""
    value = "".join(f"n{number}\n" for number in range(lines))
    data = render_pdf(make_doc(clinical_history=value))
    words = flat(pdf_text(data)).split()
    assert [w for w in words if w.startswith("n") and w[1:].isdigit()] == value.split()
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) > 1
