"""The fault matrix: every command × every fault the simulator (or the fake Discord) can inject.

For each case the test asserts what a member and an operator care about:

- the job reaches a terminal state within its timeout (no job stuck "generating");
- the member reads the specific reason in the job's status message (the provider
  error's user message, the timeout text, or the "couldn't be posted" text);
- the ledger is closed the right way: refunded when nothing usable was made,
  settled when the audio was generated (delivered, or generated but undeliverable),
  and already closed at the moment the terminal update (which tells the member)
  goes out — a listener reads the SQLite file right then;
- the same bot then serves a healthy ``/sfx`` (nothing wedged: slots released,
  breaker untouched, presenter still editing).

One bot serves the whole matrix (starting one costs ~2 s); faults are cleared
between cases, and the breaker threshold is set out of reach so earlier cases
cannot refuse later ones (the breaker has its own test in test_ops_breaker.py).
The table is written to ``.pytest_cache/foley/fault-matrix.md`` (git-ignored;
printed, with its path, only when output is not captured: ``-s``), so it never
lands among the ``-q`` progress dots; ``FOLEY_WRITE_RELIABILITY=1`` also writes
it to docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.generation.messages import failure_text
from bot.jobs.models import Job, JobUpdate
from bot.simulator import Fault, Simulator, Timings
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_faults import RestFault
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID, populate_default_world

pytestmark = pytest.mark.asyncio(loop_scope="module")

COMMANDS = ("music", "say", "sfx", "job")
JOB_TIMEOUT_S = 5.0
PROVIDER_TIMEOUT_S = 1.0
MAX_DOWNLOAD = 2 * 1024 * 1024  # small, so "oversize" needs only a few MiB of fake audio
OVERSIZE = 4 * 1024 * 1024
DOC = Path(__file__).resolve().parents[2] / "docs" / "RELIABILITY.md"
OPTIONS: dict[str, dict[str, Any]] = {
    "music": {"prompt": "matrix groove", "duration": 2},
    "say": {"text": "Matrix line."},
    "sfx": {"prompt": "matrix thud", "duration": 1.0},
}
SERVICE = {"music": "aimlapi", "say": "elevenlabs", "sfx": "elevenlabs"}
MAIN_OP = {"music": "submit", "say": "tts", "sfx": "sfx"}
# The upload is the only multipart edit of the status message; the status edits
# (JSON) still go through, so the member can be told what happened.
UPLOAD = r"^/webhooks/\d+/[^/]+/messages/\d+$"

Inject = Callable[[Foley, str], None]


def sim_fault(kind: str, op: str | None = None, **fields: Any) -> Inject:
    def inject(foley: Foley, command: str) -> None:
        foley.sim.faults.add(
            Fault(service=SERVICE[command], op=op or MAIN_OP[command], kind=kind, **fields)
        )

    return inject


def discord_fault(status: int, code: int, message: str, times: int | None = None) -> Inject:
    def inject(foley: Foley, command: str) -> None:
        foley.fake.rest_faults.add(
            RestFault(method="PATCH", path=UPLOAD, with_files=True, status=status, code=code,
                      message=message, times=times)
        )  # fmt: skip

    return inject


@dataclass(frozen=True)
class Case:
    command: str
    fault: str  # the row label in the table
    inject: Inject
    state: str  # expected terminal state
    says: str  # a phrase the member must read
    tokens: str  # "refunded" or "settled"

    @property
    def id(self) -> str:
        return f"{self.command}-{self.fault}"


SERVER_DOWN = "is having trouble right now. Try again later."


def provider_cases(command: str, name: str) -> list[Case]:
    """The faults every command shares, on its paid call (submit / tts / sfx)."""
    return [
        Case(command, "HTTP 500", sim_fault("server_error"), "failed", f"{name} {SERVER_DOWN}",
             "refunded"),
        Case(command, "HTTP 429 + Retry-After", sim_fault("rate_limited", retry_after=0.2),
             "failed", f"{name} is busy right now. Try again in a minute.", "refunded"),
        Case(command, "hang past PROVIDER_TIMEOUT_S", sim_fault("hang", delay=30),
             "failed", f"{name} {SERVER_DOWN}", "refunded"),
        Case(command, "malformed reply", sim_fault("malformed"), "failed",
             f"{name} {SERVER_DOWN}", "refunded"),
        Case(command, "connection reset", sim_fault("connection_reset"), "failed",
             f"{name} {SERVER_DOWN}", "refunded"),
        Case(command, "invalid key (401)", sim_fault("invalid_key"), "failed",
             f"{name} rejected the bot's API key. Ask the bot operator to check it.",
             "refunded"),
        Case(command, "out of credits", sim_fault("out_of_credits"), "failed",
             f"The bot's {name} account is out of credits. Ask the bot operator to top it up.",
             "refunded"),
    ]  # fmt: skip


def discord_cases(command: str) -> list[Case]:
    return [
        Case(command, "Discord 500 on upload (once)",
             discord_fault(500, 0, "500: Internal Server Error", times=1),
             "delivered", "(result posted)", "settled"),
        Case(command, "Discord 403 on upload",
             discord_fault(403, 50013, "Missing Permissions"),
             "failed", "The result was generated but couldn't be posted here. Use `/job`",
             "settled"),
    ]  # fmt: skip


MUSIC = "AI/ML API"
SPEECH = "ElevenLabs"
CASES: list[Case] = [
    *provider_cases("music", MUSIC),
    Case("music", "job status error", sim_fault("job_error", message="prompt refused"),
         "failed", "AI/ML API could not generate this audio: prompt refused", "refunded"),
    Case("music", "poll 5xx until JOB_TIMEOUT_S", sim_fault("server_error", op="poll"),
         "expired", "This took too long and was stopped. Your tokens were refunded.",
         "refunded"),
    Case("music", "download 404", sim_fault("not_found", op="download"), "failed",
         "The generated file is no longer available. Try generating it again.", "refunded"),
    Case("music", "download oversize", sim_fault("oversize", op="download", size=OVERSIZE),
         "failed", "The generated file is larger than this bot allows.", "refunded"),
    Case("music", "download not audio", sim_fault("not_audio", op="download"), "failed",
         "The generated file could not be fetched safely.", "refunded"),
    *discord_cases("music"),
    *provider_cases("say", SPEECH),
    Case("say", "voice 404 (voice deleted)",
         sim_fault("not_found", error_status="voice_not_found",
                   message="A voice with voice_id JBFqnCBsd6RMkjVDRZzb does not exist."),
         "failed",
         "That voice does not exist. Pick one from the list.", "refunded"),
    Case("say", "oversize audio", sim_fault("oversize", size=OVERSIZE), "failed",
         "The generated file is larger than this bot allows.", "refunded"),
    Case("say", "not audio", sim_fault("not_audio"), "failed",
         "ElevenLabs sent back something that isn't audio. Please try again.", "refunded"),
    *discord_cases("say"),
    *provider_cases("sfx", SPEECH),
    Case("sfx", "oversize audio", sim_fault("oversize", size=OVERSIZE), "failed",
         "The generated file is larger than this bot allows.", "refunded"),
    Case("sfx", "not audio", sim_fault("not_audio"), "failed",
         "ElevenLabs sent back something that isn't audio. Please try again.", "refunded"),
    *discord_cases("sfx"),
]  # fmt: skip


@dataclass
class Outcome:
    case: Case
    state: str
    message: str
    tokens: str
    seconds: float


@dataclass
class Matrix:
    outcomes: dict[str, Outcome] = field(default_factory=dict)


@dataclass
class LedgerAtPublish:
    """Engine listener: a job's ledger entry kinds when its terminal update went out."""

    database: Path
    seen: dict[str, list[str]] = field(default_factory=dict)

    def __call__(self, update: JobUpdate) -> None:
        if not update.terminal:
            return
        # Synchronously, on its own connection: what is committed at this very moment.
        with sqlite3.connect(self.database) as conn:
            rows = conn.execute(
                "SELECT kind FROM ledger WHERE job_id = ? ORDER BY entry_id", (update.job_id,)
            ).fetchall()
        self.seen[update.job_id] = [kind for (kind,) in rows]


