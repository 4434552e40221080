"""Persistence: one database, small repositories named for what they keep."""

from bot.store.activities import ActivityLog
from bot.store.db import Base, Database
from bot.store.profiles import Profiles

__all__ = ["ActivityLog", "Base", "Database", "Profiles"]
