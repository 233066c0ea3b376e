"""The JSON API under /api/v1: the console's actions for other systems, with the same permissions."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.organisations import reach_for_draft
from alerts.store import drafts as draft_store
from alerts.store import inputs
from alerts.textclean import problems as text_problems
from alerts.web import apimodels as out
from alerts.web.apispec import body, operation, query, reply
from alerts.web.auth import api_user, client_origin, json_error, service
from alerts.web.guards import MAX_ID, parse_id
from alerts.web.views import draft_json, draft_summary
from alerts.workflow.actions import NotFound
from alerts.workflow.policy import Refused
from alerts.workflow.states import TransitionError

routes = web.RouteTableDef()


class _Text(BaseModel):
    """Texts a person writes: no control, bidirectional or zero-width characters (they would reach phones)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _visible(cls, value: Any) -> Any:
        if isinstance(value, str):
            found = text_problems(value)
            if found:
                raise ValueError("; ".join(found))
        return value


class RejectBody(_Text):
    reason: str = Field(min_length=1, max_length=2000)


class EditBody(_Text):
    message_id: int = Field(ge=1, le=MAX_ID)
    text: str = Field(min_length=1, max_length=5000)


class WithdrawBody(RejectBody):
    pass


class CorrectBody(RejectBody):
    pass


class DraftQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    state: out.State | None = Field(None, description="Only drafts in this state")  # type: ignore[valid-type]
    limit: int = Field(100, ge=1, le=500)


def _draft_id(request: web.Request) -> int:
    found = parse_id(request.match_info["id"])
    if found is None:
        raise json_error(404, f"no draft {request.match_info['id'][:40]!r}")
    return found


async def _answer(request: web.Request, draft_id: int, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
        reach = await reach_for_draft(conn, draft_id) if record is not None else {}
    if record is None:
        raise json_error(404, f"no draft {draft_id}")
    policy = svc.policy.verdict(record.row, record.messages).explanation
    return reply(out.Draft, draft_json(record, svc.settings.service.sms.signature, policy=policy, reach=reach),
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


ACTION_ERRORS = (409,)


@operation("GET", "/api/v1/drafts", summary="List drafts: pending first, by level, then deadline", permission="view",
           ok={200: out.DraftList}, query=DraftQuery)
@routes.get("/api/v1/drafts")
async def list_drafts(request: web.Request) -> web.Response:
    user = await api_user(request)
    svc = service(request)
    if not svc.policy.can(user, "view"):
        raise json_error(403, f"'{user.name}' may not view drafts")
    wanted = query(request, DraftQuery)
    async with svc.db.read() as conn:
        rows = await draft_store.list_drafts(conn, state=wanted.state, limit=wanted.limit)
    return reply(out.DraftList, {"drafts": [draft_summary(r) for r in rows]})


@operation("GET", "/api/v1/drafts/{id}", summary="One draft with its messages exactly as sent", permission="view",
           ok={200: out.Draft})
@routes.get("/api/v1/drafts/{id}")
async def get_draft(request: web.Request) -> web.Response:
    user = await api_user(request)
    if not service(request).policy.can(user, "view"):
        raise json_error(403, f"'{user.name}' may not view drafts")
    return await _answer(request, _draft_id(request))


@operation("POST", "/api/v1/drafts/{id}/approve", summary="Approve (sends when enough approvers agree)",
           permission="approve", ok={200: out.Draft}, errors=ACTION_ERRORS)
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


@operation("POST", "/api/v1/drafts/{id}/reject", summary="Reject with a reason", permission="reject",
           ok={200: out.Draft}, body=RejectBody, errors=ACTION_ERRORS)
@routes.post("/api/v1/drafts/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    user = await api_user(request)
    given = await body(request, RejectBody)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.reject(user, d, given.reason, origin=f"api:{client_origin(request)}"))


@operation("POST", "/api/v1/drafts/{id}/edit", summary="Edit one message's text (returns it to review)",
           permission="edit", ok={200: out.Draft}, body=EditBody, errors=ACTION_ERRORS)
@routes.post("/api/v1/drafts/{id}/edit")
async def edit(request: web.Request) -> web.Response:
    user = await api_user(request)
    given = await body(request, EditBody)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.edit(user, d, given.message_id, given.text,
                                                          origin=f"api:{client_origin(request)}"))


@operation("POST", "/api/v1/drafts/{id}/review", summary="Expert review of edited texts", permission="review_content",
           ok={200: out.Draft}, errors=ACTION_ERRORS)
@routes.post("/api/v1/drafts/{id}/review")
async def review(request: web.Request) -> web.Response:
    user = await api_user(request)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.review(user, d, origin=f"api:{client_origin(request)}"))


@operation("POST", "/api/v1/drafts/{id}/withdraw", summary="Stop: what is still queued is not sent",
           permission="approve", ok={200: out.Draft}, body=WithdrawBody, errors=ACTION_ERRORS)
@routes.post("/api/v1/drafts/{id}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    user = await api_user(request)
    given = await body(request, WithdrawBody)
    svc = service(request)
    return await _act(request, lambda d: svc.actions.withdraw(user, d, given.reason, origin=f"api:{client_origin(request)}"))


@operation("POST", "/api/v1/drafts/{id}/correct", permission="compose", ok={201: out.Draft}, body=CorrectBody,
           errors=ACTION_ERRORS,
           summary="Start a correction of a draft that went out (a new pending draft linked to it)")
@routes.post("/api/v1/drafts/{id}/correct")
async def correct(request: web.Request) -> web.Response:
    """Start a correction of a draft that went out; answers 201 with the new (pending) correction draft."""
    user = await api_user(request)
    given = await body(request, CorrectBody)
    svc = service(request)
    draft_id = _draft_id(request)
    try:
        decision = await svc.actions.correct(user, draft_id, given.reason, origin=f"api:{client_origin(request)}")
    except NotFound as exc:
        raise json_error(404, str(exc)) from None
    except TransitionError as exc:
        raise json_error(409, str(exc)) from None
    except Refused as exc:
        raise json_error(exc.status, str(exc)) from None
    return await _answer(request, decision.draft_id, status=201)


@operation("POST", "/api/v1/alerts", summary="Push one CAP 1.x or GB/T 35965 XML document", permission="push_alerts",
           ok={202: out.Pushed}, body="application/xml",
           description="Answers 422 when it is not a valid alert, 403 when an Update or Cancel comes from another "
                       "source than the chain's first message; every refused document is kept with its reason.",
           errors=(413, 422))
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
    if intake.refused:
        raise json_error(403, f"refused: {intake.refused} (the input is kept as raw input {intake.raw_id})")
    wake = request.app.get(OUTBOX_WAKE_KEY)
    if wake is not None and intake.drafts.created:
        wake()
    return reply(out.Pushed, {"alert_id": intake.alert_id, "duplicate": intake.duplicate,
                              "drafts": intake.drafts.created, "superseded": intake.drafts.superseded,
                              "withdrawn": intake.drafts.withdrawn, "stage": intake.stage}, status=202)


async def _keep_refused(request: web.Request, user: Any, data: bytes, reason: str) -> int:
    svc = service(request)
    async with svc.db.write() as conn:
        return await inputs.record(conn, data=data, source=f"push:{user.name}", origin=client_origin(request),
                                   at=svc.clock.now(), outcome="rejected", reason=reason)


OUTBOX_WAKE_KEY: web.AppKey = web.AppKey("outbox_wake", object)
