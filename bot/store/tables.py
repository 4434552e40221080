"""Every table the bot keeps, imported once so `Base.metadata` holds them all.

The migrations' autogenerate and `create_schema` both read `Base.metadata`.
"""

from bot.store.activities import ProcessedActivity
from bot.store.confirmations import ConfirmationCard, Notice
from bot.store.outbox import OutboxRequest, ReferenceCounter
from bot.store.profiles import ConversationRef, UserProfile

__all__ = [
    "ConfirmationCard",
    "ConversationRef",
    "Notice",
    "OutboxRequest",
    "ProcessedActivity",
    "ReferenceCounter",
    "UserProfile",
]
