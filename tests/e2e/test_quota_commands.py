"""/usage and /quota end to end: fake Discord → real FoleyBot and services → SQLite.

Spend is seeded through the real ``Ledger`` (reserve + settle), the way the job
engine books it; everything else goes through slash commands.
"""

from __future__ import annotations

import logging
from pathlib import Path

import discord
import pytest

from bot.quotas import ReserveRequest
from cogs.checks import NOT_MANAGER, NOT_MODERATOR
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import FakeMessage, Overwrite, Perm
from tests.fakes.fixtures import (
    GUILD_ID,
    MANAGER_ROLE_ID,
    MEMBER_ID,
    OTHER_MEMBER_ID,
    OWNER_ID,
    TEXT_CHANNEL_ID,
)

COMMANDS = ("usage", "quota")
MOD_ROLE_ID = 3101
LOG_CHANNEL_ID = 1101
NO_PING = (False, [], [])


async def reply(foley: Foley, name: str, user_id: int, **options: object) -> FakeMessage:
    """The command's private reply (every /usage and /quota reply is ephemeral)."""
    inter = await foley.invoke(name, user_id, **options)
    message = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
    assert message.ephemeral, f"/{name} answered publicly: {message.content!r}"
    assert message.mentions() == NO_PING, f"/{name} would ping: {message.content!r}"
    return message


async def spend(foley: Foley, user_id: int, tokens: int, job_id: str) -> None:
    ledger = foley.services.ledger
    await ledger.reserve(ReserveRequest(job_id, GUILD_ID, user_id, (), tokens, "aimlapi"))
    assert await ledger.settle(job_id, tokens)


async def test_usage_when_exhausted_and_top_spenders(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, default_user_tokens=1_000
    ) as foley:
        await spend(foley, MEMBER_ID, 1_000, "job-a")
        await spend(foley, OWNER_ID, 600, "job-b")
        await spend(foley, OTHER_MEMBER_ID, 200, "job-c")
        await spend(foley, OWNER_ID, 300, "job-d")
        summary = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())

        text = (await reply(foley, "usage", MEMBER_ID)).content
        assert "Remaining: **0** of 1,000" in text
        assert "Spent: **1,000** tokens ($0.0005)" in text  # AI/ML API: $1 per 2M credits
        resets = int(summary.resets_at.timestamp())
        assert f"Resets <t:{resets}:R>" in text
        assert summary.resets_at.hour == 0 and summary.resets_at.minute == 0  # a UTC boundary
        assert "`job-a` — 1,000 tokens ($0.0005), done" in text

        text = (await reply(foley, "quota top", OWNER_ID)).content
        lines = text.splitlines()
        assert lines[1:] == [
            f"1. <@{MEMBER_ID}> — 1,000 tokens ($0.0005)",
            f"2. <@{OWNER_ID}> — 900 tokens ($0.00045)",
            f"3. <@{OTHER_MEMBER_ID}> — 200 tokens ($0.0001)",
        ]

        # The Discord-side default: /quota hidden from members without Manage Server.
        synced = {c["name"]: c for c in fake_discord.commands_for(GUILD_ID)}
        assert int(synced["quota"]["default_member_permissions"]) == Perm.MANAGE_GUILD
        assert synced["usage"]["default_member_permissions"] is None


