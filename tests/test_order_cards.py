"""The request cards: schema-valid 1.5, small enough, and honest about what they hold.

Rendered through the real CardRenderer and templates with realistic contexts
from bot/orders/form.py, then checked the way Teams and the handler will use
them: inputs and their ids, errors directly under their inputs, the data each
button sends back, and no patient data where notifications can show it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.directory import load_directory
from bot.orders.errors import validate_submission
from bot.orders.fields import FIELD_BY_ID, STEPS
from bot.orders.form import (
    FORM_TITLE,
    REVIEW_TITLE,
    choose_context,
    confirmation_context,
    confirmation_for,
    new_form_id,
    prefill_from_profile,
    review_context,
    step_context,
)
from bot.orders.model import RadiologyRequest
from bot.orders.routing import resolve_route
from bot.orders.validation import CLIENT_RULES
from cards.render import CardRenderer, compose_url
from tests.support.cards import (
    Card,
    assert_valid_card,
    buttons,
    card_size,
    card_text,
    card_validator,
    iter_actions,
)
from tests.support.payloads import GSTT_CT, INPUT_IDS, KCH_FLUORO, KCH_XRAY, valid_payload

DIRECTORY = load_directory()
TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)
RENDERER = CardRenderer()
FORM_ID = "f-0123456789"
OWNER = "29:1a2b3c-user"
PATIENT_VALUES = ("Testpatient", "Alex", "999 000 0018", "9990000018", "SE1 7EH", "1 Test Street")


def render(name: str, context: dict[str, Any]) -> Card:
    card = RENDERER.render(name, context)
    json.loads(json.dumps(card))  # plain JSON all the way down
    return card


def request_of(**changes: Any) -> RadiologyRequest:
    result = validate_submission(valid_payload(**changes), directory=DIRECTORY, today=TODAY)
    assert isinstance(result, RadiologyRequest), result
    return result


def full_request() -> RadiologyRequest:
    return request_of(
        **KCH_FLUORO,
        region="yes",
        pregnancy_status="not_pregnant",
        lmp_date="2026-11-10",
        contrast_allergies="Iodinated contrast: urticaria",
    )


def elements(node: Any) -> Iterator[list[Any]]:
    """Every list of card elements (body, Container items), so neighbours can be compared."""
    if isinstance(node, dict):
        for value in node.values():
            yield from elements(value)
    elif isinstance(node, list):
        yield node
        for item in node:
            yield from elements(item)


def inputs(card: Card) -> dict[str, dict[str, Any]]:
    return {
        item["id"]: item
        for items in elements(card)
        for item in items
        if isinstance(item, dict) and str(item.get("type", "")).startswith("Input.")
    }


def notification_text(card: Card) -> str:
    """What Teams may show outside the chat: the card's fallbackText, speak and first line."""
    first = next(iter(card["body"]), {})
    return " ".join([card["fallbackText"], card["speak"], str(first.get("text", ""))])


def step_card(step: str = "exam", route_ids: dict[str, str] | None = None, **kwargs: Any) -> Card:
    ids = route_ids or {"trust": "kch", "modality": "ultrasound"}
    route = resolve_route(DIRECTORY, ids["trust"], ids["modality"])
    context = step_context(step, form_id=FORM_ID, owner=OWNER, route=route, today=TODAY, **kwargs)
    return render("order_step", context)


