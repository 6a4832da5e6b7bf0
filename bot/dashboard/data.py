"""What the pages show, gathered from the same services as ``/usage``, ``/quota`` and
``python -m bot usage`` (ledger, policy, moderation, calibration, reconciliation
drift, breakers, the engine's queue). Plain data: the templates only arrange it.
Members, roles and mentions are :mod:`~bot.dashboard.names` cells, named by the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.dashboard.names import Mentions, Ref
from bot.jobs.models import JobState
from bot.quotas import render as r
from bot.quotas.calibration import build_report
from bot.quotas.periods import day_key
from bot.services import Services
from bot.storage import dashboard_sql as sql

PAGE_SIZE = 25
MEMBER_SORTS = ("user", "allowance", "spent", "remaining", "blocked")
JOB_KINDS = ("music", "say", "sfx")
JOB_STATES = tuple(str(s) for s in JobState)


@dataclass(frozen=True)
class Table:
    """A table as shown (and exported as CSV): a caption, headers and rows of text."""

    name: str
    caption: str
    headers: list[str]
    rows: list[list[Any]]


def _price(services: Services, service: str, tokens: int) -> float | None:
    try:
        return services.pricing.usd(service, tokens)
    except Exception:  # an unknown service has no price; the page shows a dash
        return None


def since_day(services: Services, days: int) -> str:
    return day_key(services.ledger.clock() - timedelta(days=days - 1))


async def daily_chart(services: Services, guild_id: int, days: int) -> Table:
    """Tokens per UTC day, one column per command · model, and the day's total."""
    rows = await sql.daily_spend(services.db, guild_id, since_day(services, days))
    series = sorted({f"{row['command'] or 'other'} · {row['model'] or '-'}" for row in rows})
    per_day: dict[str, dict[str, int]] = {}
    for row in rows:
        name = f"{row['command'] or 'other'} · {row['model'] or '-'}"
        per_day.setdefault(row["day"], {})[name] = int(row["tokens"])
    body = [
        [day, *(cells.get(s, 0) for s in series), sum(cells.values())]
        for day, cells in sorted(per_day.items())
    ]
    return Table(
        "daily",
        f"Tokens spent per day (UTC), last {days} days, by command and model",
        ["Day", *series, "Total"],
        body,
    )


