"""➕ Soundboard through the fake Discord: button → modal → POST /guilds/{id}/soundboard-sounds."""

from __future__ import annotations

import asyncio
import base64
import shutil
from pathlib import Path

import pytest

from bot.audio import decoded_seconds, find_ffmpeg
from tests.e2e.harness import Foley, running_foley
from tests.e2e.test_buttons import click, private_reply
from tests.e2e.test_generate import _job_id, run_to_result
from tests.fakes.discord_faults import RestFault
from tests.fakes.discord_http import API_PREFIX
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_state import FakeSound, Perm
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID, OWNER_ID, TEXT_CHANNEL_ID

COMMANDS = ("sfx", "settings")
FFMPEG = find_ffmpeg(None)
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is required")
ROUTE = "/guilds/{guild_id}/soundboard-sounds"


@pytest.fixture
async def foley(fake_discord: FakeDiscord, simulator, tmp_path: Path):
    async with running_foley(fake_discord, simulator, tmp_path, commands=COMMANDS) as running:
        yield running


async def measured_seconds(path: Path) -> float:
    """ffprobe's decoded duration when it is installed, else ffmpeg decoding to the end."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is not None:
        proc = await asyncio.create_subprocess_exec(
            ffprobe, "-v", "error", "-show_entries", "format=duration",
            "-of", "default=nw=1:nk=1", str(path), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return float(out.strip())
    assert FFMPEG is not None
    return await decoded_seconds(FFMPEG, path)


def posts(foley: Foley) -> list:
    return [r for r in foley.fake.requests if r.method == "POST" and r.route == API_PREFIX + ROUTE]


async def open_and_submit(foley: Foley, user: int, message_id: int, job_id: str, **values):
    opened = await click(foley, user, message_id, f"foley:soundboard:{job_id}")
    await opened.wait_response(timeout=5)
    assert opened.modal is not None, opened.callback
    form = {"name": "door slam", "emoji": "", "volume": "50", "start": "1"} | values
    submitted = await foley.fake.submit_modal(opened, form)
    return await private_reply(submitted)


async def test_result_becomes_a_soundboard_sound(foley: Foley) -> None:
    await foley.services.moderation.set_log_channel(GUILD_ID, TEXT_CHANNEL_ID, OWNER_ID)
    _, result = await run_to_result(foley, "sfx", user=OWNER_ID, prompt="door slam", duration=9.0)
    job_id = _job_id(result)
    assert f"foley:soundboard:{job_id}" in result.custom_ids()

    reply = await open_and_submit(foley, OWNER_ID, result.id, job_id, emoji="🚪")
    assert reply == "➕ Added **door slam** to the soundboard."
    (request,) = posts(foley)
    assert request.json["name"] == "door slam" and request.json["volume"] == 0.5
    assert request.json["emoji_name"] == "🚪"
    head, b64 = request.json["sound"].split(",", 1)
    assert head == "data:audio/mpeg;base64"
    data = base64.b64decode(b64)
    assert data[:3] == b"ID3" and len(data) <= 512 * 1024
    clip = foley.tmp / "clip.mp3"
    clip.write_bytes(data)
    seconds = await measured_seconds(clip)
    assert 4.5 <= seconds <= 5.2  # cut from second 1 of a 9 s sound, padding included
    (sound,) = foley.fake.guilds[GUILD_ID].soundboard
    assert sound.reason is not None and str(OWNER_ID) in sound.reason and job_id in sound.reason
    (entry, *_) = await foley.services.moderation.audit_log(GUILD_ID, limit=1)
    assert (entry.actor_id, entry.action, entry.target) == (
        OWNER_ID,
        "soundboard.add",
        f"job:{job_id}",
    )
    logged = await foley.fake.wait_for_message(
        TEXT_CHANNEL_ID, lambda m: bool(m.embeds) and m.embeds[0]["title"].startswith("Added")
    )
    change = next(f["value"] for f in logged.embeds[0]["fields"] if f["name"] == "Change")
    assert change == f"— → door slam ({sound.id})"


async def test_full_soundboard_and_missing_permissions_are_explained(foley: Foley) -> None:
    _, result = await run_to_result(foley, "sfx", user=MEMBER_ID, prompt="pop", duration=2.0)
    job_id = _job_id(result)
    # alice made it but lacks Create Expressions; bob neither made it nor moderates.
    refused = await click(foley, MEMBER_ID, result.id, f"foley:soundboard:{job_id}")
    assert "You need the Create Expressions permission" in await private_reply(refused)
    refused = await click(foley, OTHER_MEMBER_ID, result.id, f"foley:soundboard:{job_id}")
    assert "Only the person who made this or a moderator" in await private_reply(refused)
    assert posts(foley) == []  # nothing reached Discord

    guild = foley.fake.guilds[GUILD_ID]
    guild.soundboard += [
        FakeSound(n, GUILD_ID, f"s{n}", 1.0, None, b"", "audio/mpeg", foley.fake.bot, None)
        for n in range(8)  # every slot of boost tier 0
    ]
    reply = await open_and_submit(foley, OWNER_ID, result.id, job_id, start="0")
    assert reply.startswith("This server's soundboard is full.")
    assert len(posts(foley)) == 1

    bot_role = next(r for r in guild.roles.values() if r.managed)
    bot_role.permissions &= ~Perm.CREATE_EXPRESSIONS
    refused = await click(foley, OWNER_ID, result.id, f"foley:soundboard:{job_id}")
    assert "I need the Create Expressions permission" in await private_reply(refused)


async def test_bad_form_values_get_one_sentence(foley: Foley) -> None:
    _, result = await run_to_result(foley, "sfx", user=OWNER_ID, prompt="bell", duration=2.0)
    job_id = _job_id(result)
    assert (
        await open_and_submit(foley, OWNER_ID, result.id, job_id, volume="loud")
        == "The volume must be a number from 0 to 100 (percent)."
    )
    assert (
        await open_and_submit(foley, OWNER_ID, result.id, job_id, start="30")
        == "There is no audio after that start second; pick an earlier one."
    )
    assert posts(foley) == []


async def test_settings_soundboard_turns_the_button_off(foley: Foley) -> None:
    assert (await foley.reply_text("settings soundboard", MEMBER_ID, enabled=False)).startswith(
        "(private) Only moderators"
    )
    shown = await foley.reply_text("settings show", OWNER_ID)
    assert "`soundboard`: on (built-in default)" in shown
    reply = await foley.reply_text("settings soundboard", OWNER_ID, enabled=False)
    assert reply == "(private) `soundboard`: on → off."
    _, result = await run_to_result(foley, "sfx", user=OWNER_ID, prompt="hum", duration=1.0)
    assert f"foley:soundboard:{_job_id(result)}" not in result.custom_ids()
    # One setting like the others: listed with its source, audited, and reset.
    assert "`soundboard`: off (server setting)" in await foley.reply_text("settings show", OWNER_ID)
    log = await foley.services.db.fetchall("SELECT target, after_json FROM audit_log")
    assert [(r["target"], r["after_json"]) for r in log][-1] == ("setting:soundboard", '"off"')
    reply = await foley.reply_text("settings reset", OWNER_ID, key="soundboard")
    assert reply == "(private) `soundboard`: off → on."
    _, result = await run_to_result(foley, "sfx", user=OWNER_ID, prompt="hum", duration=1.0)
    assert f"foley:soundboard:{_job_id(result)}" in result.custom_ids()


async def test_discord_refusals_are_explained(foley: Foley) -> None:
    _, result = await run_to_result(foley, "sfx", user=OWNER_ID, prompt="clap", duration=2.0)
    job_id = _job_id(result)
    faults = foley.fake.rest_faults
    faults.add(
        RestFault(method="POST", path="/soundboard-sounds", status=403, code=50013,
                  message="Missing Permissions")
    )  # fmt: skip
    assert (await open_and_submit(foley, OWNER_ID, result.id, job_id, start="0")) == (
        "Discord says I may not add soundboard sounds here; a server admin needs to give "
        "Foley the Create Expressions permission."
    )
    faults.add(
        RestFault(method="POST", path="/soundboard-sounds", status=400, code=50035,
                  message="Invalid Form Body")
    )  # fmt: skip
    reply = await open_and_submit(foley, OWNER_ID, result.id, job_id, start="0")
    assert reply.startswith("Discord refused this sound: Invalid Form Body")
    assert foley.fake.guilds[GUILD_ID].soundboard == []


async def test_a_result_whose_file_was_removed_is_cut_from_its_upload(foley: Foley) -> None:
    _, result = await run_to_result(foley, "sfx", user=OWNER_ID, prompt="gong", duration=3.0)
    job_id = _job_id(result)
    job = await foley.services.engine.get(job_id)
    assert job is not None and job.output is not None
    job.output.unlink()  # retention removed the local copy; Discord keeps the upload
    assert await open_and_submit(foley, OWNER_ID, result.id, job_id, start="0") == (
        "➕ Added **door slam** to the soundboard."
    )
    (sound,) = foley.fake.guilds[GUILD_ID].soundboard
    assert sound.data[:3] == b"ID3"


async def test_a_result_whose_file_and_upload_are_gone_gets_one_sentence(foley: Foley) -> None:
    _, result = await run_to_result(foley, "sfx", user=OWNER_ID, prompt="gong", duration=3.0)
    job_id = _job_id(result)
    job = await foley.services.engine.get(job_id)
    assert job is not None and job.output is not None
    job.output.unlink()
    foley.fake.messages[result.id].attachments[0].expired = True  # the CDN answers 404
    assert await open_and_submit(foley, OWNER_ID, result.id, job_id, start="0") == (
        f"The audio of job `{job_id}` is no longer stored here, and I can't cut a sound "
        "from it: the uploaded copy is gone (HTTP 404)."
    )
    assert posts(foley) == [] and foley.fake.guilds[GUILD_ID].soundboard == []
