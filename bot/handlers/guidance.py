"""What happens after sending, walk-ins, rejections, results; help, courtesy, the welcome card.

"Results", "rejections", "next" and the walk-in rule each answer their own
question in the BCP's words, with buttons to the others: a stressed reader
asking "is it 72 hours?" sees that first, not buried in three sections.
"""

from __future__ import annotations

from typing import Literal

from bot.directory import Directory
from bot.nlu import Intent
from bot.router import FALLBACK_INTENT, Command, Handler, Router
from bot.turns import Outcome
from cards import CardRenderer

Topic = Literal["next", "walk_in", "rejections", "results"]
TOPICS: tuple[Topic, ...] = ("next", "walk_in", "rejections", "results")

THANKS = 'You\'re welcome. If ICE goes down again, type "ICE is down".'
# Never quotes the message: repeating patient details would post them again.
KEEP_PATIENT_DATA_PRIVATE = (
    "Please keep patient details (names, NHS numbers, dates of birth) out of this chat: "
    "Teams chats are not a clinical record. Use your personal chat with me for a request."
)


def register(router: Router) -> None:
    def info(topic: Topic) -> Handler:
        async def show(cards: CardRenderer, directory: Directory) -> Outcome:
            return Outcome.card(cards.render("info", directory=directory, topic=topic))

        return show

    router.intent(
        Intent.RESULTS,
        command=Command("results", "results", "How results reach you during downtime"),
    )(info("results"))
    # In a personal chat its place in Teams' ten quick commands went to `my requests`;
    # the results and next-steps cards link to it (docs/decisions.md D21).
    router.intent(
        Intent.REJECTIONS,
        command=Command(
            "rejections",
            "rejections",
            "What happens if radiology rejects a request",
            scopes=("team", "groupChat"),
        ),
    )(info("rejections"))
    router.intent(
        Intent.NEXT, command=Command("next", "next", "What happens after you email a request")
    )(info("next"))
    router.intent(Intent.WALK_IN)(info("walk_in"))

    @router.action("info.show", fields=("topic",))
    async def info_button(
        cards: CardRenderer, directory: Directory, topic: object = "results"
    ) -> Outcome:
        chosen = topic if topic in TOPICS else "results"
        return Outcome.card(cards.render("info", directory=directory, topic=chosen))

    def commands_now() -> tuple[Command, ...]:
        return tuple(router.commands())

    @router.intent(Intent.HELP, command=Command("help", "help", "What I can do"))
    async def help_card(cards: CardRenderer) -> Outcome:
        commands = commands_now()
        return Outcome.card(cards.render("help", commands=commands, not_understood=False))

    @router.intent(FALLBACK_INTENT)
    async def not_understood(cards: CardRenderer) -> Outcome:
        """Never a dead end, and never echo the text: it may hold patient details."""
        commands = commands_now()
        return Outcome.card(cards.render("help", commands=commands, not_understood=True))

    @router.intent(Intent.THANKS)
    async def thanks() -> Outcome:
        return Outcome.message(THANKS)

    @router.intent(Intent.PATIENT_DATA)
    async def keep_patient_data_private() -> Outcome:
        return Outcome.message(KEEP_PATIENT_DATA_PRIVATE)

    @router.intent(Intent.WELCOME)
    async def welcome(cards: CardRenderer, directory: Directory) -> Outcome:
        return Outcome.card(cards.render("welcome", directory=directory))

    router.action("help.show")(help_card)
