"""The dashboard's player route for a job whose file is not on this machine: a redirect
to the result message's Discord attachment, else one sentence (no browser needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.dashboard.test_sums_backends import signed_in
from tests.dashboard.world import MOD_ID, dashboard_world
from tests.e2e.test_generate import _job_id, run_to_result
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID


async def test_audio_redirects_to_the_attachment_then_says_it_is_gone(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        _, message = await run_to_result(world.foley, "sfx", prompt="thunder", duration=1)
        job = await world.foley.services.engine.get(_job_id(message))
        assert job is not None and job.output_path
        url = f"{world.base_url}/g/{GUILD_ID}/jobs/{job.id}/audio"
        client = await signed_in(await world.link_for(MOD_ID))
        try:
            async with client.get(url) as resp:  # the file is here: served from disk
                assert resp.status == 200 and await resp.read() == message.attachments[0].data
            await asyncio.to_thread(Path(job.output_path).unlink)
            async with client.get(url, allow_redirects=False) as resp:
                assert resp.status == 302
                assert resp.headers["Location"] == message.attachments[0].url
            world.fake.delete_message(world.fake.messages[message.id], "deleted (test)")
            async with client.get(url, allow_redirects=False) as resp:
                assert resp.status == 404
                assert await resp.text() == (
                    "This job's audio is gone: the file expired and no message has it."
                )
        finally:
            await client.close()
