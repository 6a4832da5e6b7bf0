"""The one resolution rule for command options, and who may use a command where.

For every option: explicit option > member preference > server default >
built-in default; server limits and disabled models cap all of them. A
refusal names the setting that refused and the moderator command that
changes it, and is raised before anything is reserved, so it costs nothing.
Pure functions over :mod:`bot.settings.model`: no I/O, no discord.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot import catalog
from bot.errors import UserError
from bot.generation import requests as req
from bot.providers.base import GenerationRequest, JobKind
from bot.settings.model import ALL, MemberContext, MemberPrefs, ServerSettings

# /say without a server limit: longer than one request is stitched by the client.
SAY_MAX_CHARS = 40_000
BUILTIN_MUSIC_MODEL = "stable-audio"


class SettingRefused(UserError):
    """A server setting refused the command; ``str()`` says which and how to change it."""


def music_model_names() -> tuple[str, ...]:
    """The ``model`` choices of /settings and /prefs: the one accessor for the model list."""
    return catalog.choice_names()


def tts_model_names() -> tuple[str, ...]:
    return tuple(req.SAY_MODELS)


def _scopes(command: str) -> tuple[str, str]:
    return (command, ALL)


def check(command: str, ctx: MemberContext, server: ServerSettings) -> str | None:
    """Why ``ctx``'s member may not use ``/command`` here, or None."""
    for scope in _scopes(command):
        if server.enabled.get(scope) is False:
            return (
                f"/{command} is switched off on this server (setting `{scope}.enabled`). "
                f"A moderator can turn it on with `/settings command command:{scope} enabled:true`."
            )
    for scope in _scopes(command):
        if ctx.channel_id in server.denied.get(scope, frozenset()):
            return (
                f"/{command} can't be used in <#{ctx.channel_id}> (setting `{scope}.channels`). "
                f"Try another channel; a moderator can change this with "
                f"`/settings clear-channels command:{scope}`."
            )
    allowed = server.allowed.get(command, frozenset()) | server.allowed.get(ALL, frozenset())
    if allowed and ctx.channel_id not in allowed:
        where = ", ".join(f"<#{c}>" for c in sorted(allowed))
        scope = command if command in server.allowed else ALL
        return (
            f"/{command} only works in {where} on this server (setting `{scope}.channels`). "
            f"A moderator can add channels with `/settings allow-channel command:{scope}`."
        )
    for scope in _scopes(command):
        role = server.roles.get(scope)
        if role is not None and role not in ctx.role_ids:
            return (
                f"/{command} needs the <@&{role}> role on this server (setting `{scope}.role`). "
                f"Ask a moderator; they can change it with `/settings role command:{scope}`."
            )
    return None


@dataclass(frozen=True)
class Picked:
    value: Any
    source: str  # option | preference | server default | built-in default


def pick(explicit: Any, pref: Any, server_default: Any, builtin: Any) -> Picked:
    """Explicit option > member preference > server default > built-in default."""
    for value, source in (
        (explicit, "option"),
        (pref, "your preference"),
        (server_default, "server default"),
    ):
        if value is not None and value != "":
            return Picked(value, source)
    return Picked(builtin, "built-in default")


def _limit_refusal(command: str, name: str, limit: float, asked: float, unit: str) -> str:
    return (
        f"This server limits /{command} to {limit:g} {unit} (setting `{command}.{name}`); "
        f"you asked for {asked:g}. Nothing was charged. A moderator can change it with "
        f"`/settings limit command:{command} {name}:…`."
    )


def _model_refusal(model: str) -> str:
    return (
        f"The model `{model}` is switched off on this server (setting `model.{model}`). "
        f"Nothing was charged; pick another model, or ask a moderator "
        f"(`/settings model model:{model} enabled:true`)."
    )


RoutePicker = req.RoutePicker  # orders a multi-route model's routes (GenerationService.pick_route)


