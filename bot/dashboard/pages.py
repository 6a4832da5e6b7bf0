"""The dashboard's routes: the server page, the operator page, CSV, audio.

Changes go through the same service calls as the slash commands (the quota
policy writes the audit entry in the change's transaction), then the entry is
posted to the log channel through the Discord side, as ``/quota`` does.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
from aiohttp import web

from bot.attachments import is_media_url
from bot.dashboard import data, settings_page, signin_pages
from bot.dashboard.auth import Session
from bot.dashboard.names import Named, Names, export, wanted
from bot.quotas import render as r
from bot.quotas.policy import MAX_TOKENS, limit_from_amount
from bot.storage import dashboard_sql as sql

if TYPE_CHECKING:
    from bot.dashboard.server import DashboardServer

log = logging.getLogger(__name__)

SERVER_NAMES = 50  # servers the operator page names (biggest spenders first): a names call each
AUDIO_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg", ".m4a": "audio/mp4"}


def add_routes(app: web.Application, server: DashboardServer) -> None:
    p = Pages(server)
    r_ = app.router
    signin_pages.add_routes(app, server)
    r_.add_get("/", p.index)
    r_.add_get("/g/{guild_id:\\d+}", p.guild)
    r_.add_post("/g/{guild_id:\\d+}/allowance", p.allowance_form)
    r_.add_post("/g/{guild_id:\\d+}/settings", settings_page.Forms(p).submit)
    r_.add_get("/g/{guild_id:\\d+}/export/{table}.csv", p.guild_csv)
    r_.add_get("/g/{guild_id:\\d+}/jobs/{job_id}/audio", p.audio)
    r_.add_get("/api/g/{guild_id:\\d+}/daily", p.api_daily)
    r_.add_post("/api/g/{guild_id:\\d+}/allowance", p.api_allowance)
    r_.add_get("/operator", p.operator)
    r_.add_get("/operator/export/{table}.csv", p.operator_csv)


def _session(request: web.Request) -> Session:
    from bot.dashboard.server import SESSION_KEY

    return request[SESSION_KEY]


def _int(value: str | None, default: int | None = None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _csv(table: data.Table) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    headers, rows = export(table)  # ids stay; names are columns of their own
    writer.writerow(headers)
    writer.writerows(rows)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="foley-{table.name}.csv"'},
    )


class Pages:
    def __init__(self, server: DashboardServer) -> None:
        self.server = server
        self.services = server.services

    # -- access ---------------------------------------------------------------------------
    def guild_for(self, request: web.Request) -> tuple[Session, int]:
        """The page's server, if this session may see it (its moderator, or the operator)."""
        session = _session(request)
        guild_id = int(request.match_info["guild_id"])
        if not session.is_owner and session.guild_id != guild_id:
            raise web.HTTPForbidden(
                text="Your dashboard session is for another server. Use /dashboard link in "
                "this server to open its page."
            )
        return session, guild_id

    def _owner(self, request: web.Request) -> Session:
        session = _session(request)
        if not session.is_owner:
            raise web.HTTPForbidden(
                text="Only the bot's operator sees this page "
                "(python -m bot dashboard-link --owner)."
            )
        return session

    async def names(
        self, guild_id: int, tables: Iterable[data.Table],
        texts: Iterable[str | None] = (), users: Iterable[int] = (),
    ) -> Names:  # fmt: skip
        """Every name the page shows, in one question to the Discord side."""
        w = wanted(tables, texts, users)
        return await self.server.discord.names(guild_id, w.users, w.channels, w.roles)

    # -- home ----------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        session = _session(request)
        raise web.HTTPFound("/operator" if session.is_owner else f"/g/{session.guild_id}")

    # -- the server page ------------------------------------------------------------------
    async def guild(self, request: web.Request) -> web.StreamResponse:
        session, guild_id = self.guild_for(request)
        return await self.render_guild(request, session, guild_id)

    async def render_guild(
        self, request: web.Request, session: Session, guild_id: int, *,
        settings_error: str | None = None, status: int = 200,
    ) -> web.Response:  # fmt: skip
        """The server page; a refused settings form shows it again with the refusal."""
        q = request.query
        days = 90 if q.get("days") == "90" else 30
        kind = q.get("kind") if q.get("kind") in data.JOB_KINDS else None
        state = q.get("state") if q.get("state") in data.JOB_STATES else None
        user = _int(q.get("user"))
        sort = q.get("sort", "spent")
        page = _int(q.get("page"), 1) or 1
        members, pages = await data.members(
            self.services, guild_id, query=q.get("q", ""), sort=sort, page=page
        )
        jobs = await data.recent_jobs(self.services, guild_id, kind=kind, state=state, user_id=user)
        jobs_table = data.jobs_table(jobs)
        audit = await data.audit_table(self.services, guild_id)
        panel = await settings_page.context(self.services, guild_id)
        changed = None
        if (audit_id := _int(q.get("changed"))) is not None:
            for entry in await self.services.moderation.audit_log(guild_id, limit=20):
                if entry.audit_id == audit_id:
                    label = r.audit_label(entry.action)
                    if entry.target.startswith("setting:"):  # name the setting, as /settings does
                        label = f"{label} {entry.target.removeprefix('setting:')}"
                    changed = f"{label}: {r.audit_change(entry)}"
        names = await self.names(
            guild_id, [members, jobs_table, audit, panel["settings"]], [changed],
            [j.user_id for j in jobs],
        )  # fmt: skip
        return aiohttp_jinja2.render_template(
            "server.html",
            request,
            {
                **panel,
                "settings": names.table(panel["settings"]),
                "settings_error": r.unmarked(settings_error) if settings_error else None,
                "session": session,
                "guild_id": guild_id,
                "names": names,
                "server_name": names.server(guild_id),
                "days": days,
                "chart": await data.daily_chart(self.services, guild_id, days),
                "members": names.table(members),
                "pages": pages,
                "page": min(max(1, page), pages),
                "sort": sort,
                "q": q.get("q", ""),
                "jobs": jobs,
                "jobs_table": names.table(jobs_table),
                "filters": {"kind": kind, "state": state, "user": user},
                "kinds": data.JOB_KINDS,
                "states": data.JOB_STATES,
                "audit": names.table(audit),
                "changed": names.text(r.unmarked(changed)) if changed else None,
                "period": self.services.settings.quota_period,
                "max_tokens": MAX_TOKENS,
                "error": q.get("error"),
            },
            status=status,
        )

    async def _set_allowance(self, session: Session, guild_id: int, form: Any) -> int:
        """Validate like /quota set, change through the policy, post the audit entry."""
        user_id = _int(str(form.get("user_id", "")).strip())
        amount = _int(str(form.get("amount", "")).strip())
        if user_id is None or user_id <= 0:
            raise web.HTTPBadRequest(text="Give the member's Discord id (a number).")
        if amount is None:
            raise web.HTTPBadRequest(text="Give the allowance in tokens, or -1 to remove it.")
        try:
            limit = limit_from_amount(amount)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"That allowance was refused: {exc}.") from None
        actor = session.user_id or None
        await self.services.policy.set_user_allowance(guild_id, user_id, limit, actor)
        return await self.post_audit(guild_id, actor, "quota.user_limit", f"user:{user_id}")

    async def post_audit(self, guild_id: int, actor: int | None, action: str, target: str) -> int:
        """Post the entry a change just wrote to the log channel, as the slash commands do."""
        entry = await self.services.moderation.latest_entry(guild_id, actor, action, target)
        if entry is None:
            log.warning("guild %s: no audit entry found for %s on %s", guild_id, action, target)
            return 0
        await self.server.discord.post_audit(guild_id, entry)
        return entry.audit_id

    async def allowance_form(self, request: web.Request) -> web.StreamResponse:
        session, guild_id = self.guild_for(request)
        audit_id = await self._set_allowance(session, guild_id, await request.post())
        raise web.HTTPSeeOther(f"/g/{guild_id}?changed={audit_id}#quotas")

    async def api_allowance(self, request: web.Request) -> web.StreamResponse:
        session, guild_id = self.guild_for(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="Send a JSON object.") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="Send a JSON object.")
        audit_id = await self._set_allowance(session, guild_id, body)
        return web.json_response({"audit_id": audit_id})

    async def api_daily(self, request: web.Request) -> web.StreamResponse:
        _, guild_id = self.guild_for(request)
        days = 90 if request.query.get("days") == "90" else 30
        table = await data.daily_chart(self.services, guild_id, days)
        return web.json_response({"headers": table.headers, "rows": table.rows})

    async def guild_csv(self, request: web.Request) -> web.StreamResponse:
        _, guild_id = self.guild_for(request)
        name = request.match_info["table"]
        days = 90 if request.query.get("days") == "90" else 30
        if name == "daily":
            return _csv(await data.daily_chart(self.services, guild_id, days))
        if name == "members":
            q = request.query  # the search and order shown, every page
            table, _ = await data.members(
                self.services, guild_id, query=q.get("q", ""), sort=q.get("sort", "spent"),
                page_size=10**9,
            )  # fmt: skip
        elif name == "jobs":
            table = data.jobs_table(await data.recent_jobs(self.services, guild_id))
        elif name == "audit":
            table = await data.audit_table(self.services, guild_id)
        elif name == "settings":
            table = await settings_page.settings_table(self.services, guild_id)
        else:
            raise web.HTTPNotFound(text="No such table.")
        # Every member of the period, in one export: the Discord side's bound on lookups
        # holds; members it did not name keep an empty name column.
        return _csv((await self.names(guild_id, [table])).table(table))

    async def audio(self, request: web.Request) -> web.StreamResponse:
        _, guild_id = self.guild_for(request)
        row = await sql.guild_job(self.services.db, request.match_info["job_id"], guild_id)
        if row is None:
            raise web.HTTPNotFound(text="No such job in this server.")
        path = Path(row["output_path"]) if row["output_path"] else None
        if path is not None and path.is_file():
            return web.FileResponse(
                path, headers={"Content-Type": AUDIO_TYPES.get(path.suffix, "audio/mpeg")}
            )
        message_id = row["result_message_id"] or row["status_message_id"]
        if row["channel_id"] and message_id:
            url = await self.server.discord.attachment_url(int(row["channel_id"]), int(message_id))
            if url and is_media_url(url, self.services.settings):  # never an open redirect
                raise web.HTTPFound(url)
        raise web.HTTPNotFound(
            text="This job's audio is gone: the file expired and no message has it."
        )

    # -- the operator page ----------------------------------------------------------------
    async def operator_tables(self) -> dict[str, data.Table]:
        tables = await data.operator_tables(self.services)
        servers, rows = tables["servers"], []
        naming = True
        for n, row in enumerate(servers.rows):
            ref, name = row[0], None
            if naming and n < SERVER_NAMES:
                name = (await self.server.discord.names(ref.id)).guild
                naming = name is not None  # Discord can't say now: don't ask for every row
            rows.append([Named(ref.raw, name or "", f"{name} ({ref.id})" if name else ref.raw),
                         *row[1:]])  # fmt: skip
        tables["servers"] = dataclasses.replace(servers, rows=rows)
        return tables

    async def operator(self, request: web.Request) -> web.StreamResponse:
        session = self._owner(request)
        tables = await self.operator_tables()
        return aiohttp_jinja2.render_template(
            "operator.html", request, {"session": session, "tables": tables}
        )

    async def operator_csv(self, request: web.Request) -> web.StreamResponse:
        self._owner(request)
        tables = await self.operator_tables()
        table = tables.get(request.match_info["table"])
        if table is None:
            raise web.HTTPNotFound(text="No such table.")
        return _csv(table)
