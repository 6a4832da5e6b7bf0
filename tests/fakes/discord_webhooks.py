"""Interaction routes, authenticated by the token in the URL (no bot token needed):

- POST /interactions/{id}/{token}/callback (200 + JSON with `?with_response=1`, else 204)
- GET/PATCH/DELETE /webhooks/{app}/{token}/messages/@original (or a followup's id)
- POST /webhooks/{app}/{token} (followup)
"""

from __future__ import annotations

import time

from aiohttp import web

from .discord_http import API_PREFIX, body_of, json_reply, no_content
from .discord_interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    CallbackRecord,
    FakeInteraction,
)
from .discord_state import FakeMessage, Json, MessageFlag
from .discord_store import ApiError, DiscordStore, Upload, invalid_form

MESSAGE, DEFERRED, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, OPEN_MODAL = 4, 5, 6, 7, 8, 9

# Which callback types each interaction type accepts.
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {MESSAGE, DEFERRED, OPEN_MODAL},
    MESSAGE_COMPONENT: {MESSAGE, DEFERRED, DEFERRED_UPDATE, UPDATE, OPEN_MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {MESSAGE, DEFERRED, DEFERRED_UPDATE, UPDATE},
}


class WebhookRoutes:
    def __init__(self, store: DiscordStore) -> None:
        self.store = store

    def register(self, app: web.Application) -> None:
        p = API_PREFIX
        r = app.router
        r.add_post(p + "/interactions/{interaction_id}/{token}/callback", self.callback)
        r.add_post(p + "/webhooks/{app_id}/{token}", self.followup)
        msg_path = p + "/webhooks/{app_id}/{token}/messages/{message_id}"
        r.add_get(msg_path, self.get_message)
        r.add_patch(msg_path, self.edit_message)
        r.add_delete(msg_path, self.delete_message)

    # -- callback --------------------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        store = self.store
        inter = store.interactions_by_token.get(request.match_info["token"])
        if inter is None or str(inter.id) != request.match_info["interaction_id"]:
            raise ApiError(404, 10062, "Unknown interaction")
        now = time.monotonic()
        sent = inter.dispatched_at or inter.created_at
        if store.callback_deadline is not None and now - sent > store.callback_deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        if inter.callback is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = body_of(request)
        payload = body.dict
        kind = int(payload.get("type", 0))
        if kind not in ALLOWED_CALLBACKS[inter.type]:
            raise invalid_form(
                "type", f"callback type {kind} is invalid for interaction type {inter.type}"
            )
        data: Json = payload.get("data") or {}
        resource: Json = {"type": kind}
        if kind == AUTOCOMPLETE_RESULT and len(data.get("choices", [])) > 25:
            raise invalid_form("data.choices", "Must be 25 or fewer in length.")
        msg = self._apply_callback(inter, kind, data, body.uploads)
        if msg is not None:
            resource["message"] = msg.payload()
        inter.callback = CallbackRecord(
            kind, data, now, now - sent, [(u.filename, len(u.data)) for u in body.uploads]
        )
        store.changes.notify()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return no_content()
        reply: Json = {
            "id": str(inter.id),
            "type": inter.type,
            "response_message_loading": kind == DEFERRED,
            "response_message_ephemeral": bool(msg and msg.ephemeral),
        }
        if msg is not None:
            reply["response_message_id"] = str(msg.id)
        return json_reply({"interaction": reply, "resource": resource})

    def _apply_callback(
        self, inter: FakeInteraction, kind: int, data: Json, uploads: list[Upload]
    ) -> FakeMessage | None:
        store = self.store
        via = f"POST /interactions/{{id}}/{{token}}/callback type {kind}"
        if kind in (MESSAGE, DEFERRED):
            msg = self._new_response(inter)
            if kind == DEFERRED:
                msg.flags = MessageFlag.LOADING | (
                    int(data.get("flags") or 0) & MessageFlag.EPHEMERAL
                )
            else:
                store.apply_body(msg, data, uploads, creating=True)
            inter.original_message_id = msg.id
            return store.store_message(msg, via)
        if kind in (DEFERRED_UPDATE, UPDATE) and inter.source_message_id is not None:
            msg = store.get_message(inter.source_message_id)
            inter.original_message_id = msg.id
            if kind == UPDATE:
                store.edit_message(msg, data, uploads, via)
            return msg
        return None

    def _new_response(self, inter: FakeInteraction) -> FakeMessage:
        store = self.store
        user = store.users[inter.user_id]
        metadata: Json = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user.payload(),
            "authorizing_integration_owners": {"0": str(inter.guild_id)},
        }
        if inter.source_message_id is not None:
            metadata["interacted_message_id"] = str(inter.source_message_id)
        return store.new_message(
            inter.channel_id,
            store.bot,
            type=20 if inter.type == APPLICATION_COMMAND else 0,
            webhook_id=store.application_id,
            application_id=store.application_id,
            interaction_metadata=metadata,
        )

    # -- webhook message routes -----------------------------------------------------------

    def _interaction(self, request: web.Request) -> FakeInteraction:
        inter = self.store.interactions_by_token.get(request.match_info["token"])
        if inter is None or request.match_info["app_id"] != str(self.store.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        if inter.expired:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    def _message(self, request: web.Request) -> tuple[FakeInteraction, FakeMessage]:
        inter = self._interaction(request)
        ref = request.match_info["message_id"]
        if ref == "@original":
            if inter.original_message_id is None:
                raise ApiError(404, 10008, "Unknown Message")
            message_id = inter.original_message_id
        elif ref.isdigit() and inter.owns_message(int(ref)):
            message_id = int(ref)
        else:
            raise ApiError(404, 10008, "Unknown Message")
        return inter, self.store.get_message(message_id)

    async def get_message(self, request: web.Request) -> web.Response:
        return json_reply(self._message(request)[1].payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        _, msg = self._message(request)
        body = body_of(request)
        self.store.edit_message(
            msg,
            body.dict,
            body.uploads,
            f"PATCH /webhooks/{{app}}/{{token}}/messages/{request.match_info['message_id']}",
        )
        return json_reply(msg.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        _, msg = self._message(request)
        self.store.delete_message(
            msg, "DELETE /webhooks/{app}/{token}/messages/" + request.match_info["message_id"]
        )
        return no_content()

    async def followup(self, request: web.Request) -> web.Response:
        inter = self._interaction(request)
        if inter.callback is None:
            raise ApiError(404, 10015, "Unknown Webhook")  # not acknowledged yet
        body = body_of(request)
        original = inter.original_message()
        if original is not None and original.loading and not original.deleted:
            # Discord: the first followup after a deferred response replaces the
            # "thinking..." message instead of creating a new one (ephemerality inherited).
            self.store.edit_message(
                original,
                body.dict,
                body.uploads,
                "POST /webhooks/{app}/{token} (replaces deferred)",
            )
            msg = original
        else:
            msg = self._new_response(inter)
            self.store.apply_body(msg, body.dict, body.uploads, creating=True)
            self.store.store_message(msg, "POST /webhooks/{app}/{token}")
            inter.followup_ids.append(msg.id)
        if request.query.get("wait") not in ("1", "true", "True"):
            return no_content()
        return json_reply(msg.payload())
