"""Bot-token REST routes of the fake: login, gateway discovery, command sync, channels,
messages, guilds and members."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web

from .discord_http import API_PREFIX, Body, body_of, json_reply, no_content, snowflake_arg
from .discord_oauth import OAuthRoutes
from .discord_state import ChannelType, FakeChannel, FakeGuild, Json, MessageFlag, Perm
from .discord_store import ApiError, DiscordStore, invalid_form

_NAME = re.compile(r"[-_\w]{1,32}")


def validate_command(cmd: Json) -> None:
    """The checks Discord applies to a command payload that most often catch real bugs."""
    kind = cmd.get("type", 1)
    name = cmd.get("name", "")
    if kind != 1:
        if not 1 <= len(name) <= 32:
            raise invalid_form("name", f"context menu name {name!r} must be 1-32 characters")
        return
    _validate_node(cmd, depth=0, where=f"/{name}")


def _validate_node(node: Json, depth: int, where: str) -> None:
    name, description = node.get("name", ""), node.get("description", "")
    if not _NAME.fullmatch(name) or name != name.lower():
        raise invalid_form("name", f"{where}: name {name!r} must be 1-32 lowercase chars")
    if not 1 <= len(description) <= 100:
        raise invalid_form("description", f"{where}: description must be 1-100 characters")
    options: list[Json] = node.get("options") or []
    if len(options) > 25:
        raise invalid_form("options", f"{where}: at most 25 options")
    names = [o.get("name") for o in options]
    if len(set(names)) != len(names):
        raise invalid_form("options", f"{where}: duplicate option names {names}")
    seen_optional = False
    for opt in options:
        sub_where = f"{where} {opt.get('name')}"
        if opt.get("type") in (1, 2):
            if depth >= 2 or (opt["type"] == 2 and depth >= 1):
                raise invalid_form("options", f"{sub_where}: subcommands nested too deep")
            _validate_node(opt, depth + 1, sub_where)
            continue
        _validate_node({**opt, "options": []}, depth + 1, sub_where)
        if opt.get("required"):
            if seen_optional:
                raise invalid_form("options", f"{sub_where}: required options must come first")
        else:
            seen_optional = True
        if len(opt.get("choices") or []) > 25:
            raise invalid_form("choices", f"{sub_where}: at most 25 choices")
        if opt.get("choices") and opt.get("autocomplete"):
            raise invalid_form("autocomplete", f"{sub_where}: choices and autocomplete clash")


class RestRoutes:
    def __init__(self, store: DiscordStore, gateway_url: Callable[[], str]) -> None:
        self.store = store
        self.gateway_url = gateway_url

    def register(self, app: web.Application) -> None:
        p = API_PREFIX
        r = app.router
        r.add_get(p + "/users/@me", self.me)
        r.add_get(p + "/users/@me/guilds", self.my_guilds)
        self.oauth = OAuthRoutes(self.store, self.store.oauth)
        self.oauth.register(app)
        r.add_get(p + "/users/{user_id}", self.get_user)
        r.add_post(p + "/users/@me/channels", self.open_dm)
        r.add_get(p + "/oauth2/applications/@me", self.application)
        r.add_get(p + "/applications/@me", self.application)
        r.add_get(p + "/gateway", self.gateway)
        r.add_get(p + "/gateway/bot", self.gateway_bot)
        for path in (
            "/applications/{app_id}/commands",
            "/applications/{app_id}/guilds/{guild_id}/commands",
        ):
            r.add_put(p + path, self.put_commands)
            r.add_get(p + path, self.get_commands)
            r.add_post(p + path, self.post_command)
        r.add_get(p + "/channels/{channel_id}", self.get_channel)
        r.add_get(p + "/channels/{channel_id}/messages", self.list_messages)
        r.add_post(p + "/channels/{channel_id}/messages", self.create_message)
        r.add_get(p + "/channels/{channel_id}/messages/{message_id}", self.get_message)
        r.add_patch(p + "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        r.add_delete(p + "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        r.add_post(p + "/channels/{channel_id}/typing", self.typing)
        r.add_get(p + "/guilds/{guild_id}", self.get_guild)
        r.add_get(p + "/guilds/{guild_id}/channels", self.get_guild_channels)
        r.add_get(p + "/guilds/{guild_id}/roles", self.get_guild_roles)
        r.add_get(p + "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self.cdn)

    # -- identity --------------------------------------------------------------------------

    def _caller(self, request: web.Request, scope: str) -> int:
        """The bot, or the user an OAuth2 Bearer token (with ``scope``) stands for."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.store.bot.id
        user = self.oauth.bearer_user(auth, scope)
        if user is None:
            raise ApiError(401, 0, "401: Unauthorized")
        return user

    async def me(self, request: web.Request) -> web.Response:
        user = self.store.users[self._caller(request, "identify")]
        return json_reply({**user.payload(), "verified": True, "flags": 0, "mfa_enabled": False})

    async def my_guilds(self, request: web.Request) -> web.Response:
        return json_reply(self.oauth.guilds_of(self._caller(request, "guilds")))

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.store.users.get(snowflake_arg(request, "user_id"))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_reply(user.payload())

    async def open_dm(self, request: web.Request) -> web.Response:
        """POST /users/@me/channels {recipient_id}: the DM channel with that user."""
        user = self.store.users.get(int(body_of(request).dict.get("recipient_id") or 0))
        if user is None:
            raise invalid_form("recipient_id", "Unknown user")
        channel_id = self.store.dm_channel(user.id)
        return json_reply(
            {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0,
             "recipients": [user.payload()]}
        )  # fmt: skip

    async def application(self, request: web.Request) -> web.Response:
        store = self.store
        return json_reply(
            {
                "id": str(store.application_id),
                "name": store.bot.username,
                "icon": None,
                "description": "fake application",
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": {"id": "1", "username": "app-owner", "discriminator": "0", "avatar": None},
                "team": None,
                "bot": store.bot.payload(),
                "summary": "",
            }
        )

    async def gateway(self, request: web.Request) -> web.Response:
        return json_reply({"url": self.gateway_url()})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        return json_reply(
            {
                "url": self.gateway_url(),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    # -- application commands -------------------------------------------------------------

    def _scope(self, request: web.Request) -> int | None:
        if snowflake_arg(request, "app_id") != self.store.application_id:
            raise ApiError(403, 50001, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        return self.store.guild(snowflake_arg(request, "guild_id")).id

    def _stored(self, raw: Json, scope: int | None, previous: list[Json]) -> Json:
        validate_command(raw)
        kind = raw.get("type", 1)
        prev = next(
            (c for c in previous if c["name"] == raw["name"] and c.get("type", 1) == kind), None
        )
        cmd: Json = {
            "default_member_permissions": None,
            "nsfw": False,
            "description": "",
            "options": [],
            **raw,
        }
        cmd.update(
            id=prev["id"] if prev else str(self.store.snowflake()),
            application_id=str(self.store.application_id),
            version=str(self.store.snowflake()),
            type=kind,
        )
        if scope is not None:
            cmd["guild_id"] = str(scope)
        return cmd

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        payload = body_of(request).json
        if not isinstance(payload, list):
            raise invalid_form("_", "expected an array of commands")
        if len(payload) > 100:
            raise invalid_form("_", "at most 100 commands")
        keys = [(c.get("name"), c.get("type", 1)) for c in payload]
        if len(set(keys)) != len(keys):
            raise invalid_form("name", f"duplicate command names {keys}")
        previous = self.store.commands.get(scope, [])
        self.store.commands[scope] = [self._stored(c, scope, previous) for c in payload]
        return json_reply(self.store.commands[scope])

    async def post_command(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        previous = self.store.commands.get(scope, [])
        cmd = self._stored(body_of(request).dict, scope, previous)
        kept = [c for c in previous if c["id"] != cmd["id"]]
        self.store.commands[scope] = [*kept, cmd]
        return json_reply(cmd, 200 if len(kept) < len(previous) else 201)

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_reply(self.store.commands.get(self._scope(request), []))

    # -- channels and messages ------------------------------------------------------------

    def _channel(self, request: web.Request, need: int = Perm.VIEW_CHANNEL) -> FakeChannel:
        channel = self.store.channel(snowflake_arg(request, "channel_id"))
        perms = self.store.guilds[channel.guild_id].permissions_in(self.store.bot.id, channel.id)
        if not perms & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if perms & need != need:
            raise ApiError(403, 50013, "Missing Permissions")
        return channel

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_reply(self._channel(request).payload())

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        limit = min(int(request.query.get("limit", 50)), 100)
        msgs = self.store.channel_messages(channel.id, include_ephemeral=False)
        if "before" in request.query:
            msgs = [m for m in msgs if m.id < int(request.query["before"])]
        if "after" in request.query:
            msgs = [m for m in msgs if m.id > int(request.query["after"])]
        return json_reply([m.payload() for m in reversed(msgs)][:limit])

    async def create_message(self, request: web.Request) -> web.Response:
        body = body_of(request)
        recipient = self.store.dm_channels.get(snowflake_arg(request, "channel_id"))
        if recipient is not None:
            return self._direct_message(recipient, body)
        need = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES
        channel = self._channel(request, need | (Perm.ATTACH_FILES if body.uploads else 0))
        if channel.type not in ChannelType.MESSAGEABLE:
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        return self._post(channel.id, body)

    def _post(self, channel_id: int, body: Body) -> web.Response:
        """The one message-creating path, for guild channels and DMs alike."""
        data = dict(body.dict)
        if data.get("flags") is not None:
            data["flags"] = int(data["flags"]) & ~MessageFlag.EPHEMERAL
        msg = self.store.new_message(channel_id, self.store.bot)
        self.store.apply_body(msg, data, body.uploads, creating=True)
        self.store.store_message(msg, "POST /channels/{channel_id}/messages")
        return json_reply(msg.payload())

    def _direct_message(self, recipient: int, body: Body) -> web.Response:
        # Discord lets a bot DM a member of a server they share unless they closed DMs.
        shares = any(recipient in g.members for g in self.store.guilds.values())
        if not shares or recipient in self.store.dms_closed:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        return self._post(self.store.dm_channel(recipient), body)

    def _visible_message(self, request: web.Request, need: int) -> tuple[FakeChannel, int]:
        channel = self._channel(request, need)
        message_id = snowflake_arg(request, "message_id")
        if self.store.get_message(message_id, channel.id).ephemeral:
            raise ApiError(404, 10008, "Unknown Message")  # ephemeral: invisible to the bot
        return channel, message_id

    async def get_message(self, request: web.Request) -> web.Response:
        _, mid = self._visible_message(request, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        return json_reply(self.store.get_message(mid).payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        body = body_of(request)
        _, mid = self._visible_message(
            request, Perm.VIEW_CHANNEL | (Perm.ATTACH_FILES if body.uploads else 0)
        )
        msg = self.store.get_message(mid)
        if msg.author.id != self.store.bot.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self.store.edit_message(
            msg, body.dict, body.uploads, "PATCH /channels/{channel_id}/messages/{message_id}"
        )
        return json_reply(msg.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        channel, mid = self._visible_message(request, Perm.VIEW_CHANNEL)
        msg = self.store.get_message(mid)
        perms = self.store.guilds[channel.guild_id].permissions_in(self.store.bot.id, channel.id)
        if msg.author.id != self.store.bot.id and not perms & Perm.MANAGE_MESSAGES:
            raise ApiError(403, 50013, "Missing Permissions")
        self.store.delete_message(msg, "DELETE /channels/{channel_id}/messages/{message_id}")
        return no_content()

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request, Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
        return no_content()

    # -- guilds ----------------------------------------------------------------------------

    def _guild(self, request: web.Request) -> FakeGuild:
        return self.store.guild(snowflake_arg(request, "guild_id"))

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        data = guild.base_payload()
        if request.query.get("with_counts") in ("true", "1"):
            data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return json_reply(data)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        return json_reply([c.payload() for c in self._guild(request).channels.values()])

    async def get_guild_roles(self, request: web.Request) -> web.Response:
        return json_reply([r.payload() for r in self._guild(request).roles.values()])

    async def get_member(self, request: web.Request) -> web.Response:
        member = self._guild(request).members.get(snowflake_arg(request, "user_id"))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return json_reply(member.payload())

    async def cdn(self, request: web.Request) -> web.Response:
        att = self.store.find_attachment(snowflake_arg(request, "attachment_id"))
        if att is None or att.expired or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=att.data, content_type=att.content_type or "application/octet-stream"
        )
