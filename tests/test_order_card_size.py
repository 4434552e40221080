"""Any request the form accepts reviews and sends, whatever alphabet it is written in.

See docs/clinical-safety.md, H14.

The repro: a clinical history of 1,000 x "漢" (inside the 1,000-character
limit) made Review fail with CardTooLarge and the user saw "Sorry, something
went wrong". Teams measures a card as JSON on the wire, where "漢" is six bytes
and an emoji twelve, and the review card carries every value four times.

What holds now, driven over HTTP through the real app, worker and SMTP server
with every free-text field at its character limit in hostile alphabets: Review
answers with a review card, shortened if the full one would not fit, or with
the form and a message next to each field that is too long for a card (its
text cut to what fits, on the step that has the first of them, the others carried
in its buttons' data). Pressing Review again with what that card holds gives a
review card; Send queues it; the email carries every field in full.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.orders.fields import FIELDS
from cards.render import MAX_CARD_BYTES
from tests.support.cards import assert_valid_card, card_size, card_text, input_values
from tests.support.orders import PATIENT
from tests.support.smtp import SmtpTestServer, smtp_settings
from tests.support.teams import BotHarness, Turn, find_action
from tests.support.waiting import until

#: Every free-text input at its character limit (the card's maxLength), and whether it
#: may hold line breaks, from the declarations. Coded fields (NHS number, postcode, ...)
#: are checked elsewhere.
FREE_TEXT: dict[str, tuple[int, bool]] = {
    spec.id: (spec.max_length, spec.kind == "multiline")
    for spec in FIELDS
    if spec.kind in ("text", "multiline") and spec.pattern is None and spec.id != "mri_details"
}
ALPHABETS = {
    "cjk": "漢字仮名交じり文한국어中文",
    "emoji": "😀🩻🏥🚑💊🧪❤️👩🏽‍⚕️",
    "backslash": "\\",
    "markdown": "*_`~[]()#>|-+.!\\<at>",
    "rtl": "שלום עולם مرحبا بالعالم\u200f\u202e\u202c",
    "latin": "Zoë Łukasz naïve café – “quoted” ’ °±µ",
    "json": "\"'{}[]<>&%$",
    "plain": "Right upper quadrant pain, 3 weeks",
}
# GSTT CT asks every conditional question, so every free-text field is on the form.
ROUTE = {"trust": "gstt", "modality": "ct"}
CONDITIONAL = {
    "region": "yes",
    "pregnancy_status": "not_pregnant",
    "lmp_date": "2026-11-10",
    "patient_dob": "1980-05-04",
    "interpreter_needed": "yes",
    "interpreter_language": "Polish",
    "contrast_allergies": "None known",
}
TOO_LONG = "Too long to fit on a Teams card"
EXAMPLES = settings(
    max_examples=int(os.environ.get("CARD_SIZE_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
    # Examples are whole requests over HTTP and SMTP: shrinking one takes many minutes,
    # and the failing example (printed in full) already names the alphabet at fault.
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture
async def examples_bot(make_bot, smtp: SmtpTestServer) -> AsyncIterator[BotHarness]:
    """conftest's `mail_bot`, with no limit on how many requests one user sends (examples
    add up)."""
    unlimited = {"max_messages_per_minute": 10**6, "max_requests_per_hour": 10**6}
    bot = await make_bot(**smtp_settings(smtp, smtp_timeout_seconds=5, **unlimited))
    yield bot
    # Every example's request was emailed before the next began; the server holds them all.
    assert smtp.received


@st.composite
def field_text(draw: st.DrawFn, limit: int, multiline: bool) -> str:
    """`limit` characters from one hostile alphabet, with text (not space) at both ends."""
    name = draw(st.sampled_from(sorted(ALPHABETS)), label="alphabet")
    chars = ALPHABETS[name] + ("\n" if multiline else "")
    text = draw(st.text(alphabet=st.sampled_from(chars), min_size=limit, max_size=limit))
    ends = next(c for c in ALPHABETS[name] if not c.isspace())
    return ends + text[1:-1] + ends


def review_data(form_id: str, owner: str, values: dict[str, str]) -> dict[str, Any]:
    base = {"form_id": form_id, "owner": owner, "trust": "gstt", "department": "radiology"}
    return {**base, "modality": "ct", **PATIENT, **CONDITIONAL, **values}


def checked_card(turn: Turn) -> dict[str, Any]:
    assert turn.status == 200, turn
    card = turn.only_card
    assert_valid_card(card)
    assert card_size(card) <= MAX_CARD_BYTES
    return card


@EXAMPLES
@given(values=st.fixed_dictionaries({k: field_text(*spec) for k, spec in FREE_TEXT.items()}))
async def test_every_field_at_its_limit_in_any_alphabet_reviews_and_sends(
    examples_bot: BotHarness, smtp: SmtpTestServer, values: dict[str, str]
) -> None:
    owner, form_id = "29:1" + "a" * 80, uuid.uuid4().hex  # as long as Teams' user ids run
    data = review_data(form_id, owner, values)
    card = checked_card(await examples_bot.execute("order.review", data, user_id=owner))
    if not _is_review(card):
        # Refused at the field: each message says so, next to a free-text field, and the
        # step gives back what fits. That is what the user submits again.
        lines = card_text(card).splitlines()
        errors = [line for line in lines if "Too long" in line]
        assert errors and all(e.startswith(TOO_LONG) for e in errors), card_text(card)
        shown = held(card)
        values = {key: shown[key] for key in values}
        data = review_data(form_id, owner, values)
        card = checked_card(await examples_bot.execute("order.review", data, user_id=owner))
        assert _is_review(card), card_text(card)

    send = find_action(card, "order.send")["data"]
    assert {key: send[key] for key in values} == {k: v.strip() for k, v in values.items()}
    before = len(smtp.received)
    queued = checked_card(await examples_bot.execute("order.send", send, user_id=owner))
    assert "Queued" in card_text(queued) and "DT-" in card_text(queued)
    await until(lambda: len(smtp.received) > before, seconds=30)
    body = smtp.received[-1].message.get_body(preferencelist=("plain",)).get_content()
    for key, value in values.items():
        for line in value.splitlines():
            assert line.strip() in body, (key, line)


def held(card: dict[str, Any]) -> dict[str, Any]:
    """Every value a step card holds: its inputs' and those its Next button carries."""
    return {**find_action(card, "order.next")["data"], **input_values(card)}


