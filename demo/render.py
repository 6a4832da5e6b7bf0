"""A Discord message as the lines of text a member would read (for the demo transcript)."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from tests.fakes.discord_state import FakeMessage, iter_components

_TIMESTAMP = re.compile(r"<t:(\d+)(?::([a-zA-Z]))?>")
_USER = re.compile(r"<@!?(\d+)>")
NAMES = {2002: "@alice"}  # the demo's member (tests/fakes/fixtures.py MEMBER_ID)


def plain(text: str, now: float | None = None) -> str:
    """Discord markup as the client shows it: timestamps and mentions."""
    now = time.time() if now is None else now

    def when(m: re.Match[str]) -> str:
        ts = int(m.group(1))
        if m.group(2) == "R":
            return _relative(ts - now)
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    text = _TIMESTAMP.sub(when, text)
    return _USER.sub(lambda m: NAMES.get(int(m.group(1)), "@member"), text)


def _relative(seconds: float) -> str:
    amount, unit = abs(seconds), "seconds"
    for size, name in ((86400, "days"), (3600, "hours"), (60, "minutes")):
        if amount >= size:
            amount, unit = amount / size, name
            break
    text = f"{amount:.0f} {unit}"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def render_message(message: FakeMessage) -> list[str]:
    head = "  [only you can see this]" if message.ephemeral else "  [Foley]"
    lines = [head]
    lines += [f"  {line}" for line in plain(message.content or "").splitlines()]
    for embed in message.embeds:
        lines += _embed(embed)
    for attachment in message.attachments:
        lines.append(f"  📎 {attachment.filename} ({attachment.size:,} bytes)")
    buttons = [_button(c) for c in iter_components(message.components) if c.get("type") == 2]
    if buttons:
        lines.append("  " + "  ".join(buttons))
    return lines


def _embed(embed: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if embed.get("title"):
        lines.append(f"  │ **{plain(embed['title'])}**")
    for line in plain(embed.get("description") or "").splitlines():
        lines.append(f"  │ {line}")
    for field in embed.get("fields", []):
        lines.append(f"  │ {field['name']}: {plain(field['value'])}")
    if embed.get("footer", {}).get("text"):
        lines.append(f"  │ ({plain(embed['footer']['text'])})")
    return lines


def _button(component: dict[str, Any]) -> str:
    emoji = (component.get("emoji") or {}).get("name") or ""
    label = " ".join(part for part in (emoji, component.get("label") or "") if part)
    return f"[{label or '?'}]"
