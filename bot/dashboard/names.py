"""Names for the ids the pages show: the server, members, channels and roles.

The tables in :mod:`bot.dashboard.data` hold :class:`Ref` cells (a member, a role)
and :class:`Mentions` cells (text written for Discord, with ``<#id>``-style
mentions). :func:`wanted` collects their ids so the page asks the Discord side
for every name at once (``DiscordSide.names``), then :meth:`Names.table` turns
them into :class:`Named` cells: the page shows the name (beside the id, where an
id is what a form takes), and a CSV export keeps the id and adds a name column.
Names are only ever text for the templates, which escape them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.dashboard.data import Table

# <#channel>, <@&role>, <@member> / <@!member>: what bot/quotas/render.py and /settings write.
MENTION = re.compile(r"<(#|@&|@!?)(\d+)>")
KINDS = {"#": "channel", "@&": "role", "@": "user", "@!": "user"}


@dataclass(frozen=True)
class Ref:
    """A cell naming one member (``kind="user"``), role or server (``"guild"``, named by the
    operator page); ``raw`` is what CSV keeps."""

    kind: str
    id: int
    raw: str

    def __str__(self) -> str:  # a table shown without naming still shows its ids
        return self.raw


@dataclass(frozen=True)
class Mentions:
    """A cell of text written for Discord; its mentions become names on the page."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Named:
    """A cell after naming: ``shown`` on the page; in CSV ``raw`` and then ``name``."""

    raw: Any
    name: str
    shown: str

    def __str__(self) -> str:
        return self.shown


@dataclass(frozen=True)
class Wanted:
    users: set[int] = field(default_factory=set)
    channels: set[int] = field(default_factory=set)
    roles: set[int] = field(default_factory=set)

    def add(self, kind: str, object_id: int) -> None:
        {"user": self.users, "channel": self.channels, "role": self.roles}[kind].add(object_id)


def wanted(
    tables: Iterable[Table], texts: Iterable[str | None] = (), users: Iterable[int] = ()
) -> Wanted:
    """Every id the given tables, texts and members would show."""
    found = Wanted(users=set(users))
    pieces: list[str] = [t for t in texts if t]
    for table in tables:
        for row in table.rows:
            for cell in row:
                if isinstance(cell, Ref):
                    found.add(cell.kind, cell.id)
                elif isinstance(cell, Mentions):
                    pieces.append(cell.text)
    for text in pieces:
        for mark, object_id in MENTION.findall(text):
            found.add(KINDS[mark], int(object_id))
    return found


@dataclass(frozen=True)
class Names:
    """What the Discord side could name; anything missing is shown by its id."""

    guild: str | None = None
    users: Mapping[int, str] = field(default_factory=dict)
    channels: Mapping[int, str] = field(default_factory=dict)
    roles: Mapping[int, str] = field(default_factory=dict)

    def server(self, guild_id: int) -> str:
        return self.guild or f"Server {guild_id}"

    def user(self, user_id: int) -> str:
        return self.users.get(user_id) or f"unknown member {user_id}"

    def channel(self, channel_id: int) -> str:
        name = self.channels.get(channel_id)
        return f"#{name}" if name else f"unknown channel {channel_id}"

    def role(self, role_id: int) -> str:
        name = self.roles.get(role_id)
        return f"@{name}" if name else f"unknown role {role_id}"

    def known(self, kind: str, object_id: int) -> str | None:
        found = {"user": self.users, "channel": self.channels, "role": self.roles}[kind]
        return found.get(object_id)

    def label(self, kind: str, object_id: int) -> str:
        """``alice (2002)``: the name with the id a form or filter takes; else the fallback."""
        if self.known(kind, object_id) is None:
            return getattr(self, kind)(object_id)
        shown = self.user(object_id) if kind == "user" else getattr(self, kind)(object_id)
        return f"{shown} ({object_id})"

    def text(self, text: str) -> str:
        """Discord mentions in text written for Discord, as names."""

        def name(m: re.Match[str]) -> str:
            kind, object_id = KINDS[m.group(1)], int(m.group(2))
            if kind == "user":
                known = self.users.get(object_id)
                return f"@{known}" if known else self.user(object_id)
            return getattr(self, kind)(object_id)

        return MENTION.sub(name, text)

    def cell(self, cell: Any) -> Any:
        if isinstance(cell, Ref):
            return Named(cell.raw, self.known(cell.kind, cell.id) or "",
                         self.label(cell.kind, cell.id))  # fmt: skip
        if isinstance(cell, Mentions):
            if not MENTION.search(cell.text):
                return cell.text
            named = self.text(cell.text)
            return Named(cell.text, named, named)
        return cell

    def table(self, table: Table) -> Table:
        rows = [[self.cell(c) for c in row] for row in table.rows]
        return dataclasses.replace(table, rows=rows)


def export(table: Table) -> tuple[list[str], list[list[Any]]]:
    """A named table for CSV: each column with names keeps its ids and gains a name column."""
    named = {i for row in table.rows for i, c in enumerate(row) if isinstance(c, Named)}
    headers: list[str] = []
    for i, header in enumerate(table.headers):
        headers += [header, f"{header} name"] if i in named else [header]
    rows = []
    for row in table.rows:
        out: list[Any] = []
        for i, c in enumerate(row):
            if i in named:
                out += [c.raw, c.name] if isinstance(c, Named) else [c, ""]
            else:
                out.append(c)
        rows.append(out)
    return headers, rows
