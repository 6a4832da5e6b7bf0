"""Results after the fact: the per-job buttons, ``/job`` and ``/history``.

This cog also owns the :class:`JobPresenter` (status edits and delivery) and
registers the ``JobButton`` dynamic item, so buttons under messages posted by
an earlier process keep working.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.attachments import TEMP_PREFIX
from bot.audio import sweep_temp
from bot.client import send_ephemeral
from bot.errors import UserError, describe_error
from bot.generation import messages
from bot.generation.references import check_reference
from bot.generation.uploads import prepare_upload, upload_limit
from bot.jobs.models import JobState, displayed_cost
from bot.providers.base import GenerationRequest
from cogs.checks import is_moderator, missing_permissions
from cogs.ui.attachments import AudioGone, job_audio
from cogs.ui.buttons import JobButton, job_view, result_view, soundboard_offered
from cogs.ui.presenter import JobPresenter
from cogs.ui.render import prompt_of, result_embed, safe_prompt, upload_name

log = logging.getLogger(__name__)

STATE_ICONS = {
    JobState.QUEUED: "⏳", JobState.SUBMITTING: "⚙️", JobState.RUNNING: "⚙️",
    JobState.DOWNLOADING: "📥", JobState.READY: "📥", JobState.DELIVERED: "✅",
    JobState.FAILED: "❌", JobState.CANCELLED: "✖️", JobState.EXPIRED: "⌛",
}  # fmt: skip


class ResultsCog(commands.Cog):
    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.presenter = JobPresenter(bot)

    async def cog_load(self) -> None:
        # Upload temp files and fetched-back copies of a process that crashed mid-way.
        for prefix in ("foley-upload-", "foley-show-", TEMP_PREFIX):
            await asyncio.to_thread(sweep_temp, prefix)
        self.presenter.attach()
        self.bot.presenter = self.presenter
        self.bot.job_buttons = self
        self.bot.add_dynamic_items(JobButton)

    async def cog_unload(self) -> None:
        self.bot.job_buttons = None
        self.bot.remove_dynamic_items(JobButton)
        await self.presenter.close()

    @property
    def services(self) -> Any:
        return self.bot.services

    def _cost(self, job: Any) -> int:
        return displayed_cost(job, self.services.pricing.actual_tokens)

    # -- buttons --------------------------------------------------------------------
    async def handle_job_button(
        self, interaction: discord.Interaction, action: str, job_id: str
    ) -> None:
        try:
            await getattr(self, f"_on_{action}")(interaction, job_id)
        except Exception as exc:
            # Buttons are not app commands: the tree's error handler never sees them.
            report = describe_error(exc, context=f"button {action}")
            await send_ephemeral(interaction, report.message)

    async def _job(self, interaction: discord.Interaction, job_id: str) -> Any:
        job = await self.services.generation.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            raise UserError(f"I can't find job `{job_id}` on this server.")
        return job

    async def _on_cancel(self, interaction: discord.Interaction, job_id: str) -> None:
        moderator = await is_moderator(interaction, self.services)
        outcome = await self.services.engine.cancel(
            job_id, interaction.user.id, moderator=moderator
        )
        await interaction.response.send_message(messages.cancel_text(outcome), ephemeral=True)

    async def _on_delete(self, interaction: discord.Interaction, job_id: str) -> None:
        job = await self._job(interaction, job_id)
        if interaction.user.id != job.user_id and not await is_moderator(
            interaction, self.services
        ):
            raise UserError("Only the person who made this or a moderator can delete it.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.message is not None:
            await interaction.message.delete()
        await interaction.followup.send("Deleted.", ephemeral=True)

    async def _on_play(self, interaction: discord.Interaction, job_id: str) -> None:
        voice = self.bot.voice
        if voice is None:
            raise UserError("Voice playback isn't available on this bot.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await voice.enqueue_for(interaction, job_id)
        await interaction.followup.send(text, ephemeral=True)

    async def _on_soundboard(self, interaction: discord.Interaction, job_id: str) -> None:
        soundboard = self.bot.soundboard
        if soundboard is None:
            raise UserError("Soundboard sounds aren't available on this bot.")
        await soundboard.open_form(interaction, await self._job(interaction, job_id))

    async def _on_again(self, interaction: discord.Interaction, job_id: str) -> None:
        job = await self._job(interaction, job_id)
        problem = self.services.generation.request_unavailable(job.request)
        if problem:
            raise UserError(problem)
        await check_reference(job.request.params)  # before the cost is even offered
        estimate = await self.services.generation.estimate(job.request)
        # Every parameter is reused; the seed only when the member picks "same seed".
        seeded = job.request.params.get("seed") is not None
        actions = ("confirm", "sameseed") if seeded else ("confirm",)
        label = f"Run again{' with a new seed' if seeded else ''} (≈{estimate:,} tokens)"
        view = job_view(job.id, *actions, confirm_label=label)
        seed_note = (
            f" It used seed {job.request.params['seed']}: keep it to get the same result."
            if seeded
            else ""
        )
        await interaction.response.send_message(
            f"Run **{safe_prompt(prompt_of(job), 100)}** again as a new job? "
            f"It costs about {messages.tokens(estimate)} from your allowance.{seed_note}",
            view=view,
            ephemeral=True,
        )

    async def _on_sameseed(self, interaction: discord.Interaction, job_id: str) -> None:
        await self._on_confirm(interaction, job_id, same_seed=True)

    async def _on_confirm(
        self, interaction: discord.Interaction, job_id: str, *, same_seed: bool = False
    ) -> None:
        job = await self._job(interaction, job_id)
        request = job.request
        if not same_seed and "seed" in request.params:
            params = {k: v for k, v in request.params.items() if k != "seed"}
            request = GenerationRequest(request.kind, request.model, params)
        generate = self.bot.job_starter
        problem = self.services.generation.request_unavailable(request)
        missing = missing_permissions(interaction)
        if missing and not problem:
            problem = f"I can't post results in this channel: I need {', '.join(missing)} here."
        if problem or generate is None:
            raise UserError(problem or "Generation isn't available right now.")
        await interaction.response.edit_message(content="Starting a new job…", view=None)
        status = await interaction.followup.send(f"⏳ Starting again: `{job.id}`…", wait=True)
        try:
            await generate.start(interaction, request, status.id)
        except Exception as exc:
            await status.delete()
            await interaction.followup.send(generate.explain(exc, interaction), ephemeral=True)

    # -- /job and /history -------------------------------------------------------------
    @app_commands.command(name="job", description="Show a past result again, with its buttons")
    @app_commands.describe(id="The job id (shown under every result)")
    @app_commands.guild_only()
    async def job(self, interaction: discord.Interaction, id: str) -> None:
        job = await self._job(interaction, id)
        if job.state not in (JobState.READY, JobState.DELIVERED):
            raise UserError(
                f"Job `{job.id}` has no result to show ({job.state.value}). "
                "Use /history to see your jobs."
            )
        await interaction.response.defer(thinking=True)
        with tempfile.TemporaryDirectory(prefix="foley-show-") as workdir:
            try:  # the file here, else fetched back from the result message
                async with job_audio(self.bot, job, purpose="attach") as path:
                    limit = upload_limit(interaction.filesize_limit)
                    upload = await prepare_upload(self.services.ffmpeg, path, limit, Path(workdir))
                    files = []
                    if upload.path is not None:
                        name = upload_name(job, upload.path)
                        files.append(discord.File(upload.path, filename=name))
                    await self._show(interaction, job, files, upload.note)
            except AudioGone as exc:
                await self._show(interaction, job, [], str(exc))

    async def _show(
        self,
        interaction: discord.Interaction,
        job: Any,
        files: list[discord.File],
        note: str | None,
    ) -> None:
        embed = result_embed(job, self._cost(job), None, note, full=True)
        if job.result_message_id and job.channel_id and interaction.guild_id:
            link = (
                f"https://discord.com/channels/{interaction.guild_id}/"
                f"{job.channel_id}/{job.result_message_id}"
            )
            embed.url = link
        view = result_view(
            job.id,
            playable=self.bot.voice is not None,
            soundboard=await soundboard_offered(self.bot, job.guild_id),
        )
        await interaction.edit_original_response(embed=embed, attachments=files, view=view)

    @job.autocomplete("id")
    async def job_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        jobs = await self.services.generation.recent_for(
            interaction.guild_id or 0, interaction.user.id, 25
        )
        return [
            app_commands.Choice(name=f"{j.id} · {j.kind} · {prompt_of(j)}"[:100], value=j.id)
            for j in jobs
            if j.id.startswith(current.strip().lower())
        ][:25]

    @app_commands.command(name="history", description="Your recent jobs on this server")
    @app_commands.guild_only()
    async def history(self, interaction: discord.Interaction) -> None:
        jobs = await self.services.generation.recent_for(
            interaction.guild_id or 0, interaction.user.id, 10
        )
        if not jobs:
            await interaction.response.send_message(
                "You haven't made anything here yet. Try /music, /say or /sfx.", ephemeral=True
            )
            return
        lines = ["**Your recent jobs**"]
        for j in jobs:
            lines.append(
                f"{STATE_ICONS.get(j.state, '•')} `{j.id}` · {j.kind} · {self._cost(j):,} tokens · "
                f"<t:{int(j.created_at)}:R> — {safe_prompt(prompt_of(j), 60)}"
            )
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


async def setup(bot: Any) -> None:
    await bot.add_cog(ResultsCog(bot))
