"""``/usage`` for everyone and the ``/quota`` moderator commands.

Thin glue: parse the options, call ``bot.services`` (ledger, policy,
moderation), render with :mod:`cogs.quota_views`. The services write the audit
entry of every change in the change's own transaction; this cog then reads
that entry back and posts it to the guild's log channel, if one is set.

Clearing: ``/quota set``, ``/quota role`` and ``/quota server`` take
``amount: -1`` to remove the setting (back to the role/default allowance or
the default budget). ``/quota modrole`` and ``/quota logchannel`` clear with
``clear: True`` and, with no option, show the current setting.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import FoleyBot
from bot.errors import UserError
from bot.quotas import InvalidRule
from bot.quotas import render as r
from bot.quotas.blocklist import MAX_PATTERN_LENGTH, rule_key
from bot.quotas.policy import MAX_TOKENS, limit_from_amount
from bot.services import Services
from cogs import quota_views as views
from cogs.checks import manage_guild_only, member_context, moderator_only

Amount = app_commands.Range[int, -1, MAX_TOKENS]
Reason = app_commands.Range[str, 1, 200]
Pattern = app_commands.Range[str, 1, MAX_PATTERN_LENGTH]
Target = discord.Member | discord.User  # a member who left can still be managed


def _role_ids(user: discord.abc.User) -> list[int]:
    # Member.roles includes @everyone (the guild id), which can carry a role allowance.
    return [role.id for role in getattr(user, "roles", [])]


class QuotaCog(commands.Cog):
    quota = app_commands.Group(
        name="quota",
        description="Moderators: token allowances, blocks and the blocklist",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    blocklist = app_commands.Group(
        name="blocklist", description="Words or re: patterns refused in prompts", parent=quota
    )

    def __init__(self, bot: FoleyBot) -> None:
        self.bot = bot

    @property
    def services(self) -> Services:
        return self.bot.services

    @property
    def period(self) -> str:
        return self.services.settings.quota_period

    # ------------------------------------------------------------ members

    @app_commands.command(name="usage", description="Your remaining tokens and recent jobs")
    @app_commands.guild_only()
    async def usage(self, interaction: discord.Interaction) -> None:
        guild_id = views.guild_id_of(interaction)
        summary = await self.services.ledger.usage(
            guild_id, interaction.user.id, member_context(interaction).role_ids
        )
        text = views.usage_text(summary, self.period, views.pricer(self.services.pricing))
        await views.reply(interaction, text)

    # ------------------------------------------------------------- reads

    @quota.command(name="show", description="A member's quota, or the server's settings")
    @app_commands.describe(user="Whose quota (leave empty for the server overview)")
    @moderator_only()
    async def show(self, interaction: discord.Interaction, user: Target | None = None) -> None:
        guild_id = views.guild_id_of(interaction)
        s = self.services
        price = views.pricer(s.pricing)
        if user is not None:
            roles = _role_ids(user)
            summary = await s.ledger.usage(guild_id, user.id, roles)
            source = r.allowance_source(await s.policy.limits(guild_id), user.id, roles)
            blocked = await s.moderation.blocked(guild_id, user.id)
            text = views.member_text(user.id, summary, self.period, source, blocked, price)
        else:
            # Only the server-wide fields of this summary are shown.
            summary = await s.ledger.usage(guild_id, interaction.user.id, ())
            text = views.server_text(
                summary,
                self.period,
                await s.policy.limits(guild_id),
                await s.moderation.blocked_members(guild_id),
                len(await s.moderation.rules(guild_id)),
                await s.moderation.moderator_role(guild_id),
                await s.moderation.log_channel(guild_id),
                s.settings.default_user_tokens,
            )
        await views.reply(interaction, text)

    @quota.command(name="top", description="Biggest spenders this period")
    @app_commands.describe(count="How many to list (default 10)")
    @moderator_only()
    async def top(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        spenders = await self.services.ledger.top_spenders(views.guild_id_of(interaction), count)
        await views.reply(interaction, views.top_text(spenders, self.period))

    @quota.command(name="log", description="Moderator actions, newest first")
    @app_commands.describe(user="Only actions by or about this member", count="How many (max 25)")
    @moderator_only()
    async def log_(
        self,
        interaction: discord.Interaction,
        user: Target | None = None,
        count: app_commands.Range[int, 1, 25] = 15,
    ) -> None:
        user_id = user.id if user else None
        entries = await self.services.moderation.audit_log(
            views.guild_id_of(interaction), user_id, count
        )
        await views.reply(interaction, views.log_text(entries, user_id))

    # ---------------------------------------------------------- changes

    @quota.command(name="set", description="Set a member's allowance per period")
    @app_commands.describe(user="Member", amount="Tokens per period; -1 removes the override")
    @moderator_only()
    async def set_(self, interaction: discord.Interaction, user: Target, amount: Amount) -> None:
        guild_id = views.guild_id_of(interaction)
        new = limit_from_amount(amount)
        before = await self.services.policy.set_user_allowance(
            guild_id, user.id, new, interaction.user.id
        )
        await views.announce_done(
            self.bot,
            interaction,
            f"Allowance of <@{user.id}>: {r.limit(before)} → {r.limit(new)} per {self.period}.",
            "quota.user_limit",
            f"user:{user.id}",
        )

    @quota.command(name="grant", description="Give a member extra tokens for this period only")
    @app_commands.describe(user="Member", amount="Extra tokens", reason="Why (shown in the log)")
    @moderator_only()
    async def grant(
        self,
        interaction: discord.Interaction,
        user: Target,
        amount: app_commands.Range[int, 1, MAX_TOKENS],
        reason: Reason | None = None,
    ) -> None:
        granted = await self.services.ledger.grant(
            views.guild_id_of(interaction), user.id, amount, interaction.user.id, reason or ""
        )
        await views.announce_done(
            self.bot,
            interaction,
            f"Granted {r.tokens(amount)} extra tokens to <@{user.id}> for "
            f"{r.this_period(self.period)} "
            f"({r.tokens(granted)} granted in total).",
            "quota.grant",
            f"user:{user.id}",
        )

    @quota.command(name="reset", description="Forgive a member's spend this period")
    @app_commands.describe(user="Member", reason="Why (shown in the log)")
    @moderator_only()
    async def reset(
        self, interaction: discord.Interaction, user: Target, reason: Reason | None = None
    ) -> None:
        spent = await self.services.ledger.reset(
            views.guild_id_of(interaction), user.id, interaction.user.id, reason or ""
        )
        running = f" ({r.tokens(spent)} still reserved by running jobs)" if spent else ""
        await views.announce_done(
            self.bot,
            interaction,
            f"Reset <@{user.id}>'s usage for {r.this_period(self.period)}{running}.",
            "quota.reset",
            f"user:{user.id}",
        )

    @quota.command(name="role", description="Set the allowance per period for a role")
    @app_commands.describe(
        role="Role (members get the highest of their roles)",
        amount="Tokens per period; -1 removes the role's allowance",
    )
    @moderator_only()
    async def role(
        self, interaction: discord.Interaction, role: discord.Role, amount: Amount
    ) -> None:
        new = limit_from_amount(amount)
        before = await self.services.policy.set_role_allowance(
            views.guild_id_of(interaction), role.id, new, interaction.user.id
        )
        await views.announce_done(
            self.bot,
            interaction,
            f"Allowance of <@&{role.id}>: {r.limit(before)} → {r.limit(new)} per {self.period}.",
            "quota.role_limit",
            f"role:{role.id}",
        )

    @quota.command(name="server", description="Set the server's token budget per period")
    @app_commands.describe(amount="Tokens per period for the whole server; -1 = the default")
    @moderator_only()
    async def server(self, interaction: discord.Interaction, amount: Amount) -> None:
        guild_id = views.guild_id_of(interaction)
        new = limit_from_amount(amount)
        before = await self.services.policy.set_guild_budget(guild_id, new, interaction.user.id)
        await views.announce_done(
            self.bot,
            interaction,
            f"Server budget: {r.limit(before)} → {r.limit(new)} per {self.period}.",
            "quota.guild_limit",
            f"guild:{guild_id}",
        )

    @quota.command(name="block", description="Stop a member from generating in this server")
    @app_commands.describe(user="Member", reason="Why (moderators only see it)")
    @moderator_only()
    async def block(
        self, interaction: discord.Interaction, user: Target, reason: Reason | None = None
    ) -> None:
        await self.services.moderation.block_member(
            views.guild_id_of(interaction), user.id, interaction.user.id, reason or ""
        )
        await views.announce_done(
            self.bot,
            interaction,
            f"Blocked <@{user.id}> from generating.",
            "member.block",
            f"user:{user.id}",
        )

    @quota.command(name="unblock", description="Let a blocked member generate again")
    @app_commands.describe(user="Member")
    @moderator_only()
    async def unblock(self, interaction: discord.Interaction, user: Target) -> None:
        if not await self.services.moderation.unblock_member(
            views.guild_id_of(interaction), user.id, interaction.user.id
        ):
            raise UserError(f"<@{user.id}> isn't blocked.")
        await views.announce_done(
            self.bot, interaction, f"Unblocked <@{user.id}>.", "member.unblock", f"user:{user.id}"
        )

    @quota.command(name="modrole", description="Set or clear the moderator role")
    @app_commands.describe(role="Members with this role may use /quota", clear="Remove it")
    @manage_guild_only()  # the moderator role must not be able to hand itself out
    async def modrole(
        self,
        interaction: discord.Interaction,
        role: discord.Role | None = None,
        clear: bool = False,
    ) -> None:
        guild_id = views.guild_id_of(interaction)
        current = await self.services.moderation.moderator_role(guild_id)
        new = _pick(role.id if role else None, clear, current, "role")
        if new == current:
            await views.reply(interaction, f"Moderator role: {r.role(current)}.")
            return
        await self.services.moderation.set_moderator_role(guild_id, new, interaction.user.id)
        await views.announce_done(
            self.bot,
            interaction,
            f"Moderator role: {r.role(current)} → {r.role(new)}.",
            "settings.moderator_role",
            f"guild:{guild_id}",
        )

    @quota.command(name="logchannel", description="Set or clear the channel for moderator logs")
    @app_commands.describe(channel="Where moderator actions are posted", clear="Stop posting")
    @moderator_only()
    async def logchannel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        clear: bool = False,
    ) -> None:
        guild_id = views.guild_id_of(interaction)
        current = await self.services.moderation.log_channel(guild_id)
        new = _pick(channel.id if channel else None, clear, current, "channel")
        if new == current:
            await views.reply(interaction, f"Log channel: {r.channel(current)}.")
            return
        await self.services.moderation.set_log_channel(guild_id, new, interaction.user.id)
        note = "" if new is None else views.cannot_post_warning(interaction, new)
        await views.announce_done(
            self.bot,
            interaction,
            f"Log channel: {r.channel(current)} → {r.channel(new)}.{note}",
            "settings.log_channel",
            f"guild:{guild_id}",
            # The old channel hears about the move too, so a moderator cannot
            # quietly redirect or switch off the log that watches them.
            also_to=current,
        )

    # ------------------------------------------------------------ blocklist

    @blocklist.command(name="add", description="Refuse prompts containing a word or re: pattern")
    @app_commands.describe(rule="A word or phrase, or re:<regular expression>")
    @moderator_only()
    async def blocklist_add(self, interaction: discord.Interaction, rule: Pattern) -> None:
        guild_id = views.guild_id_of(interaction)
        try:
            added = await self.services.moderation.add_rule(guild_id, rule, interaction.user.id)
        except InvalidRule as exc:
            raise UserError(f"That rule was refused: {exc}.") from None
        key = rule_key(rule)  # how the service stored it (and named it in the audit entry)
        if not added:
            raise UserError(f"{r.code(key)} is already on the blocklist.")
        await views.announce_done(
            self.bot,
            interaction,
            f"Added {r.code(key)} to the blocklist.",
            "blocklist.add",
            f"rule:{key}",
        )

    @blocklist.command(name="remove", description="Remove a blocklist rule")
    @app_commands.describe(rule="The rule exactly as listed")
    @moderator_only()
    async def blocklist_remove(self, interaction: discord.Interaction, rule: Pattern) -> None:
        guild_id = views.guild_id_of(interaction)
        key = rule_key(rule)
        if not await self.services.moderation.remove_rule(guild_id, rule, interaction.user.id):
            raise UserError(f"{r.code(key)} isn't on the blocklist; see `/quota blocklist list`.")
        await views.announce_done(
            self.bot,
            interaction,
            f"Removed {r.code(key)} from the blocklist.",
            "blocklist.remove",
            f"rule:{key}",
        )

    @blocklist_remove.autocomplete("rule")
    @moderator_only()  # autocomplete skips command checks; the rules are moderators' business
    async def _rule_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        rules = await self.services.moderation.rules(views.guild_id_of(interaction))
        needle = current.casefold()
        return [
            app_commands.Choice(name=rule.pattern[:100], value=rule.pattern)
            for rule in rules
            if needle in rule.pattern.casefold() and len(rule.pattern) <= 100
        ][:25]

    @blocklist.command(name="list", description="Show the blocklist (only you see it)")
    @moderator_only()
    async def blocklist_list(self, interaction: discord.Interaction) -> None:
        rules = await self.services.moderation.rules(views.guild_id_of(interaction))
        await views.reply(interaction, views.rules_text(rules))


def _pick(given: int | None, clear: bool, current: int | None, what: str) -> int | None:
    """The new setting from ``(value, clear)``; neither means "show the current one"."""
    if given is not None and clear:
        raise UserError(f"Give a {what} to set it, or `clear: True` to remove it — not both.")
    if clear:
        return None
    return current if given is None else given


async def setup(bot: FoleyBot) -> None:
    await bot.add_cog(QuotaCog(bot))
