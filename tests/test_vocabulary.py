"""The vocabulary's names as users see them, where no parser test reads them.

The parser's tests (`tests/corpus/vocabulary.tsv`) prove every name staff type is
understood; these prove what the bot writes back: a hospital site is shown by
its full name as part of its trust on the mailbox card ("PRUH xray").
"""

from __future__ import annotations

import pytest

from bot.directory import load_directory
from bot.handlers.lookups import _mailbox
from cards import CardRenderer
from tests.support.cards import card_text

KCH = "King's College Hospital NHS Foundation Trust"
GSTT = "Guy's and St Thomas' NHS Foundation Trust"


@pytest.mark.parametrize(
    ("trust", "site", "line"),
    [
        ("kch", "pruh", f"Princess Royal University Hospital (PRUH): part of {KCH}"),
        ("kch", "denmark_hill", f"Denmark Hill: part of {KCH}"),
        ("kch", "orpington", f"Orpington Hospital: part of {KCH}"),
        ("gstt", "evelina", f"Evelina London: part of {GSTT}"),
    ],
)
def test_a_site_is_shown_by_its_full_name_as_part_of_its_trust(
    trust: str, site: str, line: str
) -> None:
    outcome = _mailbox(CardRenderer(), load_directory(), trust, "xray", site)
    (reply,) = outcome.replies
    assert reply.card is not None
    assert line in card_text(reply.card).splitlines()
