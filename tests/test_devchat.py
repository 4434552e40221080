"""The terminal chat client plays Teams against the real running app."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import aiohttp
import pytest

from bot.application import create_app
from bot.devchat.connector import ConnectorStub
from bot.devchat.files import LocalFiles
from bot.devchat.render import render_card
from bot.devchat.session import ChatSession

REPO = Path(__file__).resolve().parents[1]


async def _session(aiohttp_server, make_settings, http) -> ChatSession:
    bot = await aiohttp_server(create_app(make_settings(allowed_tenant_ids=frozenset())))
    stub = ConnectorStub()
    connector = await aiohttp_server(stub.app())
    return ChatSession(
        bot_url=str(bot.make_url("/api/messages")),
        service_url=str(connector.make_url("/")),
        connector=stub,
        http=http,
    )


async def test_newcomer_reaches_mailbox_and_helpdesk_in_two_clicks(
    aiohttp_server,
    make_settings,
) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _session(aiohttp_server, make_settings, http)
        [steps] = await chat.say("ICE is down")
        assert "kch-tr.us.reception_dh@nhs.net" in steps.card.text

        [triage] = await chat.say("ICE???")
        titles = [b["title"] for b in triage.card.buttons]
        access = next(i for i, t in enumerate(titles, 1) if "can't get in" in t.lower())
        [access_card] = await chat.press(access)
        bromley = next(
            i for i, b in enumerate(access_card.card.buttons, 1) if b.get("title") == "Bromley"
        )
        [desk] = await chat.press(bromley)
        assert "0208 315 8702" in desk.card.text


async def test_channel_mode_mentions_the_bot(aiohttp_server, make_settings) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _session(aiohttp_server, make_settings, http)
        chat.kind = "channel"
        [card] = await chat.say("mailbox guys")
        assert "gst-tr.radiologyreferrals@nhs.net" in card.card.text


def test_render_lists_inputs_buttons_and_facts() -> None:
    card = {
        "type": "AdaptiveCard",
        "body": [
            {"type": "TextBlock", "text": "Hello \\*world\\*"},
            {"type": "FactSet", "facts": [{"title": "Phone", "value": "020 8176 5400"}]},
            {"type": "Input.Text", "id": "nhs_number", "label": "NHS number", "isRequired": True},
        ],
        "actions": [
            {"type": "Action.Execute", "title": "Send", "verb": "x"},
            {"type": "Action.OpenUrl", "title": "Portal", "url": "https://example.org"},
        ],
    }
    rendered = render_card(card)
    assert "Hello *world*" in rendered.text
    assert "Phone: 020 8176 5400" in rendered.text
    assert "[nhs_number] NHS number *" in rendered.text
    assert "(1) Send" in rendered.text and "(2) Portal -> https://example.org" in rendered.text
    assert [i["id"] for i in rendered.inputs] == ["nhs_number"]


@pytest.mark.parametrize("dialogs", [True, False], ids=["dialog", "no-dialogs"])
async def test_newcomer_orders_a_kch_ultrasound_and_finds_the_email_file(
    aiohttp_server, make_settings, tmp_path, dialogs: bool
) -> None:
    """`order`, fill the form, Send; the .eml is addressed right.

    New request opens a dialog, three steps, review, Send closes it and the
    confirmation arrives in the chat; a client without dialogs gets the same in the chat."""
    settings = make_settings(
        allowed_tenant_ids=frozenset(), mail_dir=tmp_path / "mail", outbox_poll_seconds=0.05
    )
    async with aiohttp.ClientSession() as http:
        bot = await aiohttp_server(create_app(settings))
        stub = ConnectorStub()
        connector = await aiohttp_server(stub.app())
        chat = ChatSession(
            str(bot.make_url("/api/messages")), str(connector.make_url("/")), stub, http
        )

        chat.dialogs = dialogs
        await chat.say("order")
        [choose] = await chat.press(chat.button("New request"))
        assert choose.dialog is dialogs and "[modality]" in choose.card.text
        [step1] = await chat.press(chat.button("Next"), chat.sample_inputs())
        assert "Step 1 of 3" in step1.card.text
        [step2] = await chat.press(chat.button("Next"), chat.sample_inputs())
        assert "[nhs_number]" in step2.card.text
        [step3] = await chat.press(chat.button("Next"), chat.sample_inputs())
        assert "[practice_ods]" in step3.card.text
        [review] = await chat.press(chat.button("Review request"), chat.sample_inputs())
        assert "kch-tr.us.reception_dh@nhs.net" in review.card.text
        *closed, confirmation = await chat.press(chat.button("Send"))
        assert [c.text for c in closed] == (["(the dialog closed)"] if dialogs else [])
        assert not confirmation.dialog and chat.dialog is None
        assert "DT-" in confirmation.card.text and "Queued" in confirmation.card.text

        async with asyncio.timeout(10):
            while not list((tmp_path / "mail").glob("*.eml")):  # noqa: ASYNC110 - worker's file
                await asyncio.sleep(0.05)
            updates: list = []
            while not any(u.updated and "Sent at" in u.card.text for u in updates if u.card):
                await asyncio.sleep(0.05)
                updates += chat.drain()
    [eml] = list((tmp_path / "mail").glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=default)
    assert message["To"] == "kch-tr.us.reception_dh@nhs.net"
    assert message["Reply-To"] == "test.practice@nhs.net"
    assert "999 000 0018" not in str(message["Subject"])


def test_render_keeps_escaped_stars_and_drops_bold_markers() -> None:
    card = {
        "type": "AdaptiveCard",
        "body": [
            {"type": "TextBlock", "text": "**Next:** go"},
            {"type": "FactSet", "facts": [{"title": "NHS number", "value": r"\*\*\* \*\*\* 0018"}]},
        ],
    }
    text = render_card(card).text
    assert "Next: go" in text and "NHS number: *** *** 0018" in text


async def test_search_as_from_the_compose_box(aiohttp_server, make_settings) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _session(aiohttp_server, make_settings, http)
        [found] = await chat.search("kings us")
        assert found.card is not None and "kch-tr.us.reception_dh@nhs.net" in found.card.text
        [said] = await chat.search("kings ct")
        assert "no downtime route for CT" in said.text


async def test_make_chat_talks_to_the_bot_on_port(aiohttp_server, make_settings, tmp_path) -> None:
    """`PORT=4101 make chat` used to talk to port 3978. It follows PORT like `make run`."""
    import os
    import sys

    bot = await aiohttp_server(create_app(make_settings(allowed_tenant_ids=frozenset())))
    chat = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.devchat",
        cwd=tmp_path,  # no .env here: PORT comes from the environment
        env={**os.environ, "PYTHONPATH": str(REPO), "PORT": str(bot.port)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(chat.communicate(b"mailbox guys\n/quit\n"), 60)
    text = output.decode()
    assert chat.returncode == 0, text
    assert f"Talking to http://localhost:{bot.port}/api/messages" in text
    assert "gst-tr.radiologyreferrals@nhs.net" in text, text


async def test_attach_sends_a_local_file_as_teams_does_and_the_email_carries_it(
    aiohttp_server, make_settings, tmp_path
) -> None:
    """Forwarding a completed form with the chat client: /attach a PDF, KCH ultrasound, Send."""
    form = tmp_path / "Zebediahson 9990000018.pdf"
    form.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
    settings = make_settings(
        allowed_tenant_ids=frozenset(),
        mail_dir=tmp_path / "mail",
        outbox_poll_seconds=0.05,
        file_download_hosts=("127.0.0.1",),
    )
    files = LocalFiles()
    runner = await files.start()
    try:
        async with aiohttp.ClientSession() as http:
            bot = await aiohttp_server(create_app(settings))
            stub = ConnectorStub()
            connector = await aiohttp_server(stub.app())
            chat = ChatSession(
                str(bot.make_url("/api/messages")),
                str(connector.make_url("/")),
                stub,
                http,
                files=files,
            )
            [choose] = await chat.attach(form, "kings ultrasound")
            assert "Zebediahson 9990000018.pdf" in choose.card.text
            [review] = await chat.press(chat.button("Next"), chat.sample_inputs())
            assert "kch-tr.us.reception_dh@nhs.net" in review.card.text
            [confirmation] = await chat.press(chat.button("Send"))
            assert "Queued" in confirmation.card.text
            async with asyncio.timeout(10):
                while not list((tmp_path / "mail").glob("*.eml")):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    [eml] = list((tmp_path / "mail").glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=default)
    (attached,) = list(message.iter_attachments())
    assert attached.get_payload(decode=True) == form.read_bytes()
    assert "Zebediahson" not in eml.read_text(errors="replace")
