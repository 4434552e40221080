"""Adaptive Card templates and the one function that turns them into card JSON.

Templates live beside this module (`cards/templates/*.json.j2`) and are loaded
relative to it, never to the working directory.
"""

from cards.render import CARD_VERSION, MAX_CARD_BYTES, CardRenderer

__all__ = ["CARD_VERSION", "MAX_CARD_BYTES", "CardRenderer"]
