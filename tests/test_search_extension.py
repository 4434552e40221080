"""The search message extension over HTTP through the real CloudAdapter.

Teams sends `composeExtension/query` invokes as the user types in the compose
box; the bot must answer 200 with a `composeExtension` body serialised once
(botbuilder 4.17.1's own path serialises invoke bodies twice and fails).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botbuilder.schema import Activity

from bot.directory import load_directory
from bot.handlers.search import LOOKUP, NOTHING_FOUND
from bot.teams.extension import search_request
from tests.support.cards import assert_valid_card, buttons, card_size, card_text
from tests.support.teams import BotHarness, Turn, activity

DIRECTORY = load_directory()
KCH_US = "kch-tr.us.reception_dh@nhs.net"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
THUMBNAIL = "application/vnd.microsoft.card.thumbnail"


async def query(bot: BotHarness, text: str | None, **kwargs: Any) -> Turn:
    """Type `text` in the extension's search box (None: the extension has just opened)."""
    parameter = (
        {"name": "initialRun", "value": "true"}
        if text is None
        else {"name": LOOKUP.parameter, "value": text}
    )
    value = {
        "commandId": LOOKUP.id,
        "parameters": [parameter],
        "queryOptions": {"skip": 0, "count": 25},
    }
    return await bot.post(
        activity(
            bot.service_url, type="invoke", name="composeExtension/query", value=value, **kwargs
        )
    )


def results(turn: Turn) -> list[dict[str, Any]]:
    assert turn.status == 200, turn
    extension = turn.body["composeExtension"]
    assert extension["type"] == "result" and extension["attachmentLayout"] == "list"
    for attachment in extension["attachments"]:
        assert attachment["contentType"] == ADAPTIVE
        assert_valid_card(attachment["content"])
        assert card_size(attachment["content"]) < 28 * 1024
        assert not buttons(attachment["content"]), "inserted cards carry no bot buttons"
        preview = attachment["preview"]
        assert preview["contentType"] == THUMBNAIL
        assert preview["content"]["title"] and preview["content"]["text"]
    assert turn.sent == [], "a search posts nothing in any chat"
    return extension["attachments"]


def message(turn: Turn) -> str:
    assert turn.status == 200
    assert turn.body["composeExtension"]["type"] == "message"
    return turn.body["composeExtension"]["text"]


async def test_kings_us_finds_the_kch_ultrasound_mailbox(bot: BotHarness) -> None:
    [found] = results(await query(bot, "kings us"))
    assert found["preview"]["content"]["text"] == KCH_US
    text = card_text(found["content"])
    assert KCH_US in text and DIRECTORY.procedure.email_step in text
    assert "For Kings: Ultrasound" in text


async def test_bromley_helpdesk_finds_the_bhc_desk_only(bot: BotHarness) -> None:
    [found] = results(await query(bot, "bromley helpdesk"))
    text = card_text(found["content"])
    assert "0208 315 8702" in text and "BHC.ITHelpdesk@nhs.net" in text
    assert "020 8176 5400" not in text
    portal, call, email = found["content"]["actions"]
    assert portal["type"] == "Action.OpenUrl" and portal["url"] == "https://haloservicedesk.com"
    assert call["url"] == "tel:02083158702" and "to=BHC.ITHelpdesk@nhs.net" in email["url"]


async def test_results_finds_the_two_results_mailboxes_and_no_referral_one(
    bot: BotHarness,
) -> None:
    found = results(await query(bot, "results"))
    assert [f["preview"]["content"]["text"] for f in found] == [
        str(r.mailbox) for r in DIRECTORY.results
    ]
    for f in found:
        assert "You should not reply to this mailbox." in card_text(f["content"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kings", ["kch-tr.xr_reception_dh@nhs.net", KCH_US, "kch-tr.fl_reception_dh@nhs.net"]),
        ("brom", ["0208 315 8702 · BHC.ITHelpdesk@nhs.net"]),
        ("pruh xray", ["kch-tr.xr_reception_dh@nhs.net"]),
        ("guys ct", ["gst-tr.radiologyreferrals@nhs.net"]),
        ("lambeth", ["020 8176 5400 · ICT@selondonics.nhs.uk"]),
        ("alerted", ["gst-tr.radiologysecretaries@nhs.net"]),
    ],
)
async def test_what_staff_type_finds_what_they_mean(
    bot: BotHarness, text: str, expected: list[str]
) -> None:
    found = results(await query(bot, text))
    assert [f["preview"]["content"]["text"] for f in found] == expected


