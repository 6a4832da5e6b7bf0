"""The discord-free services the bot is made of, built once by the composition root.

Cogs reach everything through ``bot.services``; nothing here imports discord.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.config import Settings
from bot.storage import Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    session: aiohttp.ClientSession
    providers: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, db: Database, session: aiohttp.ClientSession) -> Services:
        return cls(settings=settings, db=db, session=session)

    async def start(self) -> None:
        """Start background work (job engine, sweeps). Safe to call once."""

    async def stop(self) -> None:
        """Stop background work; safe to call twice."""