def all_inputs(route_ids: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """The inputs of the three steps together (`change`: step 3's inputs even if remembered)."""
    found: dict[str, Any] = {}
    for step in STEPS:
        found |= inputs(step_card(step.id, route_ids, change=True, **kwargs))
    return found


def error_under(card: Card, input_id: str) -> dict[str, Any] | None:
    """The red-marked block under an input (after its hint, if it has one), or None."""
    for items in elements(card):
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get("id") == input_id:
                following = items[index + 1 : index + 3]
                return next(
                    (e for e in following if isinstance(e, dict) and e.get("style") == "attention"),
                    None,
                )
    raise AssertionError(f"no input {input_id!r} on the card")


# --- Choose -----------------------------------------------------------------------------


def test_choose_card_offers_trusts_and_modalities_and_carries_ownership() -> None:
    card = render("order_choose", choose_context(form_id=FORM_ID, owner=OWNER, directory=DIRECTORY))
    assert_valid_card(card)
    found = inputs(card)
    assert [c["value"] for c in found["trust"]["choices"]] == ["gstt", "kch"]
    assert {"xray", "ultrasound", "fluoroscopy", "ct", "mri"} <= {
        c["value"] for c in found["modality"]["choices"]
    }
    assert found["trust"]["isRequired"] and found["modality"]["isRequired"]
    assert buttons(card) == [("Next", "order.choose", {"form_id": FORM_ID, "owner": OWNER})]
    assert "The BCP lists X-ray, Ultrasound and Fluoroscopy for Kings." in card_text(card)


def test_choose_card_shows_the_kch_ct_refusal_under_modality_and_keeps_the_choice() -> None:
    errors = {"modality": "The BCP gives no downtime route for CT"}
    context = choose_context(
        form_id=FORM_ID,
        owner=OWNER,
        directory=DIRECTORY,
        prefill={"trust": "kch", "modality": "ct"},
        errors=errors,
    )
    card = render("order_choose", context)
    assert_valid_card(card)
    under = error_under(card, "modality")
    assert under is not None
    assert card_text({"body": [under]}).strip() == "The BCP gives no downtime route for CT"
    assert (inputs(card)["trust"]["value"], inputs(card)["modality"]["value"]) == ("kch", "ct")


def test_form_ids_are_random_and_unguessable() -> None:
    ids = {new_form_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) >= 20 for i in ids)


# --- The three steps -------------------------------------------------------------------


def test_empty_step_one_is_valid_and_carries_route_and_ownership() -> None:
    card = step_card()
    assert_valid_card(card)
    route = {"trust": "kch", "department": "ultrasound", "modality": "ultrasound"}
    base = {"form_id": FORM_ID, "owner": OWNER, **route}
    assert buttons(card) == [
        ("Change", "order.change", base),
        ("Next", "order.next", {**base, "step": "exam"}),
    ]
    text = card_text(card)
    assert "Step 1 of 3: Examination and clinical details" in text
    assert "kch-tr.us.reception_dh@nhs.net" in text


def test_each_step_carries_the_values_of_the_others_and_not_its_own() -> None:
    values = valid_payload()
    card = step_card("patient", values=values)
    (next_title, next_verb, data), (back_title, back_verb, back) = buttons(card)
    assert (next_title, next_verb, back_title, back_verb) == (
        "Next",
        "order.next",
        "Back",
        "order.step",
    )
    on_card = set(inputs(card))
    assert "nhs_number" in on_card and not on_card & set(data)
    assert data["examination"] == values["examination"]
    assert data["practice_ods"] == values["practice_ods"]
    # Back goes to step 1 without checking this step, keeping what it showed.
    assert back["step"] == "exam" and back["nhs_number"] == values["nhs_number"]
    back_action = next(a for a in iter_actions(card) if a["title"] == "Back")
    assert back_action["associatedInputs"] == "none"


def test_every_declared_input_is_on_a_step_under_its_own_id() -> None:
    """Submit merges inputs by id, so a missing or renamed id would lose a field."""
    asked = {"region": "yes", "examination": "X-ray knee"}
    ids = set(all_inputs(GSTT_CT, values=asked)) | set(
        all_inputs({"trust": "gstt", "modality": "mri"})
    )
    carried = {"trust", "department", "modality"}
    assert ids == set(INPUT_IDS) - carried


def test_client_checks_use_the_server_patterns_and_limits() -> None:
    found = all_inputs()
    for input_id, rule in [
        ("nhs_number", "nhs_number"),
        ("postcode", "postcode"),
        ("patient_phone", "phone"),
        ("practice_phone", "phone"),
        ("practice_ods", "ods_code"),
        ("practice_email", "nhs_mail"),
        ("referrer_registration", "registration"),
    ]:
        assert found[input_id]["regex"] == CLIENT_RULES[rule].regex, input_id
        assert found[input_id]["errorMessage"] == CLIENT_RULES[rule].error_message
    for input_id in ("clinical_history", "nhs_number", "practice_ods", "referrer_registration"):
        assert found[input_id]["maxLength"] == FIELD_BY_ID[input_id].max_length, input_id
    assert found["patient_dob"]["max"] == "2026-11-29"
    assert found["patient_dob"]["min"] == "1906-11-30"
    assert found["patient_surname"]["isRequired"] is True
    assert found["address_line2"]["isRequired"] is False