# -- one bot for the module ---------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix_foley(
    tmp_path_factory: pytest.TempPathFactory, simulator_audio_cache: Path
) -> AsyncIterator[Foley]:
    fake = FakeDiscord()
    populate_default_world(fake)
    await fake.start()
    sim = Simulator(timings=Timings.fast(), audio_cache_dir=simulator_audio_cache)
    await sim.start("127.0.0.1", 0)
    try:
        async with running_foley(
            fake, sim, tmp_path_factory.mktemp("matrix"), commands=COMMANDS,
            job_timeout_s=JOB_TIMEOUT_S, provider_timeout_s=PROVIDER_TIMEOUT_S,
            max_download_bytes=MAX_DOWNLOAD, provider_breaker_threshold=10_000,
            default_user_tokens=10**12, default_guild_tokens=10**12, global_daily_tokens=10**12,
        ) as foley:  # fmt: skip
            yield foley
    finally:
        await sim.stop()
        await fake.stop()
    assert not fake.internal_errors, "\n".join(fake.internal_errors)


@pytest.fixture(scope="module")
def published(matrix_foley: Foley) -> Iterator[LedgerAtPublish]:
    listener = LedgerAtPublish(matrix_foley.services.settings.database_path)
    remove = matrix_foley.services.engine.add_listener(listener)
    yield listener
    remove()


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> Iterator[Matrix]:
    collected = Matrix()
    yield collected
    if not collected.outcomes:
        return
    table = render_table(collected)
    out = request.config.rootpath / ".pytest_cache" / "foley" / "fault-matrix.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n", encoding="utf-8")
    if request.config.getoption("capture") == "no":  # -s: the reader asked to see output
        print(f"\nfault matrix ({len(collected.outcomes)} cases), also in {out}:\n{table}")
    complete = len(collected.outcomes) == len(CASES)
    if os.environ.get("FOLEY_WRITE_RELIABILITY") == "1" and complete:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(render_doc(table), encoding="utf-8")


