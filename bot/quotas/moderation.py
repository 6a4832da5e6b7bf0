"""Moderation: prompt blocklist, blocked members, moderator role, log channel, audit log.

Rule syntax and the defences against slow regular expressions are in
:mod:`bot.quotas.blocklist`. The rule a prompt matched is for moderators and
logs only: never show it to the member (it would teach them how to evade it).
Every change here writes an audit entry in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot.quotas.blocklist import REGEX_PREFIX, InvalidRule, match_rules, rule_key, validate_rule
from bot.quotas.periods import Clock, iso, parse_iso, utcnow
from bot.storage import moderation_sql as sql
from bot.storage.db import Database

MAX_RULES_PER_GUILD = 500

__all__ = ["AuditEntry", "BlockRule", "BlockedMember", "InvalidRule", "Moderation"]


@dataclass(frozen=True)
class BlockRule:
    rule_id: int
    pattern: str
    created_by: int | None
    created_at: datetime

    @property
    def is_regex(self) -> bool:
        return self.pattern.startswith(REGEX_PREFIX)


@dataclass(frozen=True)
class BlockedMember:
    guild_id: int
    user_id: int
    reason: str
    actor_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    created_at: datetime
    guild_id: int
    actor_id: int | None
    action: str
    target: str
    before: Any
    after: Any


class Moderation:
    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.clock = clock

    # --------------------------------------------------------- blocklist

    async def rules(self, guild_id: int) -> list[BlockRule]:
        return [
            BlockRule(r["rule_id"], r["pattern"], r["created_by"], parse_iso(r["created_at"]))
            for r in await sql.list_rules(self.db, guild_id)
        ]

    async def add_rule(self, guild_id: int, pattern: str, actor_id: int | None) -> bool:
        """Add a rule (validated). ``False`` if the guild already has it."""
        rule = validate_rule(pattern)
        if len(await self.rules(guild_id)) >= MAX_RULES_PER_GUILD:
            raise InvalidRule(f"a server can have at most {MAX_RULES_PER_GUILD} rules")
        async with self.db.transaction() as conn:
            added = await sql.add_rule(conn, guild_id, rule, actor_id, iso(self.clock()))
            if added:
                await self._audit(
                    conn, guild_id, actor_id, "blocklist.add", f"rule:{rule}", None, rule
                )
        return added

    async def remove_rule(self, guild_id: int, pattern: str, actor_id: int | None) -> bool:
        rule = rule_key(pattern)
        async with self.db.transaction() as conn:
            removed = await sql.delete_rule(conn, guild_id, rule)
            if removed:
                await self._audit(
                    conn, guild_id, actor_id, "blocklist.remove", f"rule:{rule}", rule, None
                )
        return removed

    async def check_prompt(self, guild_id: int, text: str) -> BlockRule | None:
        """The first rule ``text`` breaks, or ``None`` if it is allowed."""
        return match_rules(await self.rules(guild_id), text)

    # ---------------------------------------------------- blocked members

    async def block_member(
        self, guild_id: int, user_id: int, actor_id: int | None, reason: str = ""
    ) -> None:
        async with self.db.transaction() as conn:
            before = await sql.get_blocked(conn, guild_id, user_id)
            await sql.block(conn, guild_id, user_id, reason, actor_id, iso(self.clock()))
            await self._audit(
                conn,
                guild_id,
                actor_id,
                "member.block",
                f"user:{user_id}",
                None if before is None else {"reason": before["reason"]},
                {"reason": reason},
            )

    async def unblock_member(self, guild_id: int, user_id: int, actor_id: int | None) -> bool:
        async with self.db.transaction() as conn:
            before = await sql.get_blocked(conn, guild_id, user_id)
            if before is None:
                return False
            await sql.unblock(conn, guild_id, user_id)
            await self._audit(
                conn,
                guild_id,
                actor_id,
                "member.unblock",
                f"user:{user_id}",
                {"reason": before["reason"]},
                None,
            )
        return True

    async def blocked(self, guild_id: int, user_id: int) -> BlockedMember | None:
        row = await sql.get_blocked(self.db, guild_id, user_id)
        return None if row is None else _blocked(row)

    async def blocked_members(self, guild_id: int) -> list[BlockedMember]:
        return [_blocked(r) for r in await sql.list_blocked(self.db, guild_id)]

    # ----------------------------------------------- per-guild settings

    async def moderator_role(self, guild_id: int) -> int | None:
        row = await sql.guild_settings(self.db, guild_id)
        return None if row is None else row["moderator_role_id"]

    async def log_channel(self, guild_id: int) -> int | None:
        row = await sql.guild_settings(self.db, guild_id)
        return None if row is None else row["log_channel_id"]

    async def set_moderator_role(
        self, guild_id: int, role_id: int | None, actor_id: int | None
    ) -> None:
        async with self.db.transaction() as conn:
            row = await sql.guild_settings(conn, guild_id)
            before = None if row is None else row["moderator_role_id"]
            await sql.set_moderator_role(conn, guild_id, role_id, iso(self.clock()))
            await self._audit(
                conn,
                guild_id,
                actor_id,
                "settings.moderator_role",
                f"guild:{guild_id}",
                before,
                role_id,
            )

    async def set_log_channel(
        self, guild_id: int, channel_id: int | None, actor_id: int | None
    ) -> None:
        async with self.db.transaction() as conn:
            row = await sql.guild_settings(conn, guild_id)
            before = None if row is None else row["log_channel_id"]
            await sql.set_log_channel(conn, guild_id, channel_id, iso(self.clock()))
            await self._audit(
                conn,
                guild_id,
                actor_id,
                "settings.log_channel",
                f"guild:{guild_id}",
                before,
                channel_id,
            )

    # -------------------------------------------------------- audit log

    async def audit(
        self,
        guild_id: int,
        actor_id: int | None,
        action: str,
        target: str,
        before: Any = None,
        after: Any = None,
    ) -> int:
        """Record an action taken elsewhere (e.g. a cog's admin command)."""
        async with self.db.transaction() as conn:
            return await self._audit(conn, guild_id, actor_id, action, target, before, after)

    async def audit_log(
        self, guild_id: int, user_id: int | None = None, limit: int = 20
    ) -> list[AuditEntry]:
        """Newest first; with ``user_id``, entries by that member or about them."""
        rows = await sql.list_audit(self.db, guild_id, user_id, limit)
        return [
            AuditEntry(
                r["audit_id"],
                parse_iso(r["created_at"]),
                r["guild_id"],
                r["actor_id"],
                r["action"],
                r["target"],
                json.loads(r["before_json"]),
                json.loads(r["after_json"]),
            )
            for r in rows
        ]

    async def latest_entry(
        self, guild_id: int, actor_id: int | None, action: str, target: str
    ) -> AuditEntry | None:
        """The newest entry by this actor for this action and target: the one a change just
        wrote (the services audit inside the change's own transaction and return no id)."""
        for entry in await self.audit_log(guild_id, limit=10):
            if (entry.actor_id, entry.action, entry.target) == (actor_id, action, target):
                return entry
        return None

    async def _audit(
        self,
        conn: aiosqlite.Connection,
        guild_id: int,
        actor_id: int | None,
        action: str,
        target: str,
        before: Any,
        after: Any,
    ) -> int:
        return await sql.insert_audit(
            conn,
            now=iso(self.clock()),
            guild_id=guild_id,
            actor_id=actor_id,
            action=action,
            target=target,
            before=before,
            after=after,
        )


def _blocked(row: aiosqlite.Row) -> BlockedMember:
    return BlockedMember(
        row["guild_id"],
        row["user_id"],
        row["reason"],
        row["actor_id"],
        parse_iso(row["created_at"]),
    )
