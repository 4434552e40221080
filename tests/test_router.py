"""The registry: names checked at start-up, intents as an enum, every card verb registered."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.handlers import build_router
from bot.nlu import Intent
from bot.orders import form
from bot.router import RegistrationError, Router, SearchCommand
from bot.services import SERVICE_NAMES
from bot.turns import Outcome
from cards import CardRenderer
from cards.render import TEMPLATE_DIR
from tests.support.card_variants import VARIANTS
from tests.support.cards import iter_actions

TEMPLATE_VERB = re.compile(
    r'(?:execute|open_dialog)\(\s*(?:"[^"]*"|\([^)]*\)|[^,]+),\s*"([a-z_.]+)"'
)


async def _outcome() -> Outcome:
    return Outcome()


# --- names checked when a handler is registered --------------------------------------------


def test_a_misspelt_parameter_is_an_error_at_registration() -> None:
    router = Router()

    async def helpdesk(cards: CardRenderer, boruogh: str | None = None) -> Outcome:
        return Outcome()

    with pytest.raises(RegistrationError, match="boruogh"):
        router.intent(Intent.HELPDESK)(helpdesk)


def test_a_card_field_must_be_declared_by_the_verb() -> None:
    router = Router()

    async def show(topic: object = "results") -> Outcome:
        return Outcome()

    with pytest.raises(RegistrationError, match="topic"):
        router.action("info.show")(show)
    router.action("info.show", fields=("topic",))(show)
    assert router.fields_of("info.show") == {"topic"}


def test_intent_handlers_get_slots_and_services_not_card_data() -> None:
    router = Router()

    async def mailbox(directory: Any, trust: str | None = None, site: str | None = None) -> Any:
        return None

    router.intent(Intent.MAILBOX)(mailbox)

    async def reads_form(data: Any) -> Any:
        return None

    with pytest.raises(RegistrationError, match="data"):
        router.intent(Intent.ORDER)(reads_form)


def test_catch_all_parameters_are_refused() -> None:
    async def anything(**kwargs: Any) -> Outcome:
        return Outcome()

    with pytest.raises(RegistrationError, match="named parameters only"):
        Router().intent(Intent.HELP)(anything)


def test_intents_are_the_enum_not_strings() -> None:
    with pytest.raises(RegistrationError, match=r"not a bot\.nlu\.Intent"):
        Router().intent("help")(_outcome)  # type: ignore[arg-type]


def test_registering_twice_is_an_error() -> None:
    router = Router()
    router.intent(Intent.HELP)(_outcome)
    with pytest.raises(RegistrationError, match="twice"):
        router.intent(Intent.HELP)(_outcome)
    router.action("x.y")(_outcome)
    with pytest.raises(RegistrationError, match="twice"):
        router.action("x.y")(_outcome)


def test_a_search_handler_may_ask_for_the_query_and_services_only() -> None:
    command = SearchCommand("find", "Find", "Find", "query", "Query", "What")

    async def find(query: str, directory: Any, user: Any) -> Any:
        return None

    with pytest.raises(RegistrationError, match="user"):
        Router().search(command)(find)


def test_an_intent_without_a_handler_stops_start_up() -> None:
    router = Router()
    router.intent(Intent.HELP)(_outcome)
    with pytest.raises(RegistrationError, match="no handler for intents"):
        router.check_complete()


def test_the_bots_router_handles_every_intent_and_knows_its_services() -> None:
    router = build_router()  # runs check_complete()
    assert router.intents == set(Intent)
    assert router.services == SERVICE_NAMES


# --- every verb a card uses is registered, with the fields it sends -----------------------


def test_every_verb_written_in_a_template_is_registered() -> None:
    router = build_router()
    written = set()
    for path in sorted(Path(TEMPLATE_DIR).glob("*.json.j2")):
        written |= set(TEMPLATE_VERB.findall(path.read_text(encoding="utf-8")))
    assert written, "the pattern found no verbs: it no longer matches the templates"
    # The request form's templates take their verbs from bot/orders/form.py.
    written |= {getattr(form, name) for name in dir(form) if name.startswith("VERB_")}
    assert written - router.verbs == set()


@pytest.mark.parametrize(
    ("name", "context"), [(v[1], v[2]) for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
def test_every_button_on_every_card_reaches_a_handler_that_reads_its_data(
    name: str, context: Any
) -> None:
    router = build_router()
    card = CardRenderer().render(name, context())
    for action in iter_actions(card):
        if action["type"] == "Action.Submit" and "verb" in action.get("data", {}):
            action = {**action, "verb": action["data"]["verb"]}  # opens a dialog
        elif action["type"] != "Action.Execute":
            continue
        verb = action["verb"]
        assert verb in router.verbs, f"{name}: {verb!r} has no handler"
        sent = set(action["data"]) - {"verb", "msteams"}  # msteams: Teams' own, dropped
        if not router.reads_data(verb):
            assert sent <= router.fields_of(verb), f"{name}: {verb} drops {sent}"
