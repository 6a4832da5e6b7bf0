"""SQLite storage: the connection, numbered migrations and all SQL statements."""

from bot.storage.db import Database, StorageError

__all__ = ["Database", "StorageError"]
