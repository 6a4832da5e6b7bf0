"""/music's new models and options end to end: fake Discord → real bot → simulator."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import pytest

from bot.audio import find_ffmpeg
from tests.e2e.harness import Foley, running_foley
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, TEXT_CHANNEL_ID

COMMANDS = ("music", "job")
FFMPEG = find_ffmpeg(None)
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
LYRICS = "[Verse]\nStreetlights flicker, the night breeze sighs\n\n[Chorus]\nPushing the door"


def finished(message) -> bool:
    return bool(message.attachments) or bool(message.embeds)


def wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


async def low_bitrate_mp3(tmp: Path, seconds: int) -> bytes:
    assert FFMPEG
    path = tmp / "long.mp3"
    proc = await asyncio.create_subprocess_exec(
        FFMPEG,
        "-y",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=8000:cl=mono",
        "-t",
        str(seconds),
        "-b:a",
        "8k",
        str(path),
    )
    assert await proc.wait() == 0
    return path.read_bytes()


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path: Path):
    # Room for two of the dearer models' jobs (🔁 Again).
    async with running_foley(
        fake_discord, simulator, tmp_path, commands=COMMANDS, default_user_tokens=1_000_000
    ) as running:
        yield running


def submitted(foley: Foley) -> list[dict]:
    return [r.json for r in foley.sim.requests_for("aimlapi", "submit")]


async def nothing_spent(foley: Foley) -> None:
    assert submitted(foley) == []
    usage = await foley.services.ledger.usage(GUILD_ID, MEMBER_ID, ())
    assert usage.spent == 0 and usage.recent_jobs == []


async def test_lyrics_open_a_modal_and_reach_the_provider_with_their_newlines(
    foley: Foley,
) -> None:
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="dreamy synth pop", model="minimax-music", lyrics=True
    )
    await inter.wait_response(timeout=5)
    modal = inter.modal
    assert modal is not None, "the modal must be the first response"
    inputs = {
        c["custom_id"]: c
        for row in modal["components"]
        for c in row.get("components", [row.get("component", {})])
    }
    prompt_id, lyrics_id = list(inputs)
    assert inputs[prompt_id]["value"] == "dreamy synth pop"  # prefilled
    assert inputs[lyrics_id]["style"] == 2  # paragraph: multi-line
    done = await foley.fake.submit_modal(inter, {prompt_id: "dreamy synth pop", lyrics_id: LYRICS})
    await done.wait_for_original(finished, timeout=30)
    (body,) = submitted(foley)
    assert body["model"] == "minimax/music-2.6"
    assert body["lyrics"] == LYRICS  # newlines intact, the blank line too
    assert "lyrics_optimizer" not in body


async def test_instrumental(foley: Foley) -> None:
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="calm lo-fi beat", model="minimax-music", instrumental=True
    )
    await inter.wait_for_original(finished, timeout=30)
    (body,) = submitted(foley)
    assert body["is_instrumental"] is True and "lyrics" not in body


async def test_lyria_with_negative_and_seed(foley: Foley) -> None:
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="calm piano", model="lyria", negative="drums", seed=42
    )
    await inter.wait_for_original(finished, timeout=30)
    (body,) = submitted(foley)
    assert body == {
        "model": "google/lyria2",
        "prompt": "calm piano",
        "negative_prompt": "drums",
        "seed": 42,
    }


@needs_ffmpeg
async def test_cover_sends_the_attachment_url_and_keeps_the_file(foley: Foley) -> None:
    inter = await foley.invoke(
        "music",
        MEMBER_ID,
        prompt="a jazz cover of this",
        model="minimax-cover",
        reference=("ref.wav", wav(10)),
    )
    await inter.wait_for_original(finished, timeout=30)
    (body,) = submitted(foley)
    assert body["model"] == "minimax/music-cover"
    assert body["reference_audio_url"].startswith(foley.fake.base_url + "/attachments/")
    assert body["reference_audio_url"].endswith("/ref.wav")
    kept = list((foley.tmp / "references").iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == wav(10)


@needs_ffmpeg
@pytest.mark.parametrize("case", ["short", "long", "not audio"])
async def test_bad_reference_is_refused_before_anything_is_spent(foley: Foley, case: str) -> None:
    if case == "short":
        attachment, says = ("short.wav", wav(3)), "3 s long; it must be between 6 seconds"
    elif case == "long":
        data = await low_bitrate_mp3(foley.tmp, 600)
        assert len(data) < 2 * 1024 * 1024  # the length check refuses it, not the size one
        attachment, says = ("long.mp3", data), "600 s long; it must be between 6 seconds"
    else:
        attachment, says = ("notes.txt", b"just some text, not audio"), "isn't an audio file"
    inter = await foley.invoke(
        "music",
        MEMBER_ID,
        prompt="a jazz cover of this",
        model="minimax-cover",
        reference=attachment,
    )
    reply = await inter.wait_for_followup(lambda m: m.ephemeral, timeout=15)
    assert says in reply.content, reply.content
    await nothing_spent(foley)


async def test_seed_on_stable_audio_names_the_models_that_take_it(foley: Foley) -> None:
    inter = await foley.invoke("music", MEMBER_ID, prompt="lo-fi", model="stable-audio", seed=3)
    reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
    assert reply.ephemeral
    assert (
        "Stable Audio does not take `seed`. Models that take it: eleven-music, lyria."
        in reply.content
    )
    await nothing_spent(foley)


async def test_lyrics_on_a_model_without_them_are_refused_before_the_modal(foley: Foley) -> None:
    inter = await foley.invoke("music", MEMBER_ID, prompt="calm piano", model="lyria", lyrics=True)
    reply = await inter.wait_for_original(lambda m: not m.loading, timeout=10)
    assert inter.modal is None
    assert "Models that take it: eleven-music, minimax-music, minimax-cover" in reply.content


def fields(message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


async def click(foley: Foley, message_id: int, custom_id: str):
    return await foley.fake.click_button(
        GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, message_id, custom_id
    )


@pytest.mark.parametrize("same", [True, False])
async def test_result_shows_the_settings_and_again_reuses_them(foley: Foley, same: bool) -> None:
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="calm piano", model="lyria", negative="drums", seed=42
    )
    result = await inter.wait_for_original(finished, timeout=30)
    shown = fields(result)
    assert shown["Model"] == "Google Lyria 2" and shown["Route"] == "AI/ML API"
    assert shown["Seed"] == "42" and shown["Leaving out"] == "drums"
    job_id = shown["Job"].strip("`")
    ask = await click(foley, result.id, f"foley:again:{job_id}")
    await ask.wait_response(timeout=5)
    confirm = ask.original_message()
    assert "It used seed 42" in confirm.content
    action = "sameseed" if same else "confirm"
    assert f"foley:{action}:{job_id}" in confirm.custom_ids()
    go = await click(foley, confirm.id, f"foley:{action}:{job_id}")
    await go.wait_for_followup(lambda m: not m.ephemeral and finished(m), timeout=30)
    first, again = submitted(foley)
    assert again["negative_prompt"] == "drums" and again["prompt"] == "calm piano"
    assert again.get("seed") == (42 if same else None)
    assert first["seed"] == 42


async def test_lyrics_show_first_lines_in_the_result_and_all_in_job(foley: Foley) -> None:
    words = "\n".join(["[Verse]"] + [f"line number {i}" for i in range(1, 9)])
    inter = await foley.invoke(
        "music", MEMBER_ID, prompt="dreamy synth pop", model="minimax-music", lyrics=True
    )
    await inter.wait_response(timeout=5)
    prompt_id, lyrics_id = [
        c["custom_id"]
        for row in inter.modal["components"]
        for c in row.get("components", [row.get("component", {})])
    ]
    done = await foley.fake.submit_modal(inter, {prompt_id: "dreamy synth pop", lyrics_id: words})
    result = await done.wait_for_original(finished, timeout=30)
    lyrics = fields(result)["Lyrics"]
    assert lyrics.startswith("[Verse]\nline number 1") and "5 more lines" in lyrics
    job_id = fields(result)["Job"].strip("`")
    shown = await foley.invoke("job", MEMBER_ID, id=job_id)
    card = await shown.wait_for_original(finished, timeout=15)
    assert "line number 8" in fields(card)["Lyrics"]