async def members(
    services: Services,
    guild_id: int,
    *,
    query: str = "",
    sort: str = "spent",
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> tuple[Table, int]:
    """This period's members (known to the ledger or the limits): usage as in /quota show."""
    ledger = services.ledger
    ids = await sql.guild_members(services.db, guild_id, ledger.current_period())
    if query:
        ids = [i for i in ids if query.strip() in str(i)]
    found = []
    for user_id in ids:
        # Role allowances need the member's roles from Discord; the table uses the
        # member's own override or the default (what /quota show says without roles).
        s = await ledger.usage(guild_id, user_id, (), recent=0)
        found.append((user_id, s.allowance + s.granted, s.spent, s.remaining, s.blocked))
    key = MEMBER_SORTS.index(sort) if sort in MEMBER_SORTS else 2
    found.sort(key=lambda row: (row[key], row[0]), reverse=key != 0)
    pages = max(1, -(-len(found) // page_size))
    page = min(max(1, page), pages)
    shown = found[(page - 1) * page_size : page * page_size]
    rows: list[list[Any]] = [
        [Ref("user", u, str(u)), allowance, spent, remaining, "yes" if blocked else "no"]
        for u, allowance, spent, remaining, blocked in shown
    ]
    return Table(
        "members",
        f"Members' usage this {services.settings.quota_period} ({ledger.current_period()}, UTC)",
        ["Member", "Allowance", "Spent", "Remaining", "Blocked"],
        rows,
    ), pages


@dataclass(frozen=True)
class JobRow:
    job_id: str
    user_id: int
    kind: str
    model: str
    state: str
    created: str
    tokens: int
    duration_s: float | None
    playable: bool


async def recent_jobs(
    services: Services,
    guild_id: int,
    *,
    kind: str | None = None,
    state: str | None = None,
    user_id: int | None = None,
    limit: int = 20,
) -> list[JobRow]:
    rows = await sql.recent_guild_jobs(
        services.db, guild_id, kind=kind, state=state, user_id=user_id, limit=limit
    )
    out = []
    for row in rows:
        # A stat per listed job (at most ``limit``): cheap, and says what will play.
        stored = bool(row["output_path"]) and Path(row["output_path"]).is_file()  # noqa: ASYNC240
        delivered = row["result_message_id"] or row["status_message_id"]
        out.append(
            JobRow(
                job_id=row["id"],
                user_id=int(row["user_id"]),
                kind=row["kind"],
                model=row["model"],
                state=row["state"],
                created=_when(row["created_at"]),
                tokens=int(row["actual_tokens"] or row["estimate_tokens"] or 0),
                duration_s=row["output_duration_s"],
                playable=stored or (bool(delivered) and row["channel_id"] is not None),
            )
        )
    return out


def jobs_table(jobs: list[JobRow]) -> Table:
    return Table(
        "jobs",
        "Recent jobs",
        ["Job", "Member", "Command", "Model", "State", "Created (UTC)", "Tokens", "Length (s)"],
        [
            [
                j.job_id,
                Ref("user", j.user_id, str(j.user_id)),
                j.kind,
                j.model,
                j.state,
                j.created,
                j.tokens,
                "" if j.duration_s is None else f"{j.duration_s:.2f}",
            ]
            for j in jobs
        ],
    )


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M")


async def audit_table(services: Services, guild_id: int, limit: int = 50) -> Table:
    entries = await services.moderation.audit_log(guild_id, limit=limit)
    return Table(
        "audit",
        "Audit log (newest first)",
        ["#", "When (UTC)", "By", "Action", "Target", "Change"],
        [
            [
                e.audit_id,
                e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "—" if e.actor_id is None else Ref("user", e.actor_id, str(e.actor_id)),
                r.audit_label(e.action),
                _target(e.target),
                Mentions(r.unmarked(r.audit_change(e))),
            ]
            for e in entries
        ],
    )


def _target(target: str) -> Any:
    """``user:1`` and ``role:2`` are named on the page; CSV keeps the target as written."""
    kind, _, value = target.partition(":")
    if kind in ("user", "role") and value.isdigit():
        return Ref(kind, int(value), target)
    return target


# ---------------------------------------------------------------- operator


async def operator_tables(services: Services, days: int = 30) -> dict[str, Table]:
    ledger = services.ledger
    period = ledger.current_period()
    by_service = await ledger.spend_by_service(None)  # what `python -m bot usage` prints
    guilds = await ledger.guild_spend()
    daily = await sql.service_daily(services.db, since_day(services, days))
    today = await ledger.spent_today(None)
    cap = services.settings.global_daily_tokens
    stats = services.engine.stats()
    health = []
    for service, provider in sorted(services.providers.items()):
        if not provider.enabled:
            health.append([provider.display_name, "not configured", "", "", 0, 0])
            continue
        snap = services.breakers[service].snapshot()
        health.append(
            [
                provider.display_name,
                snap["status"],
                snap["state"],
                snap["last_error"] or "",
                stats.queued.get(service, 0),
                stats.in_flight.get(service, 0),
            ]
        )
    calibration = await build_report(services.db.conn)
    drift = await sql.reconcile_drift(services.db)
    return {
        "providers": Table(
            "providers",
            f"Spend per provider this {services.settings.quota_period} ({period}, UTC)",
            ["Provider", "Tokens", "Dollars"],
            [[name or "-", s.tokens, r.usd(s.usd)] for name, s in by_service],
        ),
        "daily": Table(
            "daily",
            f"Spend per day and provider (UTC), last {days} days",
            ["Day", "Provider", "Tokens", "Dollars"],
            [
                [d["day"], d["service"] or "-", int(d["tokens"]), r.usd(float(d["usd"]))]
                for d in daily
            ],
        ),
        "servers": Table(
            "servers",
            f"Servers this {services.settings.quota_period}",
            ["Server", "Tokens", "Dollars"],
            [[Ref("guild", g, str(g)), s.tokens, r.usd(s.usd)] for g, s in guilds],
        ),
        "cap": Table(
            "cap",
            "Global daily cap (UTC day)",
            ["Spent today", "Cap", "Used"],
            [[today.tokens, cap, f"{today.tokens / cap:.1%}" if cap else "no cap"]],
        ),
        "health": Table(
            "health",
            "Providers: health, breaker and queue",
            ["Provider", "Health", "Breaker", "Last error", "Queued", "Running"],
            health,
        ),
        "calibration": Table(
            "calibration",
            "Calibration per model (last settled jobs)",
            [
                "Model",
                "Provider",
                "Unit",
                "Estimate per unit",
                "Reported per unit",
                "Mean quote error",
                "Worst",
            ],
            [
                [
                    c.model,
                    c.service,
                    c.unit,
                    f"{c.estimate_per_unit:.2f}",
                    f"{c.reported_per_unit:.2f}",
                    f"{c.mean_error:.0%}",
                    f"{c.worst_error:.0%}",
                ]
                for c in calibration
            ],
        ),
        "drift": Table(
            "drift",
            "Reconciliation drift per model (provider billing vs the ledger)",
            ["Provider", "Model", "Charges", "Billed tokens", "Booked tokens", "Drift"],
            [
                [
                    d["service"],
                    d["model"] or "-",
                    d["charges"],
                    d["charged"],
                    d["booked"],
                    f"{(d['charged'] - d['booked']) / d['booked']:+.2%}" if d["booked"] else "n/a",
                ]
                for d in drift
            ],
        ),
    }
