"""The dashboard shows names where Discord users expect them: the server's name, members'
display names (the jobs, members and audit tables), channel and role names (the settings
table); unknown ids fall back to ``unknown member 999``; a name with HTML in it is text.
Through the dashboard's aiohttp server and the real ``DiscordRest`` against the fake
Discord (no browser needed); the CSV exports keep the ids and add name columns."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from bot.quotas import ReserveRequest
from cogs.dashboard_names import MEMBER_LOOKUPS
from tests.dashboard.test_sums_backends import get_csv, signed_in
from tests.dashboard.world import MOD_ID, MUSIC_CHANNEL_ID, World, dashboard_world
from tests.e2e.test_generate import run_to_result
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import GUILD_ID, MEMBER_ID, OTHER_MEMBER_ID

SNEAKY_ID = 2201
SNEAKY = '<script>alert("x")</script>'
DJ_ROLE_ID = 3201
DJ_ROLE = "<b>DJs</b>"
GONE_ID = 999  # spent tokens, then left the server
GONE_ACTOR_ID = 998
NO_CHANNEL_ID = 777777
NO_ROLE_ID = 888888


class Page(HTMLParser):
    """The text of each table's cells (by table id), the title, h1 and job lines."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.text: dict[str, list[str]] = {"title": [], "h1": [], "nav": [], "li": []}
        self._table: str | None = None
        self._in: list[str] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None and self._in[-1:] == ["tbody"]:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table and self.tables[self._table]:
            self._cell = []
        self._in.append(tag)
        if tag in self.text:
            self.text[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for tag in self.text:
            if tag in self._in:
                self.text[tag][-1] += data

    def column(self, table: str, index: int) -> list[str]:
        return [row[index] for row in self.tables[table] if len(row) > index]


def add_people(fake: FakeDiscord) -> None:
    """Before the bot connects, so the gateway cache has the role too."""
    fake.add_member(GUILD_ID, SNEAKY_ID, "sneaky").nick = SNEAKY
    bob = fake.guilds[GUILD_ID].members[OTHER_MEMBER_ID]
    bob.user.global_name, bob.nick = "Robert", "Bobby"  # the nickname wins, as in Discord
    fake.guilds[GUILD_ID].members[MEMBER_ID].user.global_name = "Alice A."
    fake.add_role(GUILD_ID, DJ_ROLE, role_id=DJ_ROLE_ID)


async def spend_and_change(world: World) -> None:
    s = world.foley.services
    for n, user_id in enumerate((MEMBER_ID, OTHER_MEMBER_ID, SNEAKY_ID, GONE_ID)):
        await s.ledger.reserve(ReserveRequest(f"n{n}", GUILD_ID, user_id, (), 100 + n, "aimlapi"))
        assert await s.ledger.settle(f"n{n}", 100 + n)
    await s.policy.set_user_allowance(GUILD_ID, SNEAKY_ID, 5_000, MOD_ID)
    await s.policy.set_user_allowance(GUILD_ID, GONE_ID, 6_000, GONE_ACTOR_ID)
    settings = s.server_settings
    await settings.channel(GUILD_ID, MOD_ID, "music", MUSIC_CHANNEL_ID, "allow")
    await settings.channel(GUILD_ID, MOD_ID, "sfx", NO_CHANNEL_ID, "deny")
    await settings.set_role(GUILD_ID, MOD_ID, "say", DJ_ROLE_ID)
    await settings.set_role(GUILD_ID, MOD_ID, "music", NO_ROLE_ID)


async def test_pages_show_names_with_ids_and_fall_back_to_ids(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    add_people(fake_discord)
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        await run_to_result(world.foley, "sfx", prompt="door creak", duration=1)
        await spend_and_change(world)
        client = await signed_in(await world.link_for(MOD_ID))
        try:
            async with client.get(f"{world.base_url}/g/{GUILD_ID}") as resp:
                assert resp.status == 200
                html = await resp.text()
            page = Page(html)
            exports = f"{world.base_url}/g/{GUILD_ID}/export"
            members_csv = await get_csv(client, f"{exports}/members.csv")
            settings_csv = await get_csv(client, f"{exports}/settings.csv")
            audit_csv = await get_csv(client, f"{exports}/audit.csv")
        finally:
            await client.close()

    # The server by name: the title, the heading and the navigation.
    assert page.text["title"] == ["Foley Test Guild · Foley dashboard"]
    assert page.text["h1"] == ["Foley Test Guild"]
    assert "Foley Test Guild" in page.text["nav"][0]

    # A name with HTML in it is shown as text, never run.
    assert SNEAKY not in html and DJ_ROLE not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;DJs&lt;/b&gt;" in html

    # Members: display names beside the ids the forms take; a departed one by id.
    members = page.column("table-members", 0)
    assert sorted(members) == sorted([
        f"Alice A. ({MEMBER_ID})", f"Bobby ({OTHER_MEMBER_ID})", f"{SNEAKY} ({SNEAKY_ID})",
        f"unknown member {GONE_ID}",
    ])  # fmt: skip

    # Jobs: the /sfx job is alice's, in the list and the table.
    assert any(f"by Alice A. ({MEMBER_ID})" in line for line in page.text["li"])
    assert page.column("table-jobs", 1) == [f"Alice A. ({MEMBER_ID})"]

    # Audit log: who changed what, by name; the unknown actor and target by id.
    audit = page.tables["table-audit"]
    by_target = {row[4]: row for row in audit}
    assert by_target[f"{SNEAKY} ({SNEAKY_ID})"][2] == f"moddy ({MOD_ID})"
    assert by_target[f"unknown member {GONE_ID}"][2] == f"unknown member {GONE_ACTOR_ID}"
    changes = [row[5] for row in audit]
    assert "every channel → only #ai-music" in changes
    assert f"anyone → @{DJ_ROLE}" in changes

    # Settings: channels and roles by name, unknown ones by id.
    settings = {row[0]: row[1] for row in page.tables["table-settings"]}
    assert settings["music.channels"] == "only #ai-music"
    assert settings["sfx.channels"] == f"never unknown channel {NO_CHANNEL_ID}"
    assert settings["say.role"] == f"@{DJ_ROLE}"
    assert settings["music.role"] == f"unknown role {NO_ROLE_ID}"

    # Exports are for machines: the ids stay, the names are columns of their own.
    assert members_csv[0][:2] == ["Member", "Member name"]
    named = {row[0]: row[1] for row in members_csv[1:]}
    assert named == {
        str(MEMBER_ID): "Alice A.", str(OTHER_MEMBER_ID): "Bobby", str(SNEAKY_ID): SNEAKY,
        str(GONE_ID): "",
    }  # fmt: skip
    assert settings_csv[0] == ["Setting", "Value", "Value name", "Comes from"]
    rows = {row[0]: row[1:3] for row in settings_csv[1:]}
    assert rows["music.channels"] == [f"only <#{MUSIC_CHANNEL_ID}>", "only #ai-music"]
    assert rows["sfx.channels"] == [f"never <#{NO_CHANNEL_ID}>",
                                    f"never unknown channel {NO_CHANNEL_ID}"]  # fmt: skip
    assert rows["music.max_duration"] == ["no limit", ""]
    header = audit_csv[0]
    assert header[2:6] == ["By", "By name", "Action", "Target"]
    sneaky = next(row for row in audit_csv[1:] if row[5] == f"user:{SNEAKY_ID}")
    assert sneaky[2:4] == [str(MOD_ID), "moddy"] and sneaky[6] == SNEAKY


async def test_member_names_cost_a_bounded_number_of_requests(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        discord_side = world.foley.bot.get_cog("DashboardCog").server.discord
        fake = world.fake

        def member_requests() -> int:
            return sum(
                1 for r in fake.requests if r.path.startswith(f"/guilds/{GUILD_ID}/members/")
            )

        # The bot itself is in the gateway cache: named without asking Discord.
        bot_id = world.foley.bot.user.id
        before = member_requests()
        names = await discord_side.names(GUILD_ID, [bot_id], [MUSIC_CHANNEL_ID])
        assert names.guild == "Foley Test Guild"
        assert names.users[bot_id] == world.foley.bot.user.display_name
        assert names.channels == {MUSIC_CHANNEL_ID: "ai-music"}
        assert member_requests() == before

        # Members the cache lacks: at most MEMBER_LOOKUPS requests a call, each answer
        # (also "not a member") remembered, so the next call asks only for the rest.
        strangers = list(range(9_000, 9_000 + MEMBER_LOOKUPS + 5))
        wanted = [MEMBER_ID, *strangers]
        first = await discord_side.names(GUILD_ID, wanted)
        assert member_requests() == before + MEMBER_LOOKUPS
        assert first.users == {MEMBER_ID: "alice"}
        assert first.user(strangers[0]) == f"unknown member {strangers[0]}"
        second = await discord_side.names(GUILD_ID, wanted)
        assert member_requests() == before + len(wanted)
        assert second.users == {MEMBER_ID: "alice"}
        await discord_side.names(GUILD_ID, wanted)
        assert member_requests() == before + len(wanted)


async def test_a_server_discord_cannot_name_shows_its_id(
    fake_discord: FakeDiscord, simulator, tmp_path: Path
) -> None:
    async with dashboard_world(fake_discord, simulator, tmp_path) as world:
        discord_side = world.foley.bot.get_cog("DashboardCog").server.discord
        names = await discord_side.names(424242, [MEMBER_ID], [1], [2])  # not a server Foley is in
        assert names.server(424242) == "Server 424242"
        assert names.user(MEMBER_ID) == f"unknown member {MEMBER_ID}"
        assert (names.channel(1), names.role(2)) == ("unknown channel 1", "unknown role 2")