def test_safety_questions_only_where_they_apply() -> None:
    def asked(trust: str, modality: str, **values: str) -> set[str]:
        return set(all_inputs({"trust": trust, "modality": modality}, values=values))

    ultrasound = asked("kch", "ultrasound")
    xray = asked("kch", "xray")
    xray_pelvis = asked("kch", "xray", region="yes")
    fluoro = asked("kch", "fluoroscopy", region="yes")
    gstt_mri = asked("gstt", "mri")
    pregnancy = {"pregnancy_status", "lmp_date"}
    mri = {"mri_device", "mri_metal", "mri_implants", "mri_details"}
    assert not {"region", *pregnancy, "contrast_allergies", *mri} & ultrasound
    assert "region" in xray and not pregnancy & xray, "pregnancy only for the pelvic region"
    assert pregnancy <= xray_pelvis and "contrast_allergies" not in xray_pelvis
    assert pregnancy <= fluoro and "contrast_allergies" in fluoro
    assert not {"region", *pregnancy} & gstt_mri and "contrast_allergies" in gstt_mri
    assert mri <= gstt_mri and not mri & fluoro


def test_laterality_is_asked_only_for_a_paired_part_the_examination_gives_no_side_for() -> None:
    def on_step_one(examination: str) -> set[str]:
        return set(inputs(step_card(values={"examination": examination})))

    assert "laterality" not in on_step_one("Ultrasound abdomen")
    assert "laterality" in on_step_one("Ultrasound knee")
    assert "laterality" not in on_step_one("Ultrasound left knee"), "the side is in the text"
    assert "laterality" in on_step_one("Ultrasound left knee and right hip")


def test_the_examination_hint_matches_the_modality() -> None:
    for modality in ("xray", "ultrasound", "fluoroscopy"):
        route = resolve_route(DIRECTORY, "kch", modality)
        text = card_text(step_card("exam", {"trust": "kch", "modality": modality}))
        assert f"For example: {route.modality.example}." in text, modality


def test_server_errors_appear_directly_under_their_inputs_and_in_the_summary() -> None:
    payload = valid_payload(**KCH_FLUORO, nhs_number="9434765828", postcode="nowhere", region="yes")
    errors = validate_submission(payload, directory=DIRECTORY, today=TODAY)
    assert not isinstance(errors, RadiologyRequest)
    assert set(errors) == {
        "nhs_number",
        "postcode",
        "pregnancy_status",
        "lmp_date",
        "contrast_allergies",
    }
    card = step_card("patient", {"trust": "kch", "modality": "fluoroscopy"}, values=payload,
                     errors=errors)  # fmt: skip
    assert_valid_card(card)
    for input_id in ("nhs_number", "postcode", "pregnancy_status", "lmp_date"):
        under = error_under(card, input_id)
        assert under is not None, input_id
        assert card_text({"body": [under]}).strip() == errors[input_id]
    text = card_text(card)
    assert "Please correct 5 fields:" in text
    assert "• NHS number: check digit is wrong" in text
    # An error on another step is named with its step.
    assert "• Allergies (contrast): fluoroscopy may use contrast" in text
    assert "(step 1)" in text
    assert error_under(card, "patient_surname") is None, "no error where none was found"


def test_errors_for_inputs_not_on_the_form_are_shown_at_the_top() -> None:
    card = step_card(errors={"form": "The form could not be read: please start again"})
    assert "The form could not be read: please start again" in card_text(card)


def test_prefilled_values_appear_in_their_inputs() -> None:
    prefill = valid_payload(
        **KCH_FLUORO,
        examination="Barium swallow, left breast",
        region="yes",
        pregnancy_status="pregnant",
        lmp_date="2026-09-01",
        interpreter_needed="yes",
        interpreter_language="Polish",
        contrast_allergies="None known",
    )
    found = all_inputs({"trust": "kch", "modality": "fluoroscopy"}, values=prefill)
    for input_id in (
        "patient_surname",
        "nhs_number",
        "postcode",
        "practice_email",
        "clinical_history",
        "patient_dob",
        "lmp_date",
        "contrast_allergies",
        "interpreter_language",
    ):
        assert found[input_id]["value"] == prefill[input_id], input_id
    for input_id in ("priority", "patient_sex", "region", "pregnancy_status"):
        assert found[input_id]["value"] == prefill[input_id], input_id
    assert found["interpreter_needed"]["value"] == "yes"


