"""Rules that belong in bot/, held on the source and on the functions (issue 14, item 4).

- cogs reach each other through typed attributes of the bot: no ``get_cog`` and
  no import of another cog's module;
- one function computes what a member is shown as a job's cost, one the upload limit.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bot.generation.uploads import FALLBACK_LIMIT, MAX_REQUEST_BYTES, upload_limit
from bot.jobs.models import Job, JobState, displayed_cost
from bot.providers.base import JobKind

ROOT = Path(__file__).resolve().parent.parent
COGS = ROOT / "cogs"


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text("utf-8"), str(path))


def _cog_modules() -> set[str]:
    """Modules under cogs/ that define a commands.Cog subclass."""
    found = set()
    for path in COGS.rglob("*.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith("Cog") for base in node.bases
            ):
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_no_cog_calls_get_cog_or_imports_another_cog() -> None:
    cogs = _cog_modules()
    assert {"cogs.generate", "cogs.results", "cogs.voice", "cogs.settings"} <= cogs
    problems = []
    for path in sorted(COGS.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr == "get_cog":
                problems.append(f"{module}:{node.lineno} calls get_cog")
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
                for other in (names & cogs) - {module}:
                    problems.append(f"{module}:{node.lineno} imports {other}")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in cogs and alias.name != module:
                        problems.append(f"{module}:{node.lineno} imports {alias.name}")
    assert problems == []


def _job(**fields: object) -> Job:
    base: dict[str, object] = dict(
        id="j1", guild_id=1, channel_id=2, user_id=3, kind=JobKind.MUSIC, service="aimlapi",
        model="stable-audio", params={}, estimate_tokens=500, state=JobState.READY,
        created_at=0.0,
    )  # fmt: skip
    base.update(fields)
    return Job(**base)  # type: ignore[arg-type]


def test_displayed_cost_prefers_settled_then_reported_then_estimate() -> None:
    def price(service: str, model: str, credits: float) -> float:
        return credits * 2

    assert displayed_cost(_job(), price) == 500
    assert displayed_cost(_job(credits_reported=100.0), price) == 200
    assert displayed_cost(_job(credits_reported=100.0, actual_tokens=7), price) == 7
    assert displayed_cost(_job(credits_reported=100.0), None) == 500


def test_the_result_status_job_and_finisher_use_the_one_cost_rule() -> None:
    users = {
        "cogs/ui/presenter.py": 0,
        "cogs/results.py": 0,
        "bot/jobs/finisher.py": 0,
    }
    for name in users:
        tree = _tree(ROOT / name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "displayed_cost":
                users[name] += 1
            # A second copy of the rule would test these fields itself.
            if isinstance(node, ast.Compare) and "actual_tokens" in ast.unparse(node.left):
                raise AssertionError(f"{name}:{node.lineno} computes a cost of its own")
    assert all(users.values()), users
    # The status line shows the cost it is given, never a field of its own choosing.
    render = ast.unparse(_tree(ROOT / "cogs/ui/render.py"))
    assert "estimate_tokens" not in render and "actual_tokens" not in render


def test_upload_limit_takes_the_interactions_value_when_there_is_one() -> None:
    assert upload_limit(50 * 1024 * 1024, 10 * 1024 * 1024) == 50 * 1024 * 1024
    assert upload_limit(None, 100 * 1024 * 1024) == MAX_REQUEST_BYTES
    assert upload_limit(None, 8 * 1024 * 1024) == 8 * 1024 * 1024
    assert upload_limit(None, None) == FALLBACK_LIMIT


def test_no_cog_computes_an_upload_limit_of_its_own() -> None:
    for path in sorted(COGS.rglob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr == "filesize_limit":
                parent_calls = [
                    n
                    for n in ast.walk(_tree(path))
                    if isinstance(n, ast.Call)
                    and any(ast.unparse(a) == ast.unparse(node) for a in ast.walk(n))
                    and ast.unparse(n.func) in ("upload_limit", "ReplyTarget")
                ]
                assert parent_calls, f"{path.name}:{node.lineno} uses filesize_limit directly"
