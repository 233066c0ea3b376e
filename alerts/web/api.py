"""The JSON API under /api/v1: the console's actions for other systems, with the same permissions."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.organisations import reach_for_draft
from alerts.store import drafts as draft_store
from alerts.store import inputs
from alerts.web.auth import api_user, client_origin, json_error, service
from alerts.web.views import draft_json, draft_summary
from alerts.workflow.actions import NotFound
from alerts.workflow.policy import Refused
from alerts.workflow.states import DraftState, TransitionError

routes = web.RouteTableDef()


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class EditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: int
    text: str = Field(min_length=1, max_length=5000)


class WithdrawBody(RejectBody):
    pass


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "the body is not valid JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        raise json_error(422, f"{where}: {first['msg']}") from None


def _draft_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise json_error(404, f"no draft {request.match_info['id']!r}") from None


async def _answer(request: web.Request, draft_id: int, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
        reach = await reach_for_draft(conn, draft_id) if record is not None else {}
    if record is None:
        raise json_error(404, f"no draft {draft_id}")
    policy = svc.policy.verdict(record.row, record.messages).explanation
    return web.json_response(draft_json(record, svc.settings.service.sms.signature, policy=policy, reach=reach),
                             status=status)


async def _act(request: web.Request, action: Any) -> web.Response:
    draft_id = _draft_id(request)
    try:
        await action(draft_id)
    except NotFound as exc:
        raise json_error(404, str(exc)) from None
    except TransitionError as exc:
        raise json_error(409, str(exc)) from None
    except Refused as exc:
        raise json_error(exc.status, str(exc)) from None
    return await _answer(request, draft_id)


@routes.get("/api/v1/drafts")
async def list_drafts(request: web.Request) -> web.Response:
    user = await api_user(request)
    svc = service(request)
    if not svc.policy.can(user, "view"):
        raise json_error(403, f"'{user.name}' may not view drafts")
    state = request.query.get("state")
    if state is not None and state not in DraftState.__members__:
        raise json_error(400, f"state {state!r} is not one of {', '.join(DraftState.__members__)}")
    try:
        limit = min(500, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise json_error(400, "limit must be a whole number") from None
    async with svc.db.read() as conn:
        rows = await draft_store.list_drafts(conn, state=state, limit=limit)
    return web.json_response({"drafts": [draft_summary(r) for r in rows]})


@routes.get("/api/v1/drafts/{id}")
async def get_draft(request: web.Request) -> web.Response:
    user = await api_user(request)
    if not service(request).policy.can(user, "view"):
        raise json_error(403, f"'{user.name}' may not view drafts")
    return await _answer(request, _draft_id(request))


@routes.post("/api/v1/drafts/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    user = await api_user(request)
    svc = service(request)

    async def act(draft_id: int) -> None:
        await svc.actions.approve(user, draft_id, origin=f"api:{client_origin(request)}")
        wake = request.app.get(OUTBOX_WAKE_KEY)
        if wake is not None:
            wake()

    return await _act(request, act)


@routes.post("/api/v1/drafts/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    user = await api_user(request)
    body: RejectBody = await _body(request, RejectBody)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.reject(user, d, body.reason, origin=f"api:{client_origin(request)}"))


@routes.post("/api/v1/drafts/{id}/edit")
async def edit(request: web.Request) -> web.Response:
    user = await api_user(request)
    body: EditBody = await _body(request, EditBody)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.edit(user, d, body.message_id, body.text,
                                                          origin=f"api:{client_origin(request)}"))


@routes.post("/api/v1/drafts/{id}/review")
async def review(request: web.Request) -> web.Response:
    user = await api_user(request)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.review(user, d, origin=f"api:{client_origin(request)}"))


@routes.post("/api/v1/drafts/{id}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    user = await api_user(request)
    body: WithdrawBody = await _body(request, WithdrawBody)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.withdraw(user, d, body.reason, origin=f"api:{client_origin(request)}"))


class CorrectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/drafts/{id}/correct")
async def correct(request: web.Request) -> web.Response:
    """Start a correction of a draft that went out; answers 201 with the new (pending) correction draft."""
    user = await api_user(request)
    body: CorrectBody = await _body(request, CorrectBody)
    svc = service(request)
    draft_id = _draft_id(request)
    try:
        decision = await svc.actions.correct(user, draft_id, body.reason, origin=f"api:{client_origin(request)}")
    except NotFound as exc:
        raise json_error(404, str(exc)) from None
    except TransitionError as exc:
        raise json_error(409, str(exc)) from None
    except Refused as exc:
        raise json_error(exc.status, str(exc)) from None
    return await _answer(request, decision.draft_id, status=201)


@routes.post("/api/v1/alerts")
async def push_alert(request: web.Request) -> web.Response:
    """Push one CAP (or GB/T profile) XML document; answers 202 with the alert and its drafts."""
    user = await api_user(request)
    svc = service(request)
    if not svc.policy.can(user, "push_alerts"):
        raise json_error(403, f"'{user.name}' may not push alerts: it needs a role with push_alerts (e.g. source)")
    limit = svc.settings.feeds.max_document_bytes
    # The body arrives in chunks: read them all, and stop as soon as the limit is passed.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            # Kept as received (cut at the limit) with the reason, like every refused input.
            await _keep_refused(request, user, b"".join(chunks)[:limit],
                                f"larger than {limit} bytes (feeds.yaml max_document_bytes); stopped reading")
            raise json_error(413, f"the document is larger than {limit} bytes (feeds.yaml max_document_bytes)")
    data = b"".join(chunks)
    if not data.strip():
        raw_id = await _keep_refused(request, user, data, "empty body")
        raise json_error(400, f"the body is empty: send the CAP XML document as the body (kept as raw input {raw_id})")
    intake = await svc.receive(data, source=f"push:{user.name}", origin=client_origin(request))
    if intake.rejected:
        raise json_error(422, f"rejected: {intake.rejected} (the input is kept as raw input {intake.raw_id})")
    wake = request.app.get(OUTBOX_WAKE_KEY)
    if wake is not None and intake.drafts.created:
        wake()
    return web.json_response({"alert_id": intake.alert_id, "duplicate": intake.duplicate,
                              "drafts": intake.drafts.created, "superseded": intake.drafts.superseded,
                              "withdrawn": intake.drafts.withdrawn}, status=202)


async def _keep_refused(request: web.Request, user: Any, data: bytes, reason: str) -> int:
    svc = service(request)
    async with svc.db.write() as conn:
        return await inputs.record(conn, data=data, source=f"push:{user.name}", origin=client_origin(request),
                                   at=svc.clock.now(), outcome="rejected", reason=reason)


OUTBOX_WAKE_KEY: web.AppKey = web.AppKey("outbox_wake", object)
