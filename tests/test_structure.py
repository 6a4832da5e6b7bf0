"""The layering rules of docs/ARCHITECTURE.md, checked on the source itself.

Only the Discord adapter (``bot/client.py`` and ``cogs/``) may import discord,
and SQL statements live only in ``bot/storage/``. Both rules read the code with
``ast``, so a comment or docstring mentioning ``discord`` or ``SELECT`` is fine,
while an import or a string literal holding a statement is not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISCORD_ADAPTER = {ROOT / "bot" / "client.py"}
STORAGE = ROOT / "bot" / "storage"

# A statement, not a word: each pattern needs the keyword pair that makes it SQL.
SQL_STATEMENT = re.compile(
    r"\b(SELECT\b[\s\S]+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(TABLE|INDEX|TRIGGER|VIEW)|ALTER\s+TABLE|DROP\s+TABLE|BEGIN\s+IMMEDIATE)\b",
    # Case-sensitive on purpose: our SQL is upper-case, and "select a voice from…" is prose.
)


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _sql_literals(tree: ast.AST) -> list[tuple[int, str]]:
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and SQL_STATEMENT.search(node.value)
        ):
            found.append((node.lineno, node.value.strip().splitlines()[0][:60]))
    return found


@pytest.mark.parametrize("path", _modules("bot"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_does_not_import_discord(path: Path) -> None:
    if path in DISCORD_ADAPTER:
        return
    roots = _imported_roots(ast.parse(path.read_text(encoding="utf-8")))
    assert "discord" not in roots, (
        f"{path.relative_to(ROOT)} imports discord: only bot/client.py and cogs/ may"
    )


@pytest.mark.parametrize("path", _modules("bot", "cogs"), ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_lives_in_storage(path: Path) -> None:
    if STORAGE in path.parents:
        return
    found = _sql_literals(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"SQL outside bot/storage/ in {path.relative_to(ROOT)}: {found}"


def test_rules_catch_what_they_are_for() -> None:
    # The checks themselves must be able to fail: feed them code that breaks each rule.
    bad = ast.parse('import discord.ui\nQ = "SELECT id FROM jobs WHERE x = ?"\n')
    assert "discord" in _imported_roots(bad)
    assert _sql_literals(bad)
    fine = ast.parse('"""Select a voice from the list."""\nMSG = "Update your settings"\n')
    assert not _sql_literals(fine)
