"""Events in the JSON API: list, open, read (timeline, tasks, who acknowledged), close, acknowledge,
complete tasks, draft policy explanations and rumour responses, sign off rumour responses."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.events import store
from alerts.events.view import event_view, silent_counts, summary_row
from alerts.store import drafts as draft_store
from alerts.web.auth import api_user, client_origin, json_error, service
from alerts.web.views import draft_json
from alerts.workflow.actions import NotFound
from alerts.workflow.policy import Refused
from alerts.workflow.states import TransitionError

routes = web.RouteTableDef()


class OpenEventBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("", max_length=200)
    hazard: str | None = Field(None, max_length=60)
    level: str | None = Field(None, pattern="^(blue|yellow|orange|red)$")
    areas: list[str] = Field(default_factory=list, max_length=100, description="township codes or names; empty: all")


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=500)


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skeleton: str = Field(max_length=60, description="a policy skeleton key (GET /api/v1/skeletons)")
    fields: dict[str, str] = Field(description="the skeleton's fields, filled")
    targets: list[str] = Field(min_length=1, max_length=30, description="audience:channel, e.g. residents:sms")
    department: str | None = Field(None, max_length=40, description="when the user acts for several departments")


class RumourBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    claim: str = Field(min_length=1, max_length=500, description="what is being said")
    seen_where: str = Field(min_length=1, max_length=200, description="where it was seen (group, site, place)")
    seen_at: datetime = Field(description="when it was seen, with a time zone")


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: dict[str, str]
    targets: list[str] = Field(min_length=1, max_length=30)


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.json() if request.can_read_body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "the body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise json_error(400, f"the body is a JSON {type(raw).__name__}; expected an object")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise json_error(422, "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}"
                                        for e in err.errors())) from None


def _id(request: web.Request, name: str, what: str) -> int:
    value = store.valid_id(request.match_info[name])
    if value is None:
        raise json_error(404, f"no {what} {request.match_info[name][:30]!r}")
    return value


async def _user(request: web.Request, permission: str = "view") -> Any:
    user = await api_user(request)
    if not service(request).policy.can(user, permission):
        roles = ", ".join(service(request).policy.roles_with(permission))
        raise json_error(403, f"'{user.name}' may not do this: it needs {permission} ({roles})")
    return user


async def _run(coro: Any) -> Any:
    try:
        return await coro
    except NotFound as exc:
        raise json_error(404, str(exc)) from None
    except TransitionError as exc:
        raise json_error(409, str(exc)) from None
    except Refused as exc:
        raise json_error(exc.status if exc.status in (400, 401, 403, 404, 409, 422) else 400, str(exc)) from None


async def _event_answer(request: web.Request, event_id: int, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        view = await event_view(conn, svc.events, event_id)
    if view is None:
        raise json_error(404, f"no event {event_id}")
    return web.json_response(view, status=status)


async def _draft_answer(request: web.Request, draft_id: int, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    policy = svc.policy.verdict(record.row, record.messages).explanation
    return web.json_response(draft_json(record, svc.settings.service.sms.signature, policy=policy), status=status)


@routes.get("/api/v1/events")
async def list_events(request: web.Request) -> web.Response:
    """Events, open ones first; ?state=open|closed."""
    await _user(request)
    state = request.query.get("state")
    if state not in (None, "open", "closed"):
        raise json_error(400, "state is open or closed")
    svc = service(request)
    async with svc.db.read() as conn:
        rows = await store.list_events(conn, state=state)
        counts = await silent_counts(conn, [int(r.id) for r in rows])
    return web.json_response({"events": [summary_row(r, counts.get(int(r.id))) for r in rows]})


@routes.post("/api/v1/events")
async def open_event(request: web.Request) -> web.Response:
    user = await _user(request, "manage_events")
    body: OpenEventBody = await _body(request, OpenEventBody)
    event_id = await _run(service(request).events.actions.open(
        user, title=body.title, hazard=body.hazard, level=body.level, areas=body.areas,
        origin=f"api:{client_origin(request)}"))
    return await _event_answer(request, event_id, 201)


@routes.get("/api/v1/events/{id}")
async def get_event(request: web.Request) -> web.Response:
    await _user(request)
    return await _event_answer(request, _id(request, "id", "event"))


@routes.post("/api/v1/events/{id}/close")
async def close_event(request: web.Request) -> web.Response:
    user = await _user(request, "manage_events")
    event_id = _id(request, "id", "event")
    body: NoteBody = await _body(request, NoteBody)
    await _run(service(request).events.actions.close(user, event_id, body.note, origin=f"api:{client_origin(request)}"))
    return await _event_answer(request, event_id)


@routes.post("/api/v1/events/{id}/acknowledgements/{request_id}")
async def acknowledge(request: web.Request) -> web.Response:
    user = await api_user(request)
    event_id, request_id = _id(request, "id", "event"), _id(request, "request_id", "acknowledgement request")
    body: NoteBody = await _body(request, NoteBody)
    await _run(service(request).events.actions.acknowledge(user, event_id, request_id, body.note,
                                                           origin=f"api:{client_origin(request)}"))
    return await _event_answer(request, event_id)


@routes.post("/api/v1/events/{id}/tasks/{task_id}/done")
async def task_done(request: web.Request) -> web.Response:
    user = await api_user(request)
    event_id, task_id = _id(request, "id", "event"), _id(request, "task_id", "task")
    body: NoteBody = await _body(request, NoteBody)
    await _run(service(request).events.actions.task_done(user, event_id, task_id, body.note,
                                                         origin=f"api:{client_origin(request)}"))
    return await _event_answer(request, event_id)


@routes.post("/api/v1/events/{id}/policy")
async def draft_policy(request: web.Request) -> web.Response:
    user = await api_user(request)
    event_id = _id(request, "id", "event")
    body: PolicyBody = await _body(request, PolicyBody)
    decision = await _run(service(request).events.publishing.draft_policy(
        user, event_id, body.skeleton, body.fields, body.targets, department=body.department,
        origin=f"api:{client_origin(request)}"))
    return await _draft_answer(request, decision.draft_id, 201)


@routes.post("/api/v1/events/{id}/rumours")
async def record_rumour(request: web.Request) -> web.Response:
    user = await api_user(request)
    event_id = _id(request, "id", "event")
    body: RumourBody = await _body(request, RumourBody)
    rumour_id = await _run(service(request).events.publishing.record_rumour(
        user, event_id, claim=body.claim, seen_where=body.seen_where, seen_at=body.seen_at,
        origin=f"api:{client_origin(request)}"))
    return web.json_response({"rumour_id": rumour_id, "event_id": event_id}, status=201)


@routes.post("/api/v1/events/{id}/rumours/{rumour_id}/response")
async def respond(request: web.Request) -> web.Response:
    user = await api_user(request)
    event_id, rumour_id = _id(request, "id", "event"), _id(request, "rumour_id", "rumour")
    body: ResponseBody = await _body(request, ResponseBody)
    decision = await _run(service(request).events.publishing.respond(
        user, event_id, rumour_id, body.fields, body.targets, origin=f"api:{client_origin(request)}"))
    return await _draft_answer(request, decision.draft_id, 201)


@routes.post("/api/v1/drafts/{id}/sign-off")
async def sign_off(request: web.Request) -> web.Response:
    user = await api_user(request)
    draft_id = _id(request, "id", "draft")
    await _run(service(request).events.publishing.sign_off(user, draft_id, origin=f"api:{client_origin(request)}"))
    return await _draft_answer(request, draft_id)


@routes.get("/api/v1/skeletons")
async def skeletons(request: web.Request) -> web.Response:
    """Policy-explanation and rumour-response skeletons: their fields and reviewed wording."""
    await _user(request)
    desk = service(request).events
    out = [{"kind": sk.kind, "key": sk.key, "title": sk.title, "status": sk.status, "departments": list(sk.departments),
            "fields": [{"name": f.name, "label": f.label, "max": f.max, "example": f.example} for f in sk.fields],
            "texts": sk.texts} for kind in ("policy", "rumour") for sk in desk.skeletons.of_kind(kind)]
    return web.json_response({"skeletons": out})


# --- OpenAPI --------------------------------------------------------------------------------

_ERR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OBJ = {"type": "object"}


def _path(name: str, what: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": f"the {what}'s id; an id that is no "
            "positive 64-bit integer answers 404", "schema": {"type": "integer", "minimum": 1}}


def _op(summary: str, permission: str, *, body: type[BaseModel] | None = None, params: tuple[str, ...] = (),
        ok: str = "200", answer: str = "The event as GET /api/v1/events/{id} shows it") -> dict[str, Any]:
    names = {"id": "event", "request_id": "acknowledgement request", "task_id": "task", "rumour_id": "rumour"}
    op: dict[str, Any] = {"summary": summary, "description": f"Needs `{permission}`.",
                          "parameters": [_path(p, names.get(p, p)) for p in params],
                          "responses": {ok: {"description": answer, "content": {"application/json": {"schema": _OBJ}}},
                                        "401": _ERR, "403": _ERR, "404": _ERR}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body.model_json_schema()}}}
        op["responses"].update({"400": _ERR, "409": _ERR, "422": _ERR})
    return op


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/events": {
        "get": _op("Events, open ones first, with how many 叫应 units are still silent", "view",
                   answer="{events: [...]}"),
        "post": _op("Open an event by hand; its tasks and 叫应 start as for a warning", "manage_events",
                    body=OpenEventBody, ok="201")},
    "/api/v1/events/{id}": {"get": _op("One event: summary, tasks, acknowledgements per township and village, "
                                       "drafts, rumours, timeline", "view", params=("id",))},
    "/api/v1/events/{id}/close": {"post": _op("Close an event; unanswered requests stop escalating",
                                              "manage_events", body=NoteBody, params=("id",))},
    "/api/v1/events/{id}/acknowledgements/{request_id}": {"post": _op(
        "Record an acknowledgement given another way (telephone), or a department's of its own task",
        "manage_events (or work_tasks for its own department's task)", body=NoteBody, params=("id", "request_id"))},
    "/api/v1/events/{id}/tasks/{task_id}/done": {"post": _op(
        "Mark a department task done", "work_tasks as a member of the department (or manage_events)",
        body=NoteBody, params=("id", "task_id"))},
    "/api/v1/events/{id}/policy": {"post": _op(
        "Draft a policy explanation from a reviewed skeleton; expert review and approval follow", "draft_policy",
        body=PolicyBody, params=("id",), ok="201", answer="The new draft (as GET /api/v1/drafts/{id})")},
    "/api/v1/events/{id}/rumours": {"post": _op("Record a rumour seen during the event", "record_rumour",
                                                body=RumourBody, params=("id",), ok="201",
                                                answer="{rumour_id, event_id}")},
    "/api/v1/events/{id}/rumours/{rumour_id}/response": {"post": _op(
        "Draft the rumour response; expert review, 宣传部 sign-off and approval follow", "record_rumour",
        body=ResponseBody, params=("id", "rumour_id"), ok="201", answer="The new draft")},
    "/api/v1/drafts/{id}/sign-off": {"post": {**_op(
        "宣传部 signs off a reviewed rumour response (needed before approval)", "sign_off_rumour",
        params=("id",), answer="The draft"), "parameters": [_path("id", "draft")]}},
    "/api/v1/skeletons": {"get": _op("Policy-explanation and rumour-response skeletons with their fields", "view",
                                     answer="{skeletons: [...]}")},
}
