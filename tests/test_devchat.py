"""The terminal chat client plays Teams against the real running app."""

from __future__ import annotations

import aiohttp

from bot.application import create_app
from bot.devchat.connector import ConnectorStub
from bot.devchat.render import render_card
from bot.devchat.session import ChatSession


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
        [triage] = await chat.say("ICE is down")
        titles = [b["title"] for b in triage.card.buttons]
        down = next(i for i, t in enumerate(titles, 1) if "everyone" in t.lower())
        [steps] = await chat.press(down)
        assert "kch-tr.us.reception_dh@nhs.net" in steps.card.text

        await chat.say("ICE is down")
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
