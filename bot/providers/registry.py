"""Build the provider clients from settings (called once by the composition root)."""

from __future__ import annotations

import aiohttp

from bot.config import Settings
from bot.live_audio import LiveAudioHub
from bot.providers.aimlapi import AimlapiClient
from bot.providers.base import Provider
from bot.providers.elevenlabs import ElevenLabsClient
from bot.providers.retry import RetryPolicy

# Which environment variable enables each service (for "not configured" hints).
KEY_VARIABLES = {"aimlapi": "AIMLAPI_API_KEY", "elevenlabs": "ELEVENLABS_API_KEY"}


def build_providers(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    retry: RetryPolicy | None = None,
    live: LiveAudioHub | None = None,
) -> dict[str, Provider]:
    """Both clients, keyed by service; a client without a key is present but disabled."""
    aimlapi = AimlapiClient(
        session,
        settings.aimlapi_api_key,
        base_url=settings.aimlapi_base_url,
        timeout_s=settings.provider_timeout_s,
        retry=retry,
        max_download_bytes=settings.max_download_bytes,
        download_allowed_hosts=settings.download_allowed_hosts,
        download_stall_s=settings.download_stall_s,
    )
    elevenlabs = ElevenLabsClient(
        session,
        settings.elevenlabs_api_key,
        base_url=settings.elevenlabs_base_url,
        timeout_s=settings.provider_timeout_s,
        retry=retry,
        default_voice=settings.elevenlabs_default_voice,
        max_audio_bytes=settings.max_download_bytes,
        pronunciation_dictionaries=settings.elevenlabs_pronunciation_dictionaries,
        zero_retention=settings.elevenlabs_zero_retention,
        ffmpeg_path=settings.ffmpeg_path,
        live=live,
    )
    return {aimlapi.service: aimlapi, elevenlabs.service: elevenlabs}