def test_remembered_practice_and_referrer_are_one_line_with_change() -> None:
    practice = {k: v for k, v in valid_payload().items() if k.startswith(("practice", "referrer"))}
    card = step_card("practice", values=practice)
    assert_valid_card(card)
    assert inputs(card) == {}
    text = card_text(card)
    assert "Dr Sam Test (GP, GMC 1234567), Test Medical Practice (G85001)" in text
    assert ("Change", "order.step") in [(t, v) for t, v, _ in buttons(card)]
    # What is remembered rides in the data, checked again at Send.
    (_, _, change), (_, _, review), _back = buttons(card)
    assert review["practice_ods"] == "g85001" and change["change"] == "yes"
    assert set(inputs(step_card("practice", values=practice, change=True))) >= set(practice)


def test_profile_prefill_keeps_only_known_text_fields() -> None:
    prefill = prefill_from_profile(
        {"practice_name": "Test Medical Practice", "practice_ods": "G85001", "junk": "x"},
        {"referrer_name": "Dr Sam Test", "referrer_registration": 1234567},
    )
    assert prefill == {
        "practice_name": "Test Medical Practice",
        "practice_ods": "G85001",
        "referrer_name": "Dr Sam Test",
    }
    found = inputs(step_card("practice", values=prefill))
    assert found["practice_ods"]["value"] == "G85001", "incomplete: asked, prefilled"
    assert "value" not in found["practice_email"]


def test_a_choice_value_not_on_the_list_is_not_prefilled() -> None:
    found = all_inputs(
        values={"examination": "X-ray knee", "laterality": "middle", "patient_sex": "x"}
    )
    assert "value" not in found["laterality"] and "value" not in found["patient_sex"]


def test_access_needs_fold_away_until_one_is_filled_in() -> None:
    folded = step_card("patient")
    container = next(i for items in elements(folded) for i in items if isinstance(i, dict)
                     and i.get("id") == "group-access-needs")  # fmt: skip
    assert container["isVisible"] is False
    assert "Access needs (optional)" in card_text(folded)
    opened = step_card("patient", values={"interpreter_needed": "yes"})
    assert "isVisible" not in json.dumps(opened)


# --- Review -----------------------------------------------------------------------------


def review_card(request: RadiologyRequest | None = None) -> Card:
    context = review_context(
        request or full_request(), form_id=FORM_ID, owner=OWNER, directory=DIRECTORY, now=NOW
    )
    return render("order_review", context)


def test_review_shows_the_request_and_the_exact_mailbox() -> None:
    card = review_card()
    assert_valid_card(card)
    text = card_text(card)
    assert "kch-tr.fl_reception_dh@nhs.net" in text
    assert "test.practice@nhs.net" in text
    for visible in (
        "Clinical history",
        "Right upper quadrant pain for 3 weeks, deranged LFTs.",
        "NHS number: 999 000 0018",
        "Postcode: SE1 7EH",
        "Pregnancy status: Not pregnant",
        "Allergies (contrast): Iodinated contrast: urticaria",
        "Professional registration: GMC 1234567",
    ):
        assert visible in text, visible


def test_review_buttons_send_and_back_carry_everything_needed() -> None:
    request = full_request()
    card = review_card(request)
    (send_title, send_verb, send_data), (edit_title, edit_verb, edit_data) = buttons(card)
    assert (send_title, send_verb, edit_title, edit_verb) == (
        "Send",
        "order.send",
        "Back",
        "order.step",
    )
    send = next(a for a in iter_actions(card) if a["title"] == "Send")
    assert send["style"] == "positive"
    for data in (send_data, edit_data):
        assert (data["form_id"], data["owner"], data["trust"], data["department"]) == (
            FORM_ID,
            OWNER,
            "kch",
            "fluoroscopy",
        )
    again = validate_submission(send_data, directory=DIRECTORY, today=TODAY)
    assert again == request, "the Send data must re-validate to the same request"


