"""Persistence: one database, small repositories named for what they keep.

Layers, each importing only those before it: `tables` (the schema), `db`
(engines, transactions, `StoreUnavailable`), then the repositories
(`activities`, `profiles`, `confirmations`, `outbox`).
"""

from bot.store.activities import ActivityLog
from bot.store.db import Base, Database, StoreUnavailable
from bot.store.profiles import Profiles

__all__ = ["ActivityLog", "Base", "Database", "Profiles", "StoreUnavailable"]
