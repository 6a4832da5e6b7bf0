"""Plain data for server settings and member preferences (no I/O, no discord).

A value that is not set is absent, never stored as a copy of the built-in
default: that is how ``/settings show`` tells "server setting" from "built-in
default", and why ``reset`` is a delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The one list of command choices everywhere (``all`` where a setting can apply to each).
COMMANDS = ("music", "say", "sfx", "play")
ALL = "all"
COMMAND_SCOPES = (*COMMANDS, ALL)
# The limits that fit each command: (name, unit, whole number?).
LIMITS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "music": (("max_duration", "seconds", False), ("max_steps", "steps", True)),
    "sfx": (("max_duration", "seconds", False),),
    "say": (("max_chars", "characters", True),),
}
# The range each limit may be set to (the /settings limit options and the dashboard's form).
LIMIT_BOUNDS: dict[str, tuple[float, float]] = {
    "max_duration": (0.5, 300.0),
    "max_steps": (1, 1000),
    "max_chars": (1, 40_000),
}
DEFAULT_NAMES = ("model", "voice", "tts_model")
VISIBILITIES = ("public", "private", "spoiler")
BUILTIN_VISIBILITY = "public"
# Server-wide switches kept beside the defaults (settings_defaults), each "on" | "off".
SWITCHES = {"soundboard": "on"}  # ➕ Soundboard under results
PREF_NAMES = ("voice", "model", "tts_model", "private")


@dataclass(frozen=True)
class ServerSettings:
    guild_id: int
    allowed: dict[str, frozenset[int]] = field(default_factory=dict)
    denied: dict[str, frozenset[int]] = field(default_factory=dict)
    enabled: dict[str, bool] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    limits: dict[tuple[str, str], float] = field(default_factory=dict)
    models: dict[str, bool] = field(default_factory=dict)
    # model, voice, tts_model, visibility and the SWITCHES
    defaults: dict[str, str] = field(default_factory=dict)

    def limit(self, command: str, name: str) -> float | None:
        return self.limits.get((command, name))

    def model_enabled(self, model: str) -> bool:
        return self.models.get(model, True)

    @property
    def visibility(self) -> str:
        return self.defaults.get("visibility", BUILTIN_VISIBILITY)

    def switch(self, name: str) -> bool:
        return self.defaults.get(name, SWITCHES[name]) == "on"


@dataclass(frozen=True)
class MemberPrefs:
    guild_id: int
    user_id: int
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    @property
    def private(self) -> bool:
        return self.values.get("private") == "1"


@dataclass(frozen=True)
class MemberContext:
    """Who asks, where: what a command check needs (role ids include @everyone)."""

    guild_id: int
    channel_id: int
    user_id: int
    role_ids: tuple[int, ...] = ()
