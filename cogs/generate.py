"""``/music``, ``/say`` and ``/sfx``: parse, check, defer, hand over to the generation service.

Cheap checks that need no I/O (option validation, provider availability, the
bot's channel permissions) answer privately before anything else. Then the
command defers at once — before any database or provider work — and the job
is started; its status message is the deferred reply, which the presenter
keeps up to date and finally turns into the result.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError, describe_error
from bot.generation import messages
from bot.generation.requests import SAY_MODELS
from bot.generation.service import ReplyTarget, Requester
from bot.jobs.models import Job
from bot.providers.base import GenerationRequest, JobKind
from bot.quotas import QuotaExceeded
from cogs.checks import member_context, missing_permissions
from cogs.voice_live import play_when_ready

log = logging.getLogger(__name__)

MUSIC_MODELS = [
    app_commands.Choice(name="Stable Audio (1–47 s)", value="stable-audio"),
    app_commands.Choice(name="ElevenLabs Music (10–300 s)", value="eleven-music"),
]
SAY_MODEL_CHOICES = [app_commands.Choice(name=m, value=m) for m in SAY_MODELS]
NORMALIZE_CHOICES = [
    app_commands.Choice(name="auto (ElevenLabs decides)", value="auto"),
    app_commands.Choice(name="on (spell out numbers, dates…)", value="on"),
    app_commands.Choice(name="off (read exactly as written)", value="off"),
]


def requester_of(interaction: discord.Interaction) -> Requester:
    ctx = member_context(interaction)  # the roles, @everyone included, computed once
    return Requester(ctx.guild_id, ctx.channel_id, ctx.user_id, ctx.role_ids)


class GenerateCog(commands.Cog):
    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[None]] = set()

    async def cog_load(self) -> None:
        self.bot.job_starter = self

    async def cog_unload(self) -> None:
        self.bot.job_starter = None
        for task in list(self._tasks):
            task.cancel()

    @property
    def generation(self) -> Any:
        return self.bot.services.generation

    # -- the shared flow ------------------------------------------------------------
    async def launch(
        self,
        interaction: discord.Interaction,
        command: str,
        options: dict[str, Any],
        *,
        play: bool = False,
    ) -> Job | None:
        requester = requester_of(interaction)
        try:
            # Server settings, then explicit > preference > server default > built-in.
            request = await self.generation.prepare(command, requester, options)
            if play and request.kind is JobKind.SAY:
                request.params["stream"] = True  # played while it is made (cogs/voice_live)
            visibility = await self.generation.server_settings.visibility(requester.context)
        except UserError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return None
        problem = self.generation.unavailable_reason(request.kind)
        missing = missing_permissions(interaction)
        if missing and not problem:
            problem = (
                f"I can't post results in this channel: I need {', '.join(missing)} here. "
                "Ask a server admin, or use another channel."
            )
        if problem:
            await interaction.response.send_message(problem, ephemeral=True)
            return None
        # private: the reply (and so the result) is seen only by the requester.
        await interaction.response.defer(thinking=True, ephemeral=visibility == "private")
        try:
            message = await interaction.original_response()
            job = await self.start(interaction, request, message.id, visibility=visibility)
        except Exception as exc:
            await self.refuse(interaction, self.explain(exc, interaction))
            return None
        if play:
            self._own(self._play_when_ready(interaction, job.id))
        return job

    async def start(
        self,
        interaction: discord.Interaction,
        request: GenerationRequest,
        message_id: int,
        *,
        visibility: str | None = None,
    ) -> Job:
        """Start a job whose progress and result live in message ``message_id``."""
        target = ReplyTarget(
            interaction_token=interaction.token,
            application_id=interaction.application_id,
            created_at=interaction.created_at.timestamp(),
            status_message_id=message_id,
            visibility=visibility,
            upload_limit=interaction.filesize_limit,
        )
        started = await self.generation.start(requester_of(interaction), request, target)
        return started.job

    @staticmethod
    def explain(exc: BaseException, interaction: discord.Interaction) -> str:
        if isinstance(exc, QuotaExceeded):
            return messages.refusal(exc)
        name = interaction.command.qualified_name if interaction.command else "button"
        return describe_error(exc, context=f"/{name}").message

    @staticmethod
    async def refuse(interaction: discord.Interaction, text: str) -> None:
        """Replace the public "thinking…" placeholder with a private sentence."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            pass
        try:
            await interaction.followup.send(text, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("could not tell the member why the job was refused: %s", exc)

    def _own(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play_when_ready(self, interaction: discord.Interaction, job_id: str) -> None:
        """``/say … play:true``: play the speech while it streams in (cogs/voice_live.py)."""
        await play_when_ready(self.bot, interaction, job_id)

    # -- commands -----------------------------------------------------------------
    @app_commands.command(name="music", description="Generate a music track from a description")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What the music should sound like",
        model="Which model makes it (default: yours, the server's, or Stable Audio)",
        duration="Length in seconds (Stable Audio 1–47, ElevenLabs Music 10–300)",
        steps="Stable Audio only: denoising steps, more is slower and costs more (1–1000)",
        start="Stable Audio only: where the clip starts, in seconds (1–47)",
    )
    @app_commands.choices(model=MUSIC_MODELS)
    async def music(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        model: str | None = None,
        duration: app_commands.Range[int, 1, 300] | None = None,
        steps: app_commands.Range[int, 1, 1000] | None = None,
        start: app_commands.Range[int, 1, 47] | None = None,
    ) -> None:
        options = {
            "prompt": prompt, "model": model, "duration": duration, "steps": steps, "start": start
        }  # fmt: skip
        await self.launch(interaction, "music", options)

    @app_commands.command(name="say", description="Read text aloud with an ElevenLabs voice")
    @app_commands.guild_only()
    @app_commands.describe(
        text="What to say",
        voice="Which voice (start typing to search)",
        model="Speech model (default: eleven_multilingual_v2)",
        stability="0–1: higher is steadier, lower is more expressive",
        similarity="0–1: how closely to match the original voice",
        style="0–1: style exaggeration",
        speed="0.7–1.2: speaking speed",
        language="Language code such as en, de or ja (optional)",
        seed="A number to make the result repeatable",
        play="Also play it in your voice channel",
        normalize="Spell out numbers and dates (default: auto)",
    )
    @app_commands.choices(model=SAY_MODEL_CHOICES, normalize=NORMALIZE_CHOICES)
    async def say(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, 6000],
        voice: str | None = None,
        model: str | None = None,
        stability: app_commands.Range[float, 0.0, 1.0] | None = None,
        similarity: app_commands.Range[float, 0.0, 1.0] | None = None,
        style: app_commands.Range[float, 0.0, 1.0] | None = None,
        speed: app_commands.Range[float, 0.7, 1.2] | None = None,
        language: app_commands.Range[str, 2, 3] | None = None,
        seed: app_commands.Range[int, 0, 4_294_967_295] | None = None,
        play: bool = False,
        normalize: str | None = None,
    ) -> None:
        # No voice anywhere (option, preference, server default): the account's default.
        options = {
            "text": text, "voice": (voice or "").strip() or None, "model": model,
            "stability": stability, "similarity": similarity, "style": style, "speed": speed,
            "language": language, "seed": seed, "normalize": normalize,
        }  # fmt: skip
        await self.launch(interaction, "say", options, play=play)

    @say.autocomplete("voice")
    async def voice_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        provider = self.bot.services.providers.get("elevenlabs")
        if provider is None or not provider.enabled:
            return []
        try:
            # Autocomplete must answer within 3 s: never wait long on the provider.
            voices = await asyncio.wait_for(provider.list_voices(), timeout=2.0)
        except Exception:
            return []
        needle = current.strip().lower()
        matches = [v for v in voices if needle in v.name.lower()] if needle else list(voices)
        return [
            app_commands.Choice(name=f"{v.name} ({v.category})"[:100], value=v.voice_id)
            for v in matches[:25]
        ]

    @app_commands.command(name="sfx", description="Generate a sound effect from a description")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="The sound you want, e.g. 'door creaks open in an empty hall'",
        duration="Length in seconds, 0.5–30 (default: automatic)",
        influence="0–1: how literally to follow the prompt (default 0.3)",
        loop="Make it loop seamlessly",
    )
    async def sfx(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        duration: app_commands.Range[float, 0.5, 30.0] | None = None,
        influence: app_commands.Range[float, 0.0, 1.0] | None = None,
        loop: bool = False,
    ) -> None:
        options = {"prompt": prompt, "duration": duration, "influence": influence, "loop": loop}
        await self.launch(interaction, "sfx", options)


async def setup(bot: Any) -> None:
    await bot.add_cog(GenerateCog(bot))