# -- running one case -----------------------------------------------------------------------------


async def job_for(foley: Foley, message_id: int, user_id: int) -> Job:
    """The job whose status message is ``message_id`` (it is written just after the defer)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for job in await foley.services.generation.recent_for(GUILD_ID, user_id, 5):
            if job.status_message_id == message_id:
                return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"no job was started for message {message_id}")


async def until_terminal(
    foley: Foley, published: LedgerAtPublish, job_id: str, timeout: float
) -> Job:
    """The job once terminal AND its settle/refund is booked (or is known to have failed)."""
    deadline = time.monotonic() + timeout
    while True:
        job = await foley.services.engine.get(job_id)
        assert job is not None
        # The terminal update is published after the ledger write; wait for it too,
        # so the expected text below is computed from the row the presenter reads.
        if job.terminal and job_id in published.seen:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.state} after {timeout:g} s")
        await asyncio.sleep(0.05)


async def ledger_outcome(foley: Foley, job: Job) -> str:
    rows = await foley.services.db.fetchall(
        "SELECT kind, amount FROM ledger WHERE job_id = ? ORDER BY entry_id", (job.id,)
    )
    kinds = [r["kind"] for r in rows]
    net = sum(int(r["amount"]) for r in rows)
    if kinds == ["reserve", "refund"] and net == 0:
        return "refunded"
    if kinds == ["reserve", "settle"] and net == job.actual_tokens and net > 0:
        return "settled"
    return f"unexpected ledger {kinds} net {net}"


def member_text(message: Any) -> str:
    """What the member reads in the status message: its last line, or "(result posted)"."""
    if message.attachments:
        return "(result posted)"
    return (message.content or "").strip().splitlines()[-1]


CLOSING = {"refunded": "refund", "settled": "settle"}


async def run_case(foley: Foley, published: LedgerAtPublish, case: Case) -> Outcome:
    foley.sim.faults.clear()
    foley.fake.rest_faults.clear()
    case.inject(foley, case.command)
    started = time.monotonic()
    inter = await foley.invoke(case.command, MEMBER_ID, **OPTIONS[case.command])
    await inter.wait_response(timeout=5)
    original = await inter.wait_for_original(timeout=5)
    job = await job_for(foley, original.id, MEMBER_ID)
    # Provider calls are bounded by the job deadline; delivery retries by a few seconds more.
    job = await until_terminal(foley, published, job.id, JOB_TIMEOUT_S + 10)
    seconds = time.monotonic() - started
    if str(job.state) == "delivered":
        shown = await inter.wait_for_original(lambda m: bool(m.attachments), timeout=10)
    else:
        # The presenter edits at most every 2 s, so the final text may lag the state.
        final = failure_text(job)
        shown = await inter.wait_for_original(lambda m: final in (m.content or ""), timeout=10)
    tokens = await ledger_outcome(foley, job)
    # What the ledger held when the member was told: already closed, never just reserved.
    at_publish = published.seen[job.id]
    assert at_publish == ["reserve", CLOSING.get(tokens)], (case.id, at_publish)
    outcome = Outcome(case, str(job.state), member_text(shown), tokens, seconds)
    foley.sim.faults.clear()
    foley.fake.rest_faults.clear()
    return outcome


async def healthy_sfx(foley: Foley) -> None:
    inter = await foley.invoke("sfx", OTHER_MEMBER_ID, prompt="still here", duration=0.5)
    await inter.wait_for_original(lambda m: bool(m.attachments), timeout=15)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_fault(
    matrix_foley: Foley, published: LedgerAtPublish, matrix: Matrix, case: Case
) -> None:
    outcome = await run_case(matrix_foley, published, case)
    matrix.outcomes[case.id] = outcome
    assert outcome.state == case.state, outcome
    assert case.says in outcome.message or case.says == outcome.message, outcome
    assert outcome.tokens == case.tokens, outcome
    # Provider work is bounded by JOB_TIMEOUT_S; delivery retries add a few seconds at most.
    assert outcome.seconds <= JOB_TIMEOUT_S + 3, outcome
    await healthy_sfx(matrix_foley)


REFUSE_REFUNDS = """
CREATE TRIGGER test_refuse_refunds BEFORE INSERT ON ledger WHEN NEW.kind = 'refund'
BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END
"""


async def test_refund_the_database_refuses_is_promised_not_claimed(
    matrix_foley: Foley, published: LedgerAtPublish
) -> None:
    """The refund write fails (SQLite refuses it): the member reads "will be refunded"."""
    foley = matrix_foley
    await foley.services.db.execute(REFUSE_REFUNDS)
    try:
        sim_fault("not_found", op="download")(foley, "music")
        inter = await foley.invoke("music", MEMBER_ID, **OPTIONS["music"])
        original = await inter.wait_for_original(timeout=5)
        started = await job_for(foley, original.id, MEMBER_ID)
        job = await until_terminal(foley, published, started.id, JOB_TIMEOUT_S + 10)
        assert published.seen[job.id] == ["reserve"] and job.ledger_done_at is None
        shown = await inter.wait_for_original(
            lambda m: "will be refunded" in (m.content or ""), timeout=10
        )
        assert member_text(shown) == (
            "❌ The generated file is no longer available. Try generating it again. "
            "Your tokens will be refunded."
        )
    finally:
        foley.sim.faults.clear()
        await foley.services.db.execute("DROP TRIGGER IF EXISTS test_refuse_refunds")
    await foley.services.engine.recovery.pay_owed_ledger()  # the maintenance loop's job
    assert await ledger_outcome(foley, job) == "refunded"
    await healthy_sfx(foley)


# -- the table ------------------------------------------------------------------------------------


def render_table(matrix: Matrix) -> str:
    lines = [
        "| Command | Fault | Final state | Member reads | Tokens | Time |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        outcome = matrix.outcomes.get(case.id)
        if outcome is None:
            continue
        text = outcome.message.replace("|", "\\|")
        lines.append(
            f"| /{case.command} | {case.fault} | {outcome.state} | {text} | "
            f"{outcome.tokens} | {outcome.seconds:.1f} s |"
        )
    return "\n".join(lines)


def render_doc(table: str) -> str:
    limits = (
        f"`JOB_TIMEOUT_S={JOB_TIMEOUT_S:g}`, `PROVIDER_TIMEOUT_S={PROVIDER_TIMEOUT_S:g}`, "
        f"`MAX_DOWNLOAD_BYTES={MAX_DOWNLOAD // (1024 * 1024)} MiB`"
    )
    return f"""# Reliability: what members see when things break