def test_user_text_cannot_break_the_json_or_the_markdown() -> None:
    nasty = 'He said "stop" }} {{ x }} {"a": 1} \\ [link](http://evil) **bold** _it_ # h'
    request = request_of(
        clinical_history=nasty + "\n- list item\n1. numbered",
        clinical_question="Why? " + nasty,
        patient_forenames='Anne "Marie" {x} *y*',
        mobility_needs="Line one\nLine two",
    )
    card = review_card(request)
    assert_valid_card(card)
    text = card_text(card)
    assert nasty in text
    assert 'Forename(s): Anne "Marie" {x} *y*' in text
    assert "- list item" in text and "Line two" in text
    shown = json.dumps(card["body"])  # action data holds the values as typed, by design
    assert "**bold**" not in shown and "](http://evil)" not in shown  # escaped for markdown


def test_review_of_a_maximal_request_stays_under_28_kb() -> None:
    """Send and Back each carry the values twice (Execute and its Submit fallback).

    The field limits in fields.py are set so this fits, in full, for text in the Latin
    alphabet; raising one must fail here. Other alphabets are tested in
    test_order_card_size.py (a shortened review there is fine).
    """

    def most(field: str, text: str) -> str:
        limit = FIELD_BY_ID[field].max_length
        return (text * limit)[:limit]

    request = request_of(
        **GSTT_CT,
        region="yes",
        pregnancy_status="not_pregnant",
        lmp_date="2026-11-10",
        examination=most("examination", "E"),
        clinical_history=most("clinical_history", "history e "),
        clinical_question=most("clinical_question", "question "),
        contrast_allergies=most("contrast_allergies", "a"),
        mobility_needs=most("mobility_needs", "m"),
        reasonable_adjustments=most("reasonable_adjustments", "r"),
        interpreter_needed="yes",
        interpreter_language="l" * 60,
        patient_surname="S" * 100,
        patient_forenames=("Zoë " * 14).strip(),  # 55 characters, near its budget in bytes
        address_line1="A" * 100,
        address_line2="B" * 100,
        address_town="T" * 60,
        referrer_name="R" * 100,
        referrer_role="r" * 60,
        practice_name="P" * 120,
    )
    card = review_card(request)
    assert_valid_card(card)
    assert card_size(card) < 28 * 1024


# --- Confirmation -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["queued", "sent", "failed"])
def test_confirmation_is_a_status_card_that_cannot_send_again(status: str) -> None:
    """A coloured bar, the reference once, two lines, "What happens next" as a button;
    nothing on it can send the request again, and no patient detail but a masked number."""
    sent_at = datetime(2026, 11, 29, 10, 32, tzinfo=UTC) if status == "sent" else None
    context = confirmation_for(
        full_request(),
        reference="DT-20261129-0007",
        status=status,
        directory=DIRECTORY,
        sent_at=sent_at,
    )
    card = render("order_confirmation", context)
    assert list(card_validator().iter_errors(card)) == []
    assert card_size(card) < 28 * 1024
    bar = card["body"][0]
    assert bar["type"] == "Container" and bar["bleed"] is True
    assert bar["style"] == {"queued": "accent", "sent": "good", "failed": "attention"}[status]
    verbs = [a.get("verb") for a in iter_actions(card) if a["type"] == "Action.Execute"]
    assert "order.send" not in verbs and "info.show" in verbs
    raw = json.dumps(card, ensure_ascii=False)
    for value in (*PATIENT_VALUES, "1980", "Iodinated", "Right upper quadrant"):
        assert value not in raw, value
    text = card_text(card)
    assert "NHS number *** *** 0018" in text
    assert text.count("DT-20261129-0007") == 1, "the reference once"
    assert "kch-tr.fl_reception_dh@nhs.net" in text and "\\_" not in raw
    assert notification_text(card).startswith(f"Request DT-20261129-0007 {status}")


