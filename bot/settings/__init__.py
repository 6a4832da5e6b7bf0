"""Server settings and member preferences (issue 14): model, store, resolution rule, service."""

from bot.settings.model import MemberContext, MemberPrefs, ServerSettings
from bot.settings.resolve import SettingRefused, music_model_names
from bot.settings.service import SettingsService

__all__ = [
    "MemberContext",
    "MemberPrefs",
    "ServerSettings",
    "SettingRefused",
    "SettingsService",
    "music_model_names",
]