@pytest.mark.parametrize("opened", [None, "", "   "])
async def test_an_empty_query_lists_every_entry_in_the_bcps_order(
    bot: BotHarness, opened: str | None
) -> None:
    found = results(await query(bot, opened))
    shown = [f["preview"]["content"]["text"] for f in found]
    referral = [str(d.mailbox) for t in DIRECTORY.trusts for d in t.departments]
    desks = [f"{d.phone} · {d.email}" for d in DIRECTORY.service_desks]
    assert shown == referral + desks + [str(r.mailbox) for r in DIRECTORY.results]


async def test_a_kch_modality_the_bcp_does_not_list_is_said_not_guessed(bot: BotHarness) -> None:
    said = message(await query(bot, "kings ct"))
    assert said == (
        "The BCP lists X-ray, Ultrasound and Fluoroscopy for Kings; "
        "it gives no downtime route for CT."
    )


async def test_a_borough_outside_the_six_is_said_plainly(bot: BotHarness) -> None:
    said = message(await query(bot, "croydon helpdesk"))
    assert "covers Bexley, Bromley, Greenwich, Lambeth, Lewisham and Southwark only" in said


async def test_nothing_found_says_what_to_try(bot: BotHarness) -> None:
    assert message(await query(bot, "zzqx")) == NOTHING_FOUND


async def test_a_query_is_never_logged_and_patient_data_finds_nothing(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    turn = await query(bot, "Jane Doe 9434765919")
    assert message(turn) == NOTHING_FOUND
    assert "9434765919" not in caplog.text and "Jane" not in caplog.text
    assert "9434765919" not in str(turn.body)


async def test_a_search_without_a_command_is_a_400(bot: BotHarness) -> None:
    body = activity(bot.service_url, type="invoke", name="composeExtension/query", value={"x": 1})
    turn = await bot.post(body)
    assert turn.status == 400 and turn.sent == []


async def test_an_unknown_command_is_answered_not_failed(bot: BotHarness) -> None:
    value = {"commandId": "gone", "parameters": [{"name": "query", "value": "kings"}]}
    turn = await bot.post(
        activity(bot.service_url, type="invoke", name="composeExtension/query", value=value)
    )
    assert "no longer available" in message(turn)


async def test_another_tenant_gets_the_refusal_in_the_search_pane(bot: BotHarness) -> None:
    said = message(await query(bot, "kings us", tenant="tenant-elsewhere"))
    assert "not enabled" in said


async def test_typing_a_long_query_is_not_a_flood(make_bot) -> None:
    """Teams sends a query per keystroke: the per-user message limit must not stop a search."""
    bot = await make_bot(max_messages_per_minute=5)
    typed = "bromley helpdesk"
    for end in range(1, len(typed) + 1):
        turn = await query(bot, typed[:end])
        assert "faster than I can answer" not in str(turn.body)
    [found] = results(turn)
    assert "0208 315 8702" in card_text(found["content"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"commandId": "lookup"}, ("lookup", "")),
        ({"commandId": "lookup", "parameters": []}, ("lookup", "")),
        ({"commandId": "lookup", "parameters": [{"name": "query", "value": 7}]}, ("lookup", "")),
        (
            {"commandId": "lookup", "parameters": [{"name": "query", "value": "x" * 500}]},
            ("lookup", "x" * 200),
        ),
        ({"commandId": "lookup", "parameters": "kings"}, None),
        ({"commandId": "lookup", "parameters": ["kings"]}, None),
        ({"commandId": 3}, None),
        ("kings", None),
    ],
)
def test_odd_search_invokes_are_read_safely(value: Any, expected: Any) -> None:
    assert search_request(Activity(type="invoke", name="composeExtension/query", value=value)) == (
        expected
    )