def test_the_failed_card_is_never_a_dead_end() -> None:
    """The mailbox large, "Email it now" (the mailbox and the reference only) and
    "Show request text", which sends the by-hand text again."""
    context = confirmation_for(
        full_request(), reference="DT-20261129-0007", status="failed", directory=DIRECTORY
    )
    card = render("order_confirmation", context)
    [email] = [a for a in iter_actions(card) if a["type"] == "Action.OpenUrl"]
    assert email["title"] == "Email it now" and email["style"] == "positive"
    assert email["url"] == compose_url(
        "kch-tr.fl_reception_dh@nhs.net", "Radiology request DT-20261129-0007"
    )
    for value in (*PATIENT_VALUES, "0018", "Iodinated"):
        assert value not in email["url"], "no patient data in a link"
    show = [a for a in iter_actions(card) if a.get("verb") == "order.text"]
    assert [(a["title"], a["data"]["reference"]) for a in show] == [
        ("Show request text", "DT-20261129-0007")
    ]
    runs = [n for n in elements(card) for n in n if isinstance(n, dict)]
    large = [r for r in runs if r.get("type") == "RichTextBlock"]
    assert [r["inlines"][0] for r in large] == [
        {"type": "TextRun", "text": "kch-tr.fl_reception_dh@nhs.net", "size": "Large"}
    ]


def status_text(status: str, sent_at: datetime | None = None) -> str:
    """The text of a KCH ultrasound request's confirmation card (no NHS number given)."""
    context = confirmation_context(
        reference="DT-20261129-0007",
        trust="kch",
        department="ultrasound",
        status=status,
        directory=DIRECTORY,
        sent_at=sent_at,
    )
    return card_text(render("order_confirmation", context))


def test_confirmation_status_lines() -> None:
    assert status_text("queued").startswith("Queued")
    # 10:32 UTC on 29 November is 10:32 in London (GMT).
    assert status_text("sent", datetime(2026, 11, 29, 10, 32, tzinfo=UTC)).startswith(
        "✓ Sent at 10:32 on 29/11/2026"
    )
    failed = status_text("failed")
    assert failed.startswith("Not sent") and "Not delivered to" in failed
    assert "Emailed to" not in failed, "a failed request was not emailed"
    assert "NHS number" not in failed  # no number given, none shown


@pytest.mark.parametrize(
    ("status", "label"),
    [("queued", "Sending to"), ("sent", "Emailed to"), ("failed", "Not delivered to")],
)
def test_confirmation_says_emailed_only_when_it_was(status: str, label: str) -> None:
    """The "failed" card used to say "Emailed to" the mailbox it never reached."""
    text = status_text(status, datetime(2026, 11, 29, 10, 32, tzinfo=UTC))
    assert f"{label}\nkch-tr.us.reception_dh@nhs.net" in text
    assert ("Emailed to" in text) == (status == "sent")


# --- Notifications ----------------------------------------------------------------------


def test_no_patient_data_in_titles_fallback_text_or_speak() -> None:
    request = full_request()
    payload = valid_payload()
    cards = [
        render("order_choose", choose_context(form_id=FORM_ID, owner=OWNER, directory=DIRECTORY)),
        *(step_card(step.id, values=payload, change=True) for step in STEPS),
        review_card(request),
        render(
            "order_confirmation",
            confirmation_for(
                request, reference="DT-20261129-0007", status="queued", directory=DIRECTORY
            ),
        ),
    ]
    shown = [notification_text(card) for card in cards]
    for text in shown:
        for value in PATIENT_VALUES:
            assert value not in text, (value, text)
    assert [card["fallbackText"] for card in cards] == [
        FORM_TITLE,
        FORM_TITLE,
        FORM_TITLE,
        FORM_TITLE,
        REVIEW_TITLE,
        "Request DT-20261129-0007 queued",
    ]


# --- Anything at all --------------------------------------------------------------------

_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([GSTT_CT, KCH_FLUORO, KCH_XRAY, {"trust": "gstt", "modality": "mri"}]),
    st.dictionaries(
        st.sampled_from(INPUT_IDS), st.one_of(st.none(), st.integers(), _TEXT), max_size=12
    ),
    st.sampled_from([step.id for step in STEPS]),
)
def test_a_returned_step_always_renders_valid(
    route_ids: dict[str, str], changes: dict[str, Any], step: str
) -> None:
    """Whatever was submitted, the card that returns it with errors is valid JSON and schema."""
    payload = {**valid_payload(**route_ids), **changes}
    result = validate_submission(payload, directory=DIRECTORY, today=TODAY)
    errors = {} if isinstance(result, RadiologyRequest) else dict(result)
    card = step_card(step, route_ids, values=payload, errors=errors)
    assert list(card_validator().iter_errors(card)) == []
    card_size(card)  # encodable as UTF-8
