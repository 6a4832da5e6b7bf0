"""What the quota commands show: reply texts, the log-channel embed and its posting.

Numbers and audit wording come from :mod:`bot.quotas.render` (discord-free);
this module only arranges them into messages and embeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import discord

from bot.client import FoleyBot
from bot.errors import UserError
from bot.quotas import (
    AuditEntry,
    BlockedMember,
    BlockRule,
    Pricing,
    PricingError,
    Spender,
)
from bot.quotas import render as r
from bot.quotas.models import RecentJob, UsageSummary
from bot.quotas.policy import LimitSetting

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
RECENT_JOBS = 5
LIST_LINES = 15

Price = Callable[[str | None, int], float | None]


def pricer(pricing: Pricing) -> Price:
    """Dollars for tokens of one service; ``None`` when the service is unknown."""

    def price(service: str | None, tokens: int) -> float | None:
        if not service:
            return None
        try:
            return pricing.usd(service, tokens)
        except PricingError:
            return None

    return price


# ---------------------------------------------------------------- usage


def _job_line(job: RecentJob, price: Price) -> str:
    state = {"open": "running", "settled": "done", "refunded": "refunded"}.get(job.state, job.state)
    cost = r.tokens_usd(job.charged, price(job.service, job.charged))
    return f"• {r.code(job.job_id, 40)} — {cost}, {state}, {r.timestamp(job.created_at)}"


def usage_text(summary: UsageSummary, period: str, price: Price, *, whose: str = "Your") -> str:
    allowance = summary.allowance + summary.granted
    lines = [
        f"**{whose} tokens {r.this_period(period)}** (UTC, {summary.period_key})",
        f"Remaining: **{r.tokens(summary.remaining)}** of {r.tokens(allowance)}"
        + (f" (incl. {r.tokens(summary.granted)} granted)" if summary.granted else ""),
        f"Spent: **{r.tokens(summary.spent)}** tokens ({r.usd(summary.spent_usd)})"
        + (f", {r.tokens(summary.reserved)} still running" if summary.reserved else ""),
        f"Resets {r.timestamp(summary.resets_at)} ({r.timestamp(summary.resets_at, 'f')})",
    ]
    if summary.guild_remaining < summary.remaining:
        lines.append(
            f"The server's budget has only {r.tokens(summary.guild_remaining)} tokens left "
            f"{r.this_period(period)}."
        )
    if summary.blocked:
        lines.append("⛔ Blocked from generating in this server by a moderator.")
    if summary.cooldown_until is not None:
        lines.append(f"Next generation possible {r.timestamp(summary.cooldown_until)}.")
    if summary.recent_jobs:
        lines.append("Recent jobs:")
        lines += [_job_line(job, price) for job in summary.recent_jobs[:RECENT_JOBS]]
    return "\n".join(lines)


def member_text(
    user_id: int,
    summary: UsageSummary,
    period: str,
    source: str,
    blocked: BlockedMember | None,
    price: Price,
) -> str:
    lines = [
        usage_text(summary, period, price, whose=f"<@{user_id}>'s"),
        f"Allowance: {r.tokens(summary.allowance)} per {period} ({source})",
    ]
    if blocked is not None:
        why = f": {r.plain(blocked.reason)}" if blocked.reason else ""
        by = f" by {r.actor_text(blocked.actor_id)}"
        lines.append(f"Blocked{by} {r.timestamp(blocked.created_at)}{why}")
    return "\n".join(lines)


def server_text(
    summary: UsageSummary,
    period: str,
    limits: Sequence[LimitSetting],
    blocked: Sequence[BlockedMember],
    rule_count: int,
    mod_role: int | None,
    log_channel: int | None,
    default_user_tokens: int,
) -> str:
    lines = [
        f"**Server quotas {r.this_period(period)}** (UTC, {summary.period_key})",
        f"Budget: {r.tokens(summary.guild_budget)} · spent {r.tokens(summary.guild_spent)} · "
        f"left {r.tokens(summary.guild_remaining)} · resets {r.timestamp(summary.resets_at)}",
        f"Default member allowance: {r.tokens(default_user_tokens)} per {period}",
    ]
    roles = [lim for lim in limits if lim.scope == "role"]
    users = [lim for lim in limits if lim.scope == "user"]
    if roles:
        lines.append(
            "Role allowances: "
            + ", ".join(f"<@&{lim.target_id}> {r.tokens(lim.tokens)}" for lim in roles[:LIST_LINES])
        )
    if users:
        lines.append(
            "Member overrides: "
            + ", ".join(f"<@{lim.target_id}> {r.tokens(lim.tokens)}" for lim in users[:LIST_LINES])
        )
    if blocked:
        lines.append("Blocked: " + ", ".join(f"<@{b.user_id}>" for b in blocked[:LIST_LINES]))
    lines.append(
        f"Blocklist rules: {rule_count} · moderator role: "
        f"{f'<@&{mod_role}>' if mod_role else 'none'} · log channel: "
        f"{f'<#{log_channel}>' if log_channel else 'none'}"
    )
    return r.cap_lines(lines)


# ------------------------------------------------------------ lists


def top_text(spenders: Sequence[Spender], period: str) -> str:
    if not spenders:
        return f"Nobody has spent tokens {r.this_period(period)} yet."
    lines = [f"**Top spenders {r.this_period(period)}**"]
    lines += [
        f"{n}. <@{s.user_id}> — {r.tokens_usd(s.tokens, s.usd)}"
        for n, s in enumerate(spenders, start=1)
    ]
    return r.cap_lines(lines)


def log_text(entries: Sequence[AuditEntry], user_id: int | None) -> str:
    if not entries:
        return "No moderator actions recorded" + (f" for <@{user_id}>." if user_id else ".")
    head = f"**Moderator log{f' for <@{user_id}>' if user_id else ''}** (newest first)"
    return r.cap_lines([head, *(r.audit_line(e) for e in entries)])


def rules_text(rules: Sequence[BlockRule]) -> str:
    if not rules:
        return "The blocklist is empty."
    lines = [f"**Blocklist** ({len(rules)} rule{'s' if len(rules) != 1 else ''})"]
    lines += [f"{n}. {r.code(rule.pattern, 200)}" for n, rule in enumerate(rules, start=1)]
    return r.cap_lines(lines)


# ---------------------------------------------------------- log channel


def audit_embed(entry: AuditEntry) -> discord.Embed:
    embed = discord.Embed(
        title=r.audit_label(entry.action).capitalize(),
        colour=discord.Colour.orange(),
        timestamp=entry.created_at,
    )
    embed.add_field(name="By", value=r.actor_text(entry.actor_id))
    embed.add_field(name="Target", value=r.target_text(entry.target))
    embed.add_field(name="Change", value=r.audit_change(entry)[:1024], inline=False)
    embed.set_footer(text=f"audit #{entry.audit_id}")
    return embed


async def post_audit(channel: discord.abc.Messageable, guild_id: int, entry: AuditEntry) -> bool:
    """Post ``entry`` to a log channel. Failures are logged, never raised: the action stands."""
    try:
        await channel.send(embed=audit_embed(entry), allowed_mentions=NO_MENTIONS)
    except discord.Forbidden:
        log.warning(
            "guild %s: no permission to post in the log channel %s",
            guild_id,
            getattr(channel, "id", "?"),
        )
        return False
    except discord.HTTPException as exc:
        log.warning(
            "guild %s: could not post to the log channel %s: %s",
            guild_id,
            getattr(channel, "id", "?"),
            exc,
        )
        return False
    return True


# ------------------------------------------------------------ replies


def guild_id_of(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:  # guild_only() keeps these out of DMs; belt and braces
        raise UserError("This command only works in a server.")
    return interaction.guild_id


async def reply(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def announce_done(
    bot: FoleyBot,
    interaction: discord.Interaction,
    text: str,
    action: str,
    target: str,
    *,
    also_to: int | None = None,
) -> None:
    """Confirm privately, then post the action's audit entry to the log channel(s)."""
    await reply(interaction, text)
    await post_action(bot, guild_id_of(interaction), interaction.user.id, action, target, also_to)


