"""The fake Discord against the real discord.py: login, sync, slash commands, buttons,
autocomplete, subcommands, file uploads, token expiry, gateway drop/resume/outage and a
bot running in another process."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import textwrap
from collections.abc import AsyncIterator

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands

from .discord_server import FakeDiscord, point_discord_py_at
from .fixtures import (
    GUILD_ID,
    MANAGER_ROLE_ID,
    MEMBER_ID,
    OTHER_MEMBER_ID,
    TEXT_CHANNEL_ID,
    VOICE_CHANNEL_ID,
)

FILE_BYTES = b"RIFF\x00fake-wav-bytes\x00" * 64
GUILD = discord.Object(GUILD_ID)


class PingView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Again", custom_id="ping:again", style=discord.ButtonStyle.primary)
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(
            content=f"clicked by {interaction.user.id}", view=None
        )


class NameForm(discord.ui.Modal, title="Name it"):
    name: discord.ui.TextInput[NameForm] = discord.ui.TextInput(label="Name", custom_id="form:name")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"got {self.name.value}")  # replaces "thinking..."
        await interaction.followup.send("second")


class QuotaGroup(app_commands.Group):
    @app_commands.command(name="set", description="Set a member's quota")
    async def set_(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        amount: app_commands.Range[int, 1, 100],
    ) -> None:
        await interaction.response.send_message(
            f"{type(user).__name__}:{user.id}:{amount}", ephemeral=True
        )

    limit = app_commands.Group(name="limit", description="Limits")

    @limit.command(name="where", description="Role and voice channel options")
    async def where(
        self, interaction: discord.Interaction, role: discord.Role, channel: discord.VoiceChannel
    ) -> None:
        await interaction.response.send_message(f"{role.name}@{channel.name}")


class FakeTestBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.release_slow = asyncio.Event()
        self.slow_errors: list[discord.HTTPException] = []
        self.slow_done = asyncio.Event()

    async def setup_hook(self) -> None:
        tree = self.tree

        @tree.command(name="ping", description="Defer, then answer with a file and a button")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(
                content="pong",
                view=PingView(),
                attachments=[discord.File(io.BytesIO(FILE_BYTES), "pong.wav")],
            )

        @tree.command(name="slow", description="Defer and finish after the token died")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            original = await interaction.original_response()
            await self.release_slow.wait()
            try:
                await interaction.edit_original_response(content="too late?")
            except discord.HTTPException as exc:
                self.slow_errors.append(exc)
                channel = interaction.channel
                assert isinstance(channel, discord.TextChannel)
                await channel.get_partial_message(original.id).edit(content="done via bot route")
            self.slow_done.set()

        @tree.command(name="music", description="Make music")
        @app_commands.describe(prompt="What to play")
        async def music(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.send_message(prompt)

        @music.autocomplete("prompt")
        async def music_prompt(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [
                app_commands.Choice(name=f"{current} {i}", value=f"{current}-{i}")
                for i in range(30)
            ][:25]

        @tree.command(name="form", description="Open a modal")
        async def form(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(NameForm())

        tree.add_command(QuotaGroup(name="quota", description="Quota admin"))


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[FakeTestBot]:
    """A logged-in, connected bot with its commands synced to the test guild."""
    with point_discord_py_at(fake_discord):
        client = FakeTestBot()
        await client.login(fake_discord.token)
        runner = asyncio.create_task(client.connect(reconnect=True))
        try:
            await fake_discord.wait_until_ready(timeout=10)
            client.tree.copy_global_to(guild=GUILD)  # sync(guild=) only sends guild commands
            await client.tree.sync(guild=GUILD)
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(runner, 5)


def test_point_discord_py_at_restores_globals(fake_discord: FakeDiscord) -> None:
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with point_discord_py_at(fake_discord):
        assert discord.http.Route.BASE == fake_discord.api_base_url
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake_discord.gateway_url
    assert discord.http.Route.BASE == base
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY == gateway


async def test_ping_defers_edits_with_file_and_button(
    fake_discord: FakeDiscord, bot: FakeTestBot
) -> None:
    fake = fake_discord
    stored = {c["name"]: c for c in fake.commands_for(GUILD_ID)}
    assert {"ping", "slow", "music", "quota"} <= set(stored)
    fetched = await bot.tree.fetch_commands(guild=GUILD)
    assert {c.name: str(c.id) for c in fetched}["ping"] == stored["ping"]["id"]

    inter = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "ping")
    callback = await inter.wait_response(timeout=3)
    assert callback.type == 5
    assert inter.response_latency is not None and inter.response_latency < 3

    msg = await inter.wait_for_original(lambda m: bool(m.attachments), timeout=5)
    assert msg.content == "pong" and not msg.loading
    assert msg.attachments[0].filename == "pong.wav"
    assert msg.attachments[0].data == FILE_BYTES
    assert msg.custom_ids() == ["ping:again"]
    assert [r.kind for r in msg.history] == ["create", "edit"]
    patch = await fake.wait_for_request("PATCH", "/messages/@original")
    assert patch.files == [("files[0]", "pong.wav", len(FILE_BYTES))]

    click = await fake.click_button(
        GUILD_ID, TEXT_CHANNEL_ID, OTHER_MEMBER_ID, msg.id, "ping:again"
    )
    assert (await click.wait_response(timeout=3)).type == 7
    assert msg.content == f"clicked by {OTHER_MEMBER_ID}" and msg.components == []
    assert fake.unknown_routes == []


async def test_subcommand_autocomplete_and_channel_upload(
    fake_discord: FakeDiscord, bot: FakeTestBot
) -> None:
    fake = fake_discord
    member = fake.guilds[GUILD_ID].members[OTHER_MEMBER_ID]
    inter = await fake.invoke_command(
        GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "quota set", {"user": member, "amount": 7}
    )
    reply = await inter.wait_for_original(timeout=3)
    assert reply.content == f"Member:{OTHER_MEMBER_ID}:7" and reply.ephemeral
    with pytest.raises(ValueError, match="outside"):
        await fake.invoke_command(
            GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "quota set", {"user": member, "amount": 0}
        )
    where = await fake.invoke_command(
        GUILD_ID,
        TEXT_CHANNEL_ID,
        MEMBER_ID,
        "quota limit where",
        {"role": MANAGER_ROLE_ID, "channel": VOICE_CHANNEL_ID},
    )
    assert (await where.wait_for_original(timeout=3)).content == "Server Manager@Lounge"
    with pytest.raises(ValueError, match="not of types"):
        await fake.invoke_command(
            GUILD_ID,
            TEXT_CHANNEL_ID,
            MEMBER_ID,
            "quota limit where",
            {"role": MANAGER_ROLE_ID, "channel": TEXT_CHANNEL_ID},
        )

    choices = await fake.autocomplete(
        GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "music", {"prompt": "lo-fi"}, focused="prompt"
    )
    assert len(choices) == 25 and choices[0] == {"name": "lo-fi 0", "value": "lo-fi-0"}

    channel = bot.get_channel(TEXT_CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("@everyone here", file=discord.File(io.BytesIO(b"abc"), "a.txt"))
    stored = fake.get_message(sent.id)
    assert stored.mentions() == (False, [], [])  # AllowedMentions.none() honoured
    assert await sent.attachments[0].read() == b"abc"  # served by the fake's CDN route


async def test_modal_submit_and_followups(fake_discord: FakeDiscord, bot: FakeTestBot) -> None:
    fake = fake_discord
    opened = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "form")
    assert (await opened.wait_response(timeout=3)).type == 9
    assert opened.modal is not None and opened.modal["title"] == "Name it"
    submit = await fake.submit_modal(opened, {"form:name": "rain"})
    second = await submit.wait_for_followup(timeout=3)
    original = submit.original_message()
    assert original is not None and original.content == "got rain" and not original.loading
    assert second.content == "second" and len(submit.followups) == 1


async def test_expired_token_gives_401_50027(fake_discord: FakeDiscord, bot: FakeTestBot) -> None:
    fake = fake_discord
    inter = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "slow")
    await fake.wait_for_request("GET", "/messages/@original", timeout=3)
    inter.expire()
    bot.release_slow.set()
    await asyncio.wait_for(bot.slow_done.wait(), 5)
    assert [(e.status, e.code) for e in bot.slow_errors] == [(401, 50027)]
    msg = inter.original_message()
    assert msg is not None and msg.content == "done via bot route"
    assert msg.history[-1].via.startswith("PATCH /channels/")


async def test_drop_gateway_resumes_and_outage_recovers(
    fake_discord: FakeDiscord, bot: FakeTestBot
) -> None:
    fake = fake_discord
    await fake.drop_gateway()
    await fake.wait_for_resume(1, timeout=5)
    inter = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "ping")
    await inter.wait_for_original(lambda m: bool(m.attachments), timeout=5)

    async with fake.gateway_outage():
        await fake.wait_for(lambda: fake.gateway.refused_attempts >= 1, 5, "a refused retry")
        assert fake.gateway.current is not None and not fake.gateway.current.connected
        # Events during the outage are kept and replayed on RESUME, like Discord does.
        await fake.set_voice_state(GUILD_ID, MEMBER_ID, VOICE_CHANNEL_ID)
    await fake.wait_for_resume(2, timeout=10)
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    await fake.wait_for(
        lambda: (m := guild.get_member(MEMBER_ID)) is not None and m.voice is not None,
        3,
        "replayed voice state",
    )
    assert fake.gateway.identify_count == 1


async def test_bot_voice_join_is_recorded(fake_discord: FakeDiscord, bot: FakeTestBot) -> None:
    ws = bot.ws
    assert ws is not None
    await ws.voice_state(GUILD_ID, VOICE_CHANNEL_ID, self_deaf=True)
    record = await fake_discord.wait_for_gateway_op(
        4, lambda d: str(d["channel_id"]) == str(VOICE_CHANNEL_ID), timeout=3
    )
    assert int(record.data["guild_id"]) == GUILD_ID  # discord.py sends ints here
    state = fake_discord.voice_state(GUILD_ID, fake_discord.bot.id)
    assert state is not None and state.channel_id == VOICE_CHANNEL_ID


async def test_rest_edges_without_discord_py(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    auth = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.api_base_url}/users/@me", headers=auth) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
        async with http.get(f"{fake.api_base_url}/users/@me") as resp:
            assert resp.status == 401
        url = f"{fake.api_base_url}/channels/{TEXT_CHANNEL_ID}/messages/123"
        async with http.get(url, headers=auth) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10008
        async with http.get(f"{fake.api_base_url}/nope/at/all", headers=auth) as resp:
            assert resp.status == 404
        bad = [{"name": "Bad Name", "description": "x"}]
        url = f"{fake.api_base_url}/applications/{fake.application_id}/commands"
        async with http.put(url, headers=auth, json=bad) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50035
    assert [r.path for r in fake.unknown_routes] == ["/nope/at/all"]
    assert len(fake.requests) == 5


async def test_raw_gateway_and_interaction_rules(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    auth = {"Authorization": f"Bot {fake.token}"}
    identify = {"op": 2, "d": {"token": fake.token, "intents": 1 | 1 << 7, "properties": {}}}
    async with aiohttp.ClientSession() as http:
        for token, intents, code in (("wrong", 1, 4004), (fake.token, 1 << 1, 4014)):
            async with http.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws:
                assert (await ws.receive_json())["op"] == 10
                await ws.send_json({"op": 2, "d": {"token": token, "intents": intents}})
                closing = await ws.receive()
                assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == code
        async with http.ws_connect(fake.gateway_url) as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 6, "d": {"token": fake.token, "session_id": "x", "seq": 1}})
            assert await ws.receive_json() == {"op": 9, "s": None, "t": None, "d": False}

        ws = await http.ws_connect(fake.gateway_url)
        await ws.receive_json()
        await ws.send_json({"op": 1, "d": None})
        assert (await ws.receive_json())["op"] == 11
        await ws.send_json(identify)
        ready = await ws.receive_json()
        assert (ready["t"], ready["s"]) == ("READY", 1)
        guild_create = await ws.receive_json()
        assert [m["user"]["id"] for m in guild_create["d"]["members"]] == [str(fake.bot.id)]
        url = f"{fake.api_base_url}/applications/{fake.application_id}/guilds/{GUILD_ID}/commands"
        async with http.put(url, headers=auth, json=[{"name": "ping", "description": "p"}]) as r:
            assert r.status == 200

        inter = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "ping")
        event = await ws.receive_json()
        assert event["t"] == "INTERACTION_CREATE" and event["s"] == 3
        required = {
            "id",
            "application_id",
            "type",
            "token",
            "version",
            "data",
            "attachment_size_limit",
            "guild_id",
            "channel",
            "channel_id",
            "member",
            "app_permissions",
            "locale",
            "guild_locale",
            "entitlements",
            "authorizing_integration_owners",
            "context",
        }
        assert required <= set(event["d"])
        callback = f"{fake.api_base_url}/interactions/{inter.id}/{inter.token}/callback"
        answer = {"type": 4, "data": {"content": "hi"}}
        async with http.post(callback + "?with_response=1", json=answer) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/json"
            body = await r.json()
            assert body["resource"]["message"]["content"] == "hi"
            assert body["interaction"]["response_message_id"] == str(inter.original_message_id)
        async with http.post(callback + "?with_response=1", json=answer) as r:
            assert (await r.json())["code"] == 40060
        followup = f"{fake.api_base_url}/webhooks/{fake.application_id}/{inter.token}?wait=true"
        form = aiohttp.FormData()
        form.add_field("payload_json", json.dumps({"content": "big"}))
        form.add_field("files[0]", b"x" * (10 * 1024 * 1024 + 1), filename="big.wav")
        async with http.post(followup, data=form) as r:
            assert r.status == 413 and (await r.json())["code"] == 40005

        late = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "ping")
        assert late.dispatched_at is not None
        late.dispatched_at -= 3.5  # pretend the bot took too long to acknowledge
        callback = f"{fake.api_base_url}/interactions/{late.id}/{late.token}/callback"
        async with http.post(callback + "?with_response=1", json=answer) as r:
            assert r.status == 404 and (await r.json())["code"] == 10062
        await ws.close()


SUBPROCESS_BOT = textwrap.dedent("""
    import asyncio, os
    import discord, discord.gateway, discord.http, yarl
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE_URL"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    client = discord.Client(intents=discord.Intents.default())
    tree = discord.app_commands.CommandTree(client)

    @tree.command(name="hello", description="Say hi")
    async def hello(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"hi from pid {os.getpid()}")

    async def setup_hook() -> None:
        for gid in os.environ["DEV_GUILD_IDS"].split(","):
            tree.copy_global_to(guild=discord.Object(int(gid)))
            await tree.sync(guild=discord.Object(int(gid)))

    client.setup_hook = setup_hook
    client.run(os.environ["DISCORD_TOKEN"], log_handler=None)
