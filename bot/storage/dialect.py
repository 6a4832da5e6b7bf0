"""SQLite statements → PostgreSQL statements, so the SQL is written once.

The ``*_sql.py`` modules are written in SQLite's dialect. The PostgreSQL
backend runs each statement through :func:`to_postgres` (cached per text),
which rewrites the handful of constructs the two engines spell differently:

- ``?`` and ``:name`` parameters → ``$n`` (a ``:name`` used twice is one ``$n``);
- ``x IN (SELECT value FROM json_each(p))`` → the same over
  ``json_array_elements_text`` (compared as text: the arrays hold ids or words);
- ``INSERT OR IGNORE`` → ``INSERT … ON CONFLICT DO NOTHING``;
- two-argument ``MAX(a, b)`` / ``MIN(a, b)`` → ``GREATEST`` / ``LEAST``;
- ``strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`` → the same text from ``now()``;
- ``FROM (SELECT 1)`` → an aliased sub-select (PostgreSQL 15 wants the alias).

A statement that needs more than this gets an explicit PostgreSQL twin next to
it in its ``*_sql.py`` module (see :class:`Sql`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_STRING = re.compile(r"'(?:[^']|'')*'")
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)|\?")
_JSON_IN = re.compile(
    r"([\w.]+)\s+IN\s+\(\s*SELECT\s+value\s+FROM\s+json_each\(([^)]+)\)\s*\)", re.I
)
_JSON_SELECT = re.compile(r"SELECT\s+value\s+FROM\s+json_each\(([^)]+)\)", re.I)
_OR_IGNORE = re.compile(r"INSERT\s+OR\s+IGNORE\s+INTO", re.I)
_MAX2 = re.compile(r"\b(MAX|MIN)\(([^(),]+),([^(),]+)\)", re.I)
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
_PG_NOW = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
_SELECT1 = re.compile(r"FROM\s+\(SELECT 1\)(?!\s+AS)", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)


class Sql(str):
    """A statement with an explicit PostgreSQL spelling. It *is* the SQLite text
    (a ``str``), so aiosqlite runs it as is; the PostgreSQL backend reads
    ``.postgresql`` (still translated for parameters) instead."""

    postgresql: str

    def __new__(cls, sqlite: str, postgresql: str) -> Sql:
        made = super().__new__(cls, sqlite)
        made.postgresql = postgresql
        return made


@dataclass(frozen=True)
class Translated:
    sql: str
    names: tuple[str, ...] | None  # parameter names in $n order; None = positional
    count: int


def _whole(sql: str) -> str:
    sql = sql.replace(_NOW, _PG_NOW)
    if _OR_IGNORE.search(sql):
        sql = _OR_IGNORE.sub("INSERT INTO", sql).rstrip().rstrip(";")
        match = _RETURNING.search(sql)
        if match:
            sql = f"{sql[: match.start()]}ON CONFLICT DO NOTHING {sql[match.start() :]}"
        else:
            sql = f"{sql}\nON CONFLICT DO NOTHING"
    return sql


def _rewrite(sql: str) -> str:
    sql = _JSON_IN.sub(r"\1::text IN (SELECT json_array_elements_text(\2::json))", sql)
    sql = _JSON_SELECT.sub(r"SELECT json_array_elements_text(\1::json) AS value", sql)
    sql = _MAX2.sub(
        lambda m: (
            f"{'GREATEST' if m.group(1).upper() == 'MAX' else 'LEAST'}({m.group(2)},{m.group(3)})"
        ),
        sql,
    )
    return _SELECT1.sub("FROM (SELECT 1) AS one", sql)


@functools.lru_cache(maxsize=512)
def to_postgres(sql: str) -> Translated:
    """The PostgreSQL form of ``sql`` and how to order its parameters."""
    sql = _whole(sql)
    names: list[str] = []
    positional = 0
    out: list[str] = []
    pos = 0
    # Parameters are only looked for outside string literals.
    for literal in [*_STRING.finditer(sql), None]:
        end = literal.start() if literal else len(sql)
        chunk = _rewrite(sql[pos:end])

        def number(match: re.Match[str]) -> str:
            nonlocal positional
            if match.group(0) == "?":
                positional += 1
                return f"${positional}"
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        out.append(_PARAM.sub(number, chunk))
        if literal:
            out.append(literal.group(0))
            pos = literal.end()
    if names and positional:
        raise ValueError("a statement mixes ? and :name parameters")
    return Translated("".join(out), tuple(names) if names else None, len(names) or positional)


def postgres_args(translated: Translated, params: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    if translated.names is None:
        return list(params)  # type: ignore[arg-type]
    assert isinstance(params, Mapping), "named parameters need a mapping"
    return [params[name] for name in translated.names]
