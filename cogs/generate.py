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
import math
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import catalog
from bot.catalog.music import SEED_MAX
from bot.errors import UserError, describe_error
from bot.generation import messages
from bot.generation.references import reference_params, store_reference, too_large
from bot.generation.requests import SAY_MODELS
from bot.generation.service import ReplyTarget, Requester
from bot.jobs.models import Job
from bot.providers.base import GenerationRequest, JobKind
from bot.quotas import QuotaExceeded
from cogs.checks import member_context, missing_permissions
from cogs.ui.lyrics import LyricsModal
from cogs.voice_live import play_when_ready

log = logging.getLogger(__name__)


def sample_lyrics(duration_s: float | None) -> str:
    """Stands in for the lyrics while the other options are checked, before the form opens:
    enough sections (≤ 120 s each) that any allowed length can be split among them."""
    parts = max(1, math.ceil((duration_s or 0) / 120))
    return "\n".join(f"[Part {i + 1}]\nla la la la la" for i in range(parts))


def music_choices() -> list[app_commands.Choice[str]]:
    """The /music ``model`` choices, one per catalog entry (read when the cog loads)."""
    choices = []
    for model in catalog.all_models():
        span = model.duration_range()
        length = f" ({span[0]:g}–{span[1]:g} s)" if span else ""
        choices.append(app_commands.Choice(name=f"{model.display}{length}"[:100], value=model.name))
    return choices


def longest_music_s() -> int:
    return int(max((m.duration_range() or (0, 0, 0))[1] for m in catalog.all_models()))


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
        # Choices and ranges come from the catalog as it is now (a test may add a model).
        params = self.music._params  # discord.py keeps them here
        params["model"].choices = music_choices()
        params["duration"].max_value = longest_music_s()

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
        prepare: Callable[[GenerationRequest], Awaitable[GenerationRequest]] | None = None,
    ) -> Job | None:
        """``prepare``: slow checks after the defer and before anything is spent
        (a reference track is downloaded and checked); a UserError refuses the job."""
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
        problem = self.generation.unavailable_reason(request.kind, request.service)
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
        if prepare is not None:
            try:
                request = await prepare(request)
            except UserError as exc:
                await self.refuse(interaction, str(exc))
                return None
        try:
            message = await interaction.original_response()
            job = await self.start(
                interaction, request, message.id, visibility=visibility,
                play_in_voice=play and request.kind is JobKind.SAY,
            )  # fmt: skip
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
        play_in_voice: bool = False,
    ) -> Job:
        """Start a job whose progress and result live in message ``message_id``."""
        target = ReplyTarget(
            interaction_token=interaction.token,
            application_id=interaction.application_id,
            created_at=interaction.created_at.timestamp(),
            status_message_id=message_id,
            visibility=visibility,
            upload_limit=interaction.filesize_limit,
            play_in_voice=play_in_voice,
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
        lyrics="Write lyrics in a form first (minimax-music, minimax-cover, eleven-music)",
        instrumental="No vocals (minimax-music, eleven-music)",
        negative="What to leave out (lyria)",
        seed="A number to make the result repeatable (lyria; eleven-music with lyrics)",
        reference="minimax-cover: the track to cover (audio, 6 s–6 min, up to 50 MB)",
    )
    @app_commands.choices(model=music_choices())
    async def music(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        model: str | None = None,
        duration: app_commands.Range[int, 1, 300] | None = None,
        steps: app_commands.Range[int, 1, 1000] | None = None,
        start: app_commands.Range[int, 1, 47] | None = None,
        lyrics: bool = False,
        instrumental: bool = False,
        negative: app_commands.Range[str, 1, 600] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        reference: discord.Attachment | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "prompt": prompt, "model": model, "duration": duration, "steps": steps,
            "start": start, "instrumental": instrumental, "negative": negative, "seed": seed,
            "reference": reference.url if reference is not None else None,
        }  # fmt: skip
        prepare = self._reference_step(reference) if reference is not None else None
        if reference is not None and (problem := too_large(reference.size)):
            await interaction.response.send_message(problem, ephemeral=True)
            return
        if not lyrics:
            await self.launch(interaction, "music", options, prepare=prepare)
            return
        try:  # every other option (and every server setting) is checked before the form opens
            checked = await self.generation.prepare(
                "music", requester_of(interaction), {**options, "lyrics": sample_lyrics(duration)}
            )
        except UserError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return

        async def submitted(modal_interaction: discord.Interaction, text: str, words: str) -> None:
            # The submit goes through the same resolution rule (prepare) as any /music.
            filled = {**options, "prompt": text, "lyrics": words}
            await self.launch(modal_interaction, "music", filled, prepare=prepare)

        found = catalog.by_model_id(checked.model)
        route = found[1] if found else None
        lyric_param = route.param("lyrics") if route else None
        prompt_param = route.param("prompt") if route else None
        modal = LyricsModal(
            prompt,
            submitted,
            max_prompt=int(prompt_param.hi or 2000) if prompt_param else 2000,
            max_lyrics=int(lyric_param.hi or 3000) if lyric_param else 3000,
        )
        await interaction.response.send_modal(modal)

    def _reference_step(
        self, attachment: discord.Attachment
    ) -> Callable[[GenerationRequest], Awaitable[GenerationRequest]]:
        """Download, check and keep the reference track; the request then points at the copy."""

        async def prepare(request: GenerationRequest) -> GenerationRequest:
            ffmpeg = self.bot.services.ffmpeg
            if ffmpeg is None:
                raise UserError(
                    "This bot cannot check reference tracks (ffmpeg is missing). "
                    "Ask the bot operator to install it."
                )
            try:
                data = await attachment.read()
            except discord.HTTPException:
                raise UserError(
                    "I could not download the reference track from Discord. Attach it again."
                ) from None
            directory = self.bot.settings.data_dir / "references"
            path = await store_reference(data, directory, ffmpeg)
            params = {**request.params, **reference_params(attachment.url, path)}
            return GenerationRequest(request.kind, request.model, params)

        return prepare

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