""")


async def test_bot_in_a_subprocess(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUBPROCESS_BOT,
        env={**fake.env(), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_until_ready(timeout=15)
        await fake.wait_for_commands(GUILD_ID, ("hello",), timeout=15)
        inter = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "hello")
        msg = await inter.wait_for_original(timeout=5)
        assert msg.content == f"hi from pid {proc.pid}"
        assert json.loads(json.dumps(msg.payload()))["interaction_metadata"]["user"]["id"] == str(
            MEMBER_ID
        )
    finally:
        proc.terminate()
        _, stderr = await asyncio.wait_for(proc.communicate(), 10)
    assert b"Traceback" not in stderr, stderr.decode()


async def test_network_outage_cuts_rest_and_gateway_then_comes_back_on_the_same_port(
    fake_discord: FakeDiscord, bot: FakeTestBot
) -> None:
    fake = fake_discord
    url = f"{fake.api_base_url}/gateway"
    async with fake.network_outage():
        await fake.wait_for(
            lambda: fake.gateway.current is not None and not fake.gateway.current.connected,
            5,
            "the gateway socket to be cut",
        )
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectorError):
                await http.get(url)
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bot {fake.token}"}) as resp:
            assert resp.status == 200
    await fake.wait_for_resume(1, timeout=30)
    inter = await fake.invoke_command(GUILD_ID, TEXT_CHANNEL_ID, MEMBER_ID, "ping")
    await inter.wait_for_original(lambda m: bool(m.attachments), timeout=5)
    assert fake.gateway.identify_count == 1