def _is_review(card: dict[str, Any]) -> bool:
    try:
        find_action(card, "order.send")
    except AssertionError:
        return False
    return True


async def test_the_issues_repro_reviews_and_sends(
    examples_bot: BotHarness, smtp: SmtpTestServer
) -> None:
    """1,000 x 漢 and 500 x 漢, and every field full of backslashes: no "Sorry"."""
    for values in (
        {
            "clinical_history": "漢" * FREE_TEXT["clinical_history"][0],
            "clinical_question": "漢" * FREE_TEXT["clinical_question"][0],
        },
        {k: "\\" * limit for k, (limit, _) in FREE_TEXT.items()},
    ):
        owner = "29:user-1"
        data = review_data(uuid.uuid4().hex, owner, values)
        turn = await examples_bot.execute("order.review", data, user_id=owner)
        card = checked_card(turn)
        assert "Sorry" not in card_text(card)
        if not _is_review(card):
            shown = held(card)
            card = checked_card(
                await examples_bot.execute(
                    "order.review",
                    review_data(data["form_id"], owner, {k: shown[k] for k in values}),
                    user_id=owner,
                )
            )
        assert _is_review(card), card_text(card)
        send = find_action(card, "order.send")["data"]
        queued = checked_card(await examples_bot.execute("order.send", send, user_id=owner))
        assert "Queued" in card_text(queued)
    await until(lambda: len(smtp.received) == 2, seconds=30)


@pytest.mark.parametrize("modality", ["ct", "mri"])
def test_every_step_card_fits_with_every_field_at_its_budget_and_in_error(modality: str) -> None:
    """The worst a step can be asked to carry: every free-text value as many escaped bytes as
    its budget allows (backslashes), every field in error with the longest message, on the
    route that asks the most. Each step card fits (in its compact form when in error, as
    the handler falls back to), and so does the choose card carrying it all."""
    from datetime import date

    from bot.directory import load_directory
    from bot.orders.errors import validate_submission
    from bot.orders.fields import FIELD_BY_ID, STEPS, TOO_LONG_FOR_A_CARD
    from bot.orders.form import choose_context, step_context
    from bot.orders.routing import resolve_route
    from cards.render import CardRenderer

    directory, today, renderer = load_directory(), date(2026, 11, 29), CardRenderer()
    route = resolve_route(directory, "gstt", modality)
    mri = {"mri_device": "yes", "mri_metal": "yes", "mri_implants": "yes", "mri_details": "x"}
    values = {**PATIENT, **CONDITIONAL, **mri, "examination": "X-ray knee", "laterality": "left"}
    values |= {
        spec.id: "\\" * spec.max_length for spec in FIELDS if spec.kind in ("text", "multiline")
    }
    values |= {"practice_email": "p" * 89 + "@nhs.net", "nhs_number": "9" * 20}
    errors = {spec.id: TOO_LONG_FOR_A_CARD for spec in FIELDS if spec.step}
    assert not isinstance(
        validate_submission(
            {**values, "trust": "gstt", "modality": modality}, directory=directory, today=today
        ),
        dict,
    )
    owner, form_id = "29:1" + "a" * 80, "f" * 22
    for step in STEPS:
        for change in (False, True):
            # In error, the compact card; without errors (a valid step), the full one.
            for shown in ({"errors": errors, "compact": True}, {}):
                context = step_context(
                    step.id,
                    form_id=form_id,
                    owner=owner,
                    route=route,
                    today=today,
                    values=values,
                    change=change,
                    **shown,
                )
                card = renderer.render("order_step", context)  # CardTooLarge would fail here
                assert_valid_card(card)
    context = choose_context(form_id=form_id, owner=owner, directory=directory, prefill=values)
    assert_valid_card(renderer.render("order_choose", context))
    assert FIELD_BY_ID["clinical_history"].budget == 1300