async def post_action(
    bot: FoleyBot,
    guild_id: int,
    actor_id: int,
    action: str,
    target: str,
    also_to: int | None = None,
) -> None:
    """Post the newest audit entry of ``actor_id``'s ``action`` to the log channel(s)."""
    moderation = bot.services.moderation
    entry = await moderation.latest_entry(guild_id, actor_id, action, target)
    if entry is None:
        log.warning("guild %s: no audit entry found for %s on %s", guild_id, action, target)
        return
    channels = {await moderation.log_channel(guild_id), also_to}
    for channel_id in channels:
        if channel_id is not None:
            channel = bot.get_partial_messageable(channel_id, guild_id=guild_id)
            await post_audit(channel, guild_id, entry)


def cannot_post_warning(interaction: discord.Interaction, channel_id: int) -> str:
    """A warning line if the bot lacks what posting a log embed needs in that channel."""
    guild = interaction.guild
    channel = guild.get_channel(channel_id) if guild else None
    if guild is None or channel is None or guild.me is None:
        return ""  # not cached: nothing to judge by; a failed post is logged later anyway
    perms = channel.permissions_for(guild.me)
    if perms.view_channel and perms.send_messages and perms.embed_links:
        return ""
    return (
        f"\n⚠ I can't post there yet: give me View Channel, Send Messages and Embed Links "
        f"in <#{channel_id}>."
    )
