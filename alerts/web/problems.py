"""Operator problems in the console (on top of the queue) and the API: list them, mark one handled."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from alerts.store import problems as problem_store
from alerts.web import apimodels as out
from alerts.web.apispec import operation, query, reply
from alerts.web.auth import api_user, json_error, service
from alerts.web.console import checked_form, forbidden, may_resolve_problems

routes = web.RouteTableDef()


class ProblemQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    all: Literal["0", "1"] | None = Field(None, description="1: recent resolved problems too")


@operation("GET", "/api/v1/problems", summary="Open operator problems (what, why, what to do), most severe first",
           permission="view", ok={200: out.ProblemList}, query=ProblemQuery)
@routes.get("/api/v1/problems")
async def list_problems(request: web.Request) -> web.Response:
    user = await api_user(request)
    svc = service(request)
    if not svc.policy.can(user, "view"):
        raise json_error(403, f"'{user.name}' may not view problems: it needs the view permission")
    async with svc.db.read() as conn:
        rows = (await problem_store.recent(conn) if query(request, ProblemQuery).all == "1"
                else await problem_store.open_problems(conn))
    return reply(out.ProblemList, {"problems": [p.as_dict() for p in rows]})


def _problem_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise json_error(404, f"no problem {raw!r}")
    return int(raw)


@operation("POST", "/api/v1/problems/{id}/resolve", summary="Mark a problem handled", ok={200: out.Problem},
           permission="approve", description="Or `manage_settings`.", errors=(409,))
@routes.post("/api/v1/problems/{id}/resolve")
async def resolve_api(request: web.Request) -> web.Response:
    user = await api_user(request)
    if not may_resolve_problems(request, user):
        raise json_error(403, f"'{user.name}' may not mark problems handled: it needs approve or manage_settings")
    problem_id = _problem_id(request)
    svc = service(request)
    async with svc.db.write() as conn:
        done = await problem_store.resolve_id(conn, problem_id, at=svc.clock.now(), by=user.name)
        problem = await problem_store.get_id(conn, problem_id)
    if problem is None:
        raise json_error(404, f"no problem {problem_id}")
    if not done:
        raise json_error(409, f"problem {problem_id} was already resolved by {problem.resolved_by}")
    return reply(out.Problem, problem.as_dict())


@routes.post("/problems/{id}/resolve")
async def resolve_console(request: web.Request) -> web.Response:
    sess, _form = await checked_form(request, "view", "查看问题")
    if not may_resolve_problems(request, sess.user):
        raise forbidden(request, sess, "您的角色不能将问题标记为已处理。需要审批人或管理员角色。")
    raw = request.match_info["id"]
    if raw.isdigit() and len(raw) <= 18:
        svc = service(request)
        async with svc.db.write() as conn:
            await problem_store.resolve_id(conn, int(raw), at=svc.clock.now(), by=sess.user.name)
    raise web.HTTPSeeOther("/")
