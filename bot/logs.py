"""One log format for the whole process, plus redaction of secrets.

The redaction filter runs on every record that reaches the root handler, so a
token that slips into an exception message, a URL or a library's debug line
is replaced before it is written anywhere.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
REDACTED = "[redacted]"

# Discord interaction/webhook tokens travel inside URL paths that discord.py
# logs at DEBUG; they grant 15 minutes of posting as the bot, so mask them too.
_WEBHOOK_TOKEN = re.compile(r"(/(?:webhooks|interactions)/\d+/)([A-Za-z0-9_\-\.]{20,})")
# …and as a field of the gateway payloads discord.py dumps at DEBUG ("WebSocket
# Event: {... 'token': '…'}" for INTERACTION_CREATE, and VOICE_SERVER_UPDATE's
# voice token), as a Python repr or as JSON.
_TOKEN_FIELD = re.compile(r"""(["'](?:[a-z_]*_)?token["']\s*:\s*["'])[^"']{8,}(["'])""")
_BEARER = re.compile(r"((?:Bearer|Bot)\s+)[A-Za-z0-9_\-\.]{8,}")
_XI_KEY = re.compile(r"(xi-api-key['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9_\-]{8,}", re.IGNORECASE)


class RedactingFilter(logging.Filter):
    """Replace known secrets and token-shaped substrings in the final message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _WEBHOOK_TOKEN.sub(rf"\1{REDACTED}", text)
        text = _TOKEN_FIELD.sub(rf"\1{REDACTED}\2", text)
        text = _BEARER.sub(rf"\1{REDACTED}", text)
        return _XI_KEY.sub(rf"\1{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> RedactingFilter:
    """Configure the root logger once; returns the filter so callers can add secrets."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_foley", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._foley = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    root.addHandler(handler)
    root.setLevel(level)
    # discord.py's gateway chatter at DEBUG is huge; keep it at INFO unless asked.
    if level != "DEBUG":
        logging.getLogger("discord.gateway").setLevel(logging.WARNING)
    return redactor


def new_reference() -> str:
    """A short id that ties a user-facing error message to its log line."""
    return uuid.uuid4().hex[:8].upper()