Generated by `FOLEY_WRITE_RELIABILITY=1 pytest tests/e2e/test_fault_matrix.py` — do
not edit by hand; change the cases in the test and regenerate.

Each row ran against the real bot (fake Discord, provider simulator) with
{limits} and fast
retries (3 attempts). The fault is injected on the command's paid call unless
the row says otherwise (/music: `POST /v2/generate/audio`; /say: text to
speech; /sfx: sound generation). In every row the job reached a terminal state,
the member's status message was replaced by the reason, the ledger was closed
(refunded, or settled when audio was generated) and the same bot then delivered
a healthy /sfx.

"Member reads" is the last line of the job's status message. "Time" is from the
command to the terminal state. A provider outage that repeats opens the circuit
breaker (`PROVIDER_BREAKER_THRESHOLD`), after which new commands are refused up
front with nothing charged; that path is covered by `tests/e2e/test_ops_breaker.py`
and disabled here so that each row shows one fault on its own.

{table}

Notes:

- Paid calls are never retried once they may have reached the provider (500,
  timeout, reset, malformed reply): retrying could bill the operator twice. 429
  and connection-refused are retried (honouring `Retry-After`), then reported.
- Polls and downloads are reads and are retried; a poll that keeps failing ends
  at `JOB_TIMEOUT_S` as *expired*, refunded.
- "Generated but couldn't be posted" jobs are *settled*: the provider charged for
  the audio, which stays reachable with `/job <id>` and voice playback.
- discord.py retries Discord 5xx itself (1, 3, 5… s); a single 500 therefore costs
  about a second and the result is still delivered.
"""