async def test_members_are_refused_even_without_the_discord_default(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    # The fake does not enforce default_member_permissions, exactly as if a
    # server admin had opened /quota to everyone in Integrations settings.
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        attempts: list[tuple[str, dict[str, object]]] = [
            ("quota set", {"user": MEMBER_ID, "amount": 5}),
            ("quota grant", {"user": MEMBER_ID, "amount": 5}),
            ("quota block", {"user": OTHER_MEMBER_ID}),
            ("quota server", {"amount": 1}),
            ("quota logchannel", {"channel": TEXT_CHANNEL_ID}),
            ("quota blocklist add", {"rule": "dragon"}),
            ("quota show", {}),
        ]
        for name, options in attempts:
            assert (await reply(foley, name, MEMBER_ID, **options)).content == NOT_MODERATOR
        refused = await reply(foley, "quota modrole", MEMBER_ID, role=MANAGER_ROLE_ID)
        assert refused.content == NOT_MANAGER

        s = foley.services
        assert await s.policy.limits(GUILD_ID) == []
        assert await s.moderation.audit_log(GUILD_ID) == []
        assert await s.moderation.blocked(GUILD_ID, OTHER_MEMBER_ID) is None
        assert await s.moderation.rules(GUILD_ID) == []
        assert await s.moderation.moderator_role(GUILD_ID) is None
        assert (await s.ledger.usage(GUILD_ID, MEMBER_ID, ())).granted == 0

        # Autocomplete skips command checks: the rule list must not leak either.
        await reply(foley, "quota blocklist add", OWNER_ID, rule="secret word")
        choices = await fake_discord.autocomplete(
            GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "quota blocklist remove", {"rule": ""}, "rule"
        )
        assert choices == []
        choices = await fake_discord.autocomplete(
            GUILD_ID, TEXT_CHANNEL_ID, OWNER_ID, "quota blocklist remove", {"rule": "sec"}, "rule"
        )
        assert [c["value"] for c in choices] == ["secret word"]


async def test_moderator_role_grants_quota_commands_but_not_itself(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    fake_discord.add_role(GUILD_ID, "Mods", role_id=MOD_ROLE_ID)  # no permissions at all
    fake_discord.guilds[GUILD_ID].members[MEMBER_ID].roles.append(MOD_ROLE_ID)
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        assert (await reply(foley, "quota show", MEMBER_ID)).content == NOT_MODERATOR

        text = (await reply(foley, "quota modrole", OWNER_ID, role=MOD_ROLE_ID)).content
        assert text == f"Moderator role: none → <@&{MOD_ROLE_ID}>."

        text = (await reply(foley, "quota show", MEMBER_ID)).content
        assert text.startswith("**Server quotas today**")
        assert f"moderator role: <@&{MOD_ROLE_ID}>" in text
        text = (await reply(foley, "quota show", MEMBER_ID, user=OTHER_MEMBER_ID)).content
        assert f"<@{OTHER_MEMBER_ID}>'s tokens today" in text
        assert "Allowance: 200,000 per day (default)" in text
        # Others without the role are still refused.
        assert (await reply(foley, "quota show", OTHER_MEMBER_ID)).content == NOT_MODERATOR

        # The moderator role cannot change (or drop) which role is the moderator role.
        refused = await reply(foley, "quota modrole", MEMBER_ID, clear=True)
        assert refused.content == NOT_MANAGER
        assert await foley.services.moderation.moderator_role(GUILD_ID) == MOD_ROLE_ID


async def test_actions_are_audited_and_posted_to_the_log_channel(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        await reply(foley, "quota logchannel", OWNER_ID, channel=TEXT_CHANNEL_ID)
        await spend(foley, OTHER_MEMBER_ID, 1_234, "job-x")
        o, u = OWNER_ID, OTHER_MEMBER_ID
        steps: list[tuple[str, dict[str, object], str]] = [
            (
                "quota set",
                {"user": u, "amount": 5_000},
                f"<@{o}> **set allowance** <@{u}>: default → 5,000",
            ),
            (
                "quota grant",
                {"user": u, "amount": 500, "reason": "contest winner"},
                f"<@{o}> **granted tokens** <@{u}>: 0 granted → 500 granted — contest winner",
            ),
            (
                "quota block",
                {"user": u, "reason": "spam"},
                f"<@{o}> **blocked** <@{u}>: not blocked → blocked (spam)",
            ),
            (
                "quota unblock",
                {"user": u},
                f"<@{o}> **unblocked** <@{u}>: blocked (spam) → not blocked",
            ),
            (
                "quota role",
                {"role": MANAGER_ROLE_ID, "amount": 7_000},
                f"<@{o}> **set role allowance** <@&{MANAGER_ROLE_ID}>: default → 7,000",
            ),
            (
                "quota server",
                {"amount": 900_000},
                f"<@{o}> **set server budget** the server: default → 900,000",
            ),
            ("quota reset", {"user": u}, f"<@{o}> **reset usage** <@{u}>: 1,234 spent → 0 spent"),
            (
                "quota blocklist add",
                {"rule": "Dragon"},
                f"<@{o}> **added blocklist rule** `dragon`: — → `dragon`",
            ),
            (
                "quota set",
                {"user": u, "amount": -1},
                f"<@{o}> **set allowance** <@{u}>: 5,000 → default",
            ),
        ]
        for name, options, _ in steps:
            await reply(foley, name, OWNER_ID, **options)

        text = (await reply(foley, "quota log", OWNER_ID, count=25)).content
        lines = text.splitlines()[1:]
        assert len(lines) == len(steps) + 1  # + the log channel itself
        for line, (_, _, expected) in zip(lines, reversed(steps), strict=False):
            assert expected in line, f"{expected!r} not in {line!r}"
            assert line.startswith("<t:")
        assert f"**set log channel** the server: none → <#{TEXT_CHANNEL_ID}>" in lines[-1]

        # Filtered to one member: only entries about them.
        about = (await reply(foley, "quota log", OWNER_ID, user=u)).content.splitlines()[1:]
        assert len(about) == 6 and all(f"<@{u}>" in line for line in about)

        def posted() -> list[FakeMessage] | None:
            msgs = [
                m
                for m in fake_discord.channel_messages(TEXT_CHANNEL_ID, include_ephemeral=False)
                if m.embeds and m.author.id == fake_discord.bot.id
            ]
            return msgs if len(msgs) == len(steps) + 1 else None

        msgs = await fake_discord.wait_for(posted, 10, "log channel posts")
        block = next(m for m in msgs if m.embeds[0]["title"] == "Blocked")
        fields = {f["name"]: f["value"] for f in block.embeds[0]["fields"]}
        assert fields == {
            "By": f"<@{o}>",
            "Target": f"<@{u}>",
            "Change": "not blocked → blocked (spam)",
        }
        assert all(m.allowed_mentions == {"parse": []} for m in msgs)
        assert await foley.services.ledger.verify() == []


async def test_blocklist_round_trip_and_a_log_channel_the_bot_cannot_use(
    fake_discord: FakeDiscord, simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_discord.add_channel(
        GUILD_ID,
        "mod-log",
        channel_id=LOG_CHANNEL_ID,
        overwrites=[Overwrite(fake_discord.bot.id, 1, deny=Perm.SEND_MESSAGES)],
    )
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as foley:
        text = (await reply(foley, "quota logchannel", OWNER_ID, channel=LOG_CHANNEL_ID)).content
        assert "I can't post there yet" in text

        caplog.set_level(logging.WARNING, logger="cogs.quota_views")
        add = "quota blocklist add"
        assert (await reply(foley, add, OWNER_ID, rule="Dragon")).content == (
            "Added `dragon` to the blocklist."
        )
        assert "no permission to post in the log channel" in caplog.text  # and it went on
        await reply(foley, add, OWNER_ID, rule="re:fo+ ?bar")
        text = (await reply(foley, add, OWNER_ID, rule="dragon")).content
        assert text == "`dragon` is already on the blocklist."

        text = (await reply(foley, add, OWNER_ID, rule="re:(unclosed")).content
        assert text.startswith("That rule was refused: not a valid regular expression")
        text = (await reply(foley, add, OWNER_ID, rule="re:(a+)+$")).content
        assert text.startswith("That rule was refused: a repeated group")

        listed = (await reply(foley, "quota blocklist list", OWNER_ID)).content
        assert listed.splitlines() == ["**Blocklist** (2 rules)", "1. `dragon`", "2. `re:fo+ ?bar`"]

        remove = "quota blocklist remove"
        assert (await reply(foley, remove, OWNER_ID, rule="DRAGON")).content == (
            "Removed `dragon` from the blocklist."
        )
        text = (await reply(foley, remove, OWNER_ID, rule="dragon")).content
        assert text.startswith("`dragon` isn't on the blocklist")
        listed = (await reply(foley, "quota blocklist list", OWNER_ID)).content
        assert listed.splitlines() == ["**Blocklist** (1 rule)", "1. `re:fo+ ?bar`"]
        assert await foley.services.moderation.check_prompt(GUILD_ID, "a foo bar tune")
        assert await foley.services.moderation.check_prompt(GUILD_ID, "a dragon tune") is None


def test_every_quota_subcommand_checks_at_run_time() -> None:
    # default_permissions is only a default a server admin can lift, so each
    # subcommand must carry its own check (moderator_only or manage_guild_only).
    from cogs.quota import QuotaCog

    commands = [c for c in QuotaCog.quota.walk_commands() if not hasattr(c, "walk_commands")]
    assert len(commands) == 15
    missing = [c.qualified_name for c in commands if not c.checks]
    assert missing == []
    assert QuotaCog.quota.default_permissions == discord.Permissions(manage_guild=True)
