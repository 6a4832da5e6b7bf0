"""The server page's settings panel: every setting and where its value comes from,
and the forms that change them.

Each form calls the same :class:`~bot.settings.service.SettingsService` function as
its ``/settings`` subcommand, so the rules, the refusal sentences and the audit entry
(written in the change's own transaction) are the command's; a refusal is shown on
the page and changes nothing. The session middleware has already checked the CSRF
token; the audit entry is then posted to the log channel like ``/settings`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.dashboard.data import Table
from bot.dashboard.names import Mentions
from bot.dashboard.rights import DiscordSide
from bot.errors import UserError
from bot.services import Services
from bot.settings.model import (
    COMMAND_SCOPES,
    COMMANDS,
    DEFAULT_NAMES,
    LIMIT_BOUNDS,
    LIMITS,
    VISIBILITIES,
)
from bot.settings.resolve import music_model_names, tts_model_names
from bot.settings.service import AUDIT_ACTION, BUILTIN, Change, SettingsService, setting_keys

if TYPE_CHECKING:
    from bot.dashboard.pages import Pages

CHANNEL_MODES = ("allow", "deny", "clear")


async def settings_table(services: Services, guild_id: int) -> Table:
    """What ``/settings show`` lists, as a table."""
    shown = await services.server_settings.show(guild_id)
    return Table(
        "settings",
        "Server settings (as /settings show)",
        ["Setting", "Value", "Comes from"],
        [[s.key, Mentions(s.value), "built-in default" if s.source == BUILTIN else "server setting"]
         for s in shown],
    )  # fmt: skip


async def context(services: Services, guild_id: int) -> dict[str, Any]:
    """The panel's part of the server page: the table and each form's choices."""
    return {
        "settings": await settings_table(services, guild_id),
        "choices": {
            "scopes": COMMAND_SCOPES,
            "commands": COMMANDS,
            "channel_modes": CHANNEL_MODES,
            "limits": [
                (f"{c}.{n}", unit, LIMIT_BOUNDS[n], whole)
                for c, limits in LIMITS.items()
                for n, unit, whole in limits
            ],
            "models": music_model_names(),
            "tts_models": tts_model_names(),
            "defaults": DEFAULT_NAMES,
            "visibilities": VISIBILITIES,
            "setting_keys": setting_keys(),
        },
    }


def _text(form: Any, name: str) -> str:
    return str(form.get(name, "")).strip()


def _id(form: Any, name: str, what: str) -> int:
    value = _text(form, name)
    if not value.isdigit() or int(value) <= 0:
        raise UserError(f"Give the {what}'s Discord id (a number).")
    return int(value)


async def _known(discord: DiscordSide, guild_id: int, kind: str, object_id: int) -> int:
    """The id, if this server has it (a slash-command option only offers what it has)."""
    found = await discord.has(guild_id, kind, object_id)
    if found is None:
        raise UserError(f"Discord could not confirm that {kind} just now; try again in a minute.")
    if not found:
        what = "text channel" if kind == "channel" else "role"
        raise UserError(
            f"This server has no {what} with the id {object_id}. In Discord, turn on "
            f"Developer Mode and use Copy ID on the {kind}."
        )
    return object_id


def _on(form: Any) -> bool:
    value = _text(form, "enabled")
    if value not in ("on", "off"):
        raise UserError("Choose on or off.")
    return value == "on"


def _number(form: Any, name: str) -> float:
    try:
        return float(_text(form, name))
    except ValueError:
        raise UserError("Give the limit as a number.") from None


async def apply(
    service: SettingsService, discord: DiscordSide, guild_id: int, actor: Any, form: Any
) -> Change:
    """One form's change, through the /settings subcommand's service call."""
    action = _text(form, "action")
    if action == "channel":
        command, mode = _text(form, "command"), _text(form, "mode")
        if mode == "clear":
            return await service.clear_channels(guild_id, actor, command)
        if mode not in ("allow", "deny"):
            raise UserError("Choose allow, deny or clear.")
        channel_id = await _known(discord, guild_id, "channel", _id(form, "channel_id", "channel"))
        return await service.channel(guild_id, actor, command, channel_id, mode)
    if action == "enabled":
        return await service.set_enabled(guild_id, actor, _text(form, "command"), _on(form))
    if action == "role":
        role = None
        if _text(form, "role_id"):
            role = await _known(discord, guild_id, "role", _id(form, "role_id", "role"))
        return await service.set_role(guild_id, actor, _text(form, "command"), role)
    if action == "limit":
        command, _, name = _text(form, "limit").partition(".")
        return await service.set_limit(guild_id, actor, command, name, _number(form, "value"))
    if action == "model":
        return await service.set_model(guild_id, actor, _text(form, "model"), _on(form))
    if action == "default":
        name, value = _text(form, "name"), _text(form, "value")
        if name not in DEFAULT_NAMES:
            raise UserError(f"Choose one of: {', '.join(DEFAULT_NAMES)}.")
        if not value:
            raise UserError(f"Give a {name}, or reset `default.{name}` to remove it.")
        return await service.set_default(guild_id, actor, name, value)
    if action == "visibility":
        return await service.set_default(guild_id, actor, "visibility", _text(form, "mode"))
    if action == "reset":
        return await service.reset(guild_id, actor, _text(form, "key"))
    raise UserError("The dashboard does not know this form. Reload the page and try again.")


class Forms:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.service = pages.services.server_settings

    async def submit(self, request: web.Request) -> web.StreamResponse:
        session, guild_id = self.pages.guild_for(request)
        actor = session.user_id or None  # the operator's link has no member id
        try:
            form = await request.post()
            change = await apply(self.service, self.pages.server.discord, guild_id, actor, form)
        except UserError as exc:
            return await self.pages.render_guild(
                request, session, guild_id, settings_error=str(exc), status=400
            )
        audit_id = await self.pages.post_audit(
            guild_id, actor, AUDIT_ACTION, f"setting:{change.key}"
        )
        raise web.HTTPSeeOther(f"/g/{guild_id}?changed={audit_id}#settings")
