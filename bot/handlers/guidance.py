"""What happens after sending, rejections, results, help, and the welcome card."""

from __future__ import annotations

from typing import Literal

from bot.directory import Directory
from bot.handlers.common import replace_card
from bot.router import FALLBACK_INTENT, Command, Router
from bot.turns import Outcome
from cards import CardRenderer

Topic = Literal["next", "rejections", "results"]
TOPICS: tuple[Topic, ...] = ("next", "rejections", "results")


def register(router: Router) -> None:
    def info(topic: Topic):
        async def show(cards: CardRenderer, directory: Directory) -> Outcome:
            return Outcome.card(cards.render("info", directory=directory, topic=topic))

        return show

    router.intent(
        "results", command=Command("results", "results", "How results reach you during downtime")
    )(info("results"))
    router.intent(
        "rejections",
        command=Command("rejections", "rejections", "What happens if radiology rejects a request"),
    )(info("rejections"))
    router.intent(
        "next", command=Command("next", "next", "What happens after you email a request")
    )(info("next"))

    @router.action("info.show")
    async def info_action(
        cards: CardRenderer, directory: Directory, topic: object = "results"
    ) -> Outcome:
        chosen = topic if topic in TOPICS else "results"
        return Outcome(update=cards.render("info", directory=directory, topic=chosen))

    def commands_now() -> tuple[Command, ...]:
        return tuple(router.commands())

    @router.intent("help", command=Command("help", "help", "What I can do"))
    async def help_card(cards: CardRenderer) -> Outcome:
        commands = commands_now()
        return Outcome.card(cards.render("help", commands=commands, not_understood=False))

    @router.intent(FALLBACK_INTENT)
    async def not_understood(cards: CardRenderer) -> Outcome:
        """Never a dead end, and never echo the text: it may hold patient details."""
        commands = commands_now()
        return Outcome.card(cards.render("help", commands=commands, not_understood=True))

    @router.intent("welcome")
    async def welcome(cards: CardRenderer, directory: Directory) -> Outcome:
        return Outcome.card(cards.render("welcome", directory=directory))

    router.action("help.show")(replace_card(help_card))
