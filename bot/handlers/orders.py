"""The downtime radiology request, started from chat or from a card.

Until the request form lands (issue 3) this answers honestly with a
"coming soon" card that still gives the user the manual route.
"""

from __future__ import annotations

from bot.handlers.common import replace_card
from bot.router import Command, Router
from bot.turns import Outcome
from cards import CardRenderer


def register(router: Router) -> None:
    @router.intent(
        "order", command=Command("order", "order", "Fill a radiology request here and I email it")
    )
    async def start(cards: CardRenderer) -> Outcome:
        return Outcome.card(
            cards.render(
                "coming_soon",
                feature=(
                    "Filling the request in Teams is not available yet. Until it is, complete "
                    "the trust's downtime form and email it: type 'mailbox' to see where."
                ),
            )
        )

    router.action("order.start")(replace_card(start))
