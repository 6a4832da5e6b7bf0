"""The sentences members read: refusals, progress, failures, cancellations.

Plain text (Discord markdown and ``<t:…>`` timestamps are just text), so the
wording is tested without Discord and shared by every command and button.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.jobs.models import CancelOutcome, CancelResult, Job, JobState, JobUpdate
from bot.providers.base import JobKind
from bot.providers.errors import ErrorKind
from bot.quotas import QuotaExceeded, RefusalReason

KIND_TITLES = {JobKind.MUSIC: "🎵 Music", JobKind.SAY: "🗣️ Speech", JobKind.SFX: "💥 Sound effect"}
BAR_CELLS = 12


# Members' text shown back inside the bot's own messages loses the invisible
# characters that could reorder or hide the text around it: every format
# character (Unicode category Cf: bidi embeddings, overrides and isolates
# U+202A–U+202E / U+2066–U+2069, the marks U+200E/U+200F/U+061C, zero-width
# spaces, word joiners, BOM, tag characters) and control characters. ZWNJ and
# ZWJ stay: Persian and Indic spelling and emoji sequences need them, and they
# reorder nothing.
_KEEP_FORMAT = frozenset({"\u200c", "\u200d"})


def echo_text(text: str) -> str:
    """A member's text as the bot may quote it: one line, no invisible format characters."""
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf" and ch not in _KEEP_FORMAT:
            continue
        out.append(" " if category == "Cc" else ch)  # newlines, tabs, escapes: a space
    return " ".join("".join(out).split())


def prompt_text(params: Mapping[str, Any]) -> str:
    """A job's prompt (or /say text) as every message and title echoes it."""
    return echo_text(str(params.get("prompt") or params.get("text") or ""))


def tokens(n: int | float) -> str:
    return f"{round(n):,} tokens"


def when(moment: datetime | float | None) -> str:
    """A Discord timestamp: each member sees it in their own time zone."""
    if moment is None:
        return "later"
    ts = int(moment.timestamp() if isinstance(moment, datetime) else moment)
    return f"<t:{ts}:R> (<t:{ts}:f>)"


def refusal(exc: QuotaExceeded) -> str:
    reason = exc.reason
    if reason is RefusalReason.BLOCKED:
        return "A moderator has paused your access to generation on this server."
    if reason is RefusalReason.COOLDOWN:
        return f"Please wait a moment: you can start another generation {when(exc.resets_at)}."
    if reason is RefusalReason.GUILD_BUDGET:
        return (
            f"This server's token budget is used up for now ({tokens(exc.remaining)} left, "
            f"this needs {tokens(exc.needed)}). It resets {when(exc.resets_at)}. "
            "Nothing was charged."
        )
    if reason is RefusalReason.GLOBAL_DAILY:
        return (
            "The bot has reached its daily spending cap across all servers. "
            f"It resets {when(exc.resets_at)}. Nothing was charged."
        )
    if exc.overdrawn > 0:
        return (
            f"You've used up your allowance and are {tokens(exc.overdrawn)} over it: a job is "
            "charged what the provider really billed, which can be more than its quote. "
            f"Your allowance resets {when(exc.resets_at)}. Nothing was charged for this request."
        )
    return (
        f"You don't have enough tokens left: this needs {tokens(exc.needed)} and you have "
        f"{tokens(exc.remaining)}. Your allowance resets {when(exc.resets_at)}. "
        "Nothing was charged; a shorter or simpler request may fit."
    )


def progress_bar(fraction: float) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    full = round(fraction * BAR_CELLS)
    return "▰" * full + "▱" * (BAR_CELLS - full)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def state_line(update: JobUpdate) -> str:
    """One line that changes only when something a member would notice changes."""
    state = update.state
    if state is JobState.QUEUED:
        position = update.queue_position
        # Exact near the front; rounded further back, so a long queue moving by one
        # does not re-edit every waiting job's message.
        if position and position > 5:
            ahead = f" — position ~{5 * round(position / 5)}"
        else:
            ahead = f" — position {position}" if position else ""
        return f"⏳ Waiting in line{ahead}"
    if state in (JobState.SUBMITTING, JobState.RUNNING):
        elapsed = update.elapsed_s or 0.0
        eta = update.eta_s
        if eta is None:
            return f"⚙️ Generating… {clock(elapsed)} elapsed"
        fraction = elapsed / (elapsed + eta) if elapsed + eta > 0 else 0.0
        # Round the ETA to 5 s so the line (and so the message) does not change every poll.
        eta_text = f"~{clock(5 * round(eta / 5))} left" if eta > 0 else "almost done"
        return f"⚙️ {progress_bar(fraction)} {clock(elapsed)} elapsed · {eta_text}"
    if state in (JobState.DOWNLOADING, JobState.READY):
        return f"📥 {progress_bar(1.0)} Finishing up…"
    return ""


def failure_text(job: Job) -> str:
    """Why a job ended without a result, and what happened to the member's tokens.

    "were refunded" only once the ledger booked it (``ledger_done_at``); a refund
    whose write failed is still owed and paid later, so it "will be" refunded.
    """
    refunded = f"Your tokens {refund_verb(job.ledger_done_at is None)}."
    if job.state is JobState.CANCELLED:
        return "✖ Cancelled."
    if job.state is JobState.EXPIRED:
        return f"⌛ This took too long and was stopped. {refunded} Please try again."
    kind = job.error_kind or ""
    message = (job.error_message or "").strip()
    if kind == "interrupted":
        return f"⚠️ The bot restarted while sending this job. {refunded} Please try again."
    if kind == "delivery_failed":
        return (
            "⚠️ The result was generated but couldn't be posted here. "
            "Use `/job` with this job's id to get it."
        )
    if kind in {e.value for e in ErrorKind} and message:
        # Provider reasons ("…: prompt refused") come without a full stop; without
        # one the refund sentence runs on from them.
        if not message.endswith((".", "!", "?", "…")):
            message += "."
        return f"❌ {message} {refunded}"
    return f"❌ Something went wrong with this job. {refunded} Please try again."


def refund_verb(pending: bool) -> str:
    return "will be refunded" if pending else "were refunded"


def cancel_text(outcome: CancelOutcome) -> str:
    if outcome.result is CancelResult.NOT_FOUND:
        return "I can't find that job."
    if outcome.result is CancelResult.NOT_ALLOWED:
        return "Only the person who started this job or a moderator can cancel it."
    if outcome.result is CancelResult.ALREADY_FINISHED:
        return "This job has already finished, so there is nothing to cancel."
    refunded = refund_verb(outcome.ledger_pending)
    if outcome.refunded and not outcome.provider_charges:
        return f"Cancelled before it started. Your tokens {refunded}."
    if outcome.refunded:
        return f"Cancelled. The provider had already started, but your tokens {refunded}."
    return (
        "Cancelled. The provider had already started and still charges for it, so "
        f"{tokens(outcome.charged_tokens)} stay spent."
    )
