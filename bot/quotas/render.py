"""Text for quota and moderation replies: numbers, dollars, timestamps, audit lines.

Discord-free (plain strings that happen to use Discord's markdown, mention and
timestamp syntax), so the formatting can be reused by the CLI and tested
without a client. Mentions are only *displayed*: every send uses
``AllowedMentions.none()``, so ``<@id>`` and ``<@&id>`` never ping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.quotas.moderation import AuditEntry
from bot.quotas.policy import LimitSetting

_MARKDOWN = re.compile(r"([\\*_~`|\[\]])")
_MARKUP = re.compile(r"\\([\\*_~`|\[\]])|`")

# action → (label, what the before/after values mean)
_ACTIONS: dict[str, tuple[str, str]] = {
    "quota.user_limit": ("set allowance", "limit"),
    "quota.role_limit": ("set role allowance", "limit"),
    "quota.guild_limit": ("set server budget", "limit"),
    "quota.grant": ("granted tokens", "granted"),
    "quota.adjust": ("adjusted spend", "spent"),
    "quota.reset": ("reset usage", "spent"),
    "member.block": ("blocked", "block"),
    "member.unblock": ("unblocked", "block"),
    "blocklist.add": ("added blocklist rule", "rule"),
    "blocklist.remove": ("removed blocklist rule", "rule"),
    "settings.moderator_role": ("set moderator role", "role"),
    "settings.log_channel": ("set log channel", "channel"),
    "settings.change": ("changed setting", "text"),  # bot/settings: values already in words
    "settings.soundboard": ("set ➕ Soundboard", "switch"),
    "soundboard.add": ("added soundboard sound", "sound"),
}


def tokens(amount: int) -> str:
    return f"{amount:,}"


def usd(amount: float) -> str:
    """Dollars readable at the sizes Foley deals in: one generation often costs under a cent.

    From $1 up, cents; below, three significant digits (``$0.0126``, ``$0.00045``).
    """
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    if amount < 1e-8:
        return "$0"
    decimals = min(10, max(2, 2 - math.floor(math.log10(amount))))
    whole, _, frac = f"{amount:.{decimals}f}".rstrip("0").partition(".")
    return f"{sign}${whole}.{frac.ljust(2, '0')}"


def tokens_usd(amount: int, dollars: float | None) -> str:
    """``12,345 tokens ($0.0062)``; without dollars when they are unknown."""
    text = f"{tokens(amount)} tokens"
    return text if dollars is None else f"{text} ({usd(dollars)})"


def this_period(period: str) -> str:
    """``today`` / ``this week`` / ``this month`` for QUOTA_PERIOD day / week / month."""
    return "today" if period == "day" else f"this {period}"


def timestamp(moment: datetime, style: str = "R") -> str:
    """A Discord timestamp: each reader sees it in their own time zone and language."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def plain(text: str, limit: int = 100) -> str:
    """Free text typed by a member (reasons), with markdown neutralised and length capped."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MARKDOWN.sub(r"\\\1", text)


def unmarked(text: str) -> str:
    """Text written for Discord, for a web page: escapes undone, inline-code marks dropped."""
    return _MARKUP.sub(lambda m: m.group(1) or "", text)


def code(text: str, limit: int = 100) -> str:
    """Inline code; a backtick inside would end it early, so it is swapped for a look-alike."""
    text = text.replace("`", "ˋ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


def target_text(target: str) -> str:
    """An audit target (``user:1``, ``role:2``, ``guild:3``, ``rule:cat``) for display."""
    kind, _, value = target.partition(":")
    if kind == "user" and value.isdigit():
        return f"<@{value}>"
    if kind == "role" and value.isdigit():
        return f"<@&{value}>"
    if kind == "guild":
        return "the server"
    if kind == "rule":
        return code(value)
    if kind == "setting":
        return code(value)
    return code(target)


def limit(value: int | None) -> str:
    """A cap setting: ``None`` means "no setting here, the next rule applies"."""
    return "default" if value is None else f"{tokens(value)} tokens"


def role(role_id: int | None) -> str:
    return "none" if role_id is None else f"<@&{role_id}>"


def channel(channel_id: int | None) -> str:
    return "none" if channel_id is None else f"<#{channel_id}>"


def actor_text(actor_id: int | None) -> str:
    return "someone" if actor_id is None else f"<@{actor_id}>"


def audit_label(action: str) -> str:
    return _ACTIONS.get(action, (action, ""))[0]


def audit_value(action: str, value: Any) -> str:
    """One side of a before → after pair, in the words of that action."""
    kind = _ACTIONS.get(action, ("", ""))[1]
    if kind == "limit":
        return "default" if value is None else tokens(int(value))
    if kind == "granted":
        return f"{tokens(_tokens_of(value))} granted"
    if kind == "spent":
        return f"{tokens(_tokens_of(value))} spent"
    if kind == "block":
        if value is None:
            return "not blocked"
        reason = value.get("reason", "") if isinstance(value, dict) else ""
        return f"blocked ({plain(reason, 60)})" if reason else "blocked"
    if kind == "rule":
        return "—" if value is None else code(str(value))
    if kind == "role":
        return "none" if value is None else f"<@&{value}>"
    if kind == "channel":
        return "none" if value is None else f"<#{value}>"
    if kind == "text":
        return "—" if value is None else plain(str(value), 120)
    if kind == "switch":
        return "—" if value is None else ("on" if value else "off")
    if kind == "sound":
        if not isinstance(value, dict):
            return "—"
        return f"{plain(str(value.get('name', '')), 32)} ({value.get('sound_id', '?')})"
    return "none" if value is None else code(str(value), 60)


def _tokens_of(value: Any) -> int:
    if isinstance(value, dict):
        return int(value.get("tokens", 0))
    return int(value or 0)


def audit_change(entry: AuditEntry) -> str:
    text = f"{audit_value(entry.action, entry.before)} → {audit_value(entry.action, entry.after)}"
    reason = entry.after.get("reason") if isinstance(entry.after, dict) else None
    if reason and entry.action.startswith("quota."):
        text += f" — {plain(reason, 80)}"
    return text


def audit_line(entry: AuditEntry) -> str:
    """``<t:…:R> <@actor> **set allowance** <@target>: default → 5,000``."""
    return (
        f"{timestamp(entry.created_at)} {actor_text(entry.actor_id)} "
        f"**{audit_label(entry.action)}** {target_text(entry.target)}: {audit_change(entry)}"
    )


def cap_lines(lines: Sequence[str], limit: int = 1900, more: str = "…and {n} more.") -> str:
    """Join lines, dropping the tail so the text fits one Discord message (2,000 characters)."""
    kept: list[str] = []
    used = 0
    for n, line in enumerate(lines):
        tail = more.format(n=len(lines) - n)
        if used + len(line) + 1 + len(tail) > limit:
            kept.append(tail)
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)


def allowance_source(limits: Iterable[LimitSetting], user_id: int, role_ids: Iterable[int]) -> str:
    """Where a member's allowance comes from, in the order QuotaPolicy resolves it."""
    limits = list(limits)
    for limit in limits:
        if limit.scope == "user" and limit.target_id == user_id:
            return "member override"
    roles = set(role_ids)
    best = max(
        (lim for lim in limits if lim.scope == "role" and lim.target_id in roles),
        key=lambda lim: lim.tokens,
        default=None,
    )
    if best is not None:
        return f"role <@&{best.target_id}>"
    return "default"