def build(
    command: str,
    options: dict[str, Any],
    server: ServerSettings,
    prefs: MemberPrefs,
    *,
    route_pick: RoutePicker | None = None,
) -> GenerationRequest:
    """Options as typed (None = not given) → a validated request under this server's caps."""
    if command == "music":
        return _music(options, server, prefs, route_pick)
    if command == "say":
        return _say(options, server, prefs)
    if command == "sfx":
        return _sfx(options, server)
    raise UserError(f"/{command} does not generate audio.")


def _music(
    o: dict[str, Any], server: ServerSettings, prefs: MemberPrefs, route_pick: RoutePicker | None
) -> GenerationRequest:
    """The settings caps, then the catalog's own checks (req.build_music): one /music path."""
    model = pick(
        o.get("model"), prefs.get("model"), server.defaults.get("model"), BUILTIN_MUSIC_MODEL
    )
    if not server.model_enabled(model.value):
        raise SettingRefused(_model_refusal(model.value))
    duration, steps = o.get("duration"), o.get("steps")
    spec = catalog.get(model.value)
    span = spec.duration_range() if spec is not None else None
    max_duration = server.limit("music", "max_duration")
    if max_duration is not None:
        if duration is not None and duration > max_duration:
            raise SettingRefused(
                _limit_refusal("music", "max_duration", max_duration, duration, "seconds")
            )
        if duration is None and span is not None and span[2] > max_duration:
            duration = max_duration  # the built-in length is capped too, not refused
    max_steps = server.limit("music", "max_steps")
    steps_param = spec.route.param("steps") if spec is not None else None
    if max_steps is not None:
        if steps is not None and steps > max_steps:
            raise SettingRefused(_limit_refusal("music", "max_steps", max_steps, steps, "steps"))
        if steps is None and steps_param is not None and steps_param.default is not None:
            steps = min(int(max_steps), int(steps_param.default))  # the model's default, capped
    extra = {k: o.get(k) for k in ("lyrics", "instrumental", "negative", "seed", "reference")}
    return req.build_music(
        o.get("prompt"), model.value, duration, steps, o.get("start"), pick=route_pick, **extra
    )


def _say(o: dict[str, Any], server: ServerSettings, prefs: MemberPrefs) -> GenerationRequest:
    voice = pick(o.get("voice"), prefs.get("voice"), server.defaults.get("voice"), None)
    model = pick(o.get("model"), prefs.get("tts_model"), server.defaults.get("tts_model"), None)
    if model.value is not None and not server.model_enabled(model.value):
        raise SettingRefused(_model_refusal(model.value))
    max_chars = SAY_MAX_CHARS
    limit = server.limit("say", "max_chars")
    text = (o.get("text") or "").strip()
    if limit is not None:
        if len(text) > limit:
            raise SettingRefused(_limit_refusal("say", "max_chars", limit, len(text), "characters"))
        max_chars = min(max_chars, int(limit))
    options = {k: o.get(k) for k in ("stability", "similarity", "style", "speed", "language")}
    return req.build_say(
        text, voice_id=voice.value, model=model.value, max_chars=max_chars,
        seed=o.get("seed"), normalize=o.get("normalize"), **options,
    )  # fmt: skip


def _sfx(o: dict[str, Any], server: ServerSettings) -> GenerationRequest:
    duration = o.get("duration")
    max_duration = server.limit("sfx", "max_duration")
    if max_duration is not None:
        if duration is not None and duration > max_duration:
            raise SettingRefused(
                _limit_refusal("sfx", "max_duration", max_duration, duration, "seconds")
            )
        duration = duration if duration is not None else max_duration
    return req.build_sfx(o.get("prompt"), duration, o.get("influence"), o.get("loop"))


def visibility(server: ServerSettings, prefs: MemberPrefs) -> str:
    """How a result is posted: a member can make theirs private, never public where the
    server says private."""
    if server.visibility == "private" or prefs.private:
        return "private"
    return server.visibility


def command_of(kind: JobKind) -> str:
    return str(kind)
