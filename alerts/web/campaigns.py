"""Campaigns on the web: trigger and preview API for campaigners, the calendar and reports in the console."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.campaigns import rules
from alerts.campaigns import store as occ_store
from alerts.campaigns.ondemand import Invalid, OnDemand, OneOffBody, TriggerBody
from alerts.campaigns.scheduling import Outcome, runner_for
from alerts.channels.base import with_signature
from alerts.clock import SHANGHAI
from alerts.settings.campaigns import CampaignConfig
from alerts.store.users import User
from alerts.web import apimodels as out
from alerts.web.apispec import operation, query, reply
from alerts.web.auth import api_user, check_csrf, client_origin, json_error, service
from alerts.web.campaign_words import OCCURRENCE_ZH, describe_zh, occurrence_reason_zh
from alerts.web.console import render_page, require_session
from alerts.web.template_examples import example

routes = web.RouteTableDef()

try:  # the console's shared navigation, where it exists
    from alerts.web.console import NAV, NavLink

    if not any(link.href == "/campaigns" for link in NAV):
        NAV.append(NavLink("/campaigns", "宣传活动"))
except ImportError:  # pragma: no cover - a console without shared navigation
    pass


# --- shared --------------------------------------------------------------------------------

CAMPAIGN_ID = {"id": {"type": "string", "minLength": 1, "maxLength": 100}}


class WindowQuery(BaseModel):
    """A window of days, in Asia/Shanghai (default: from now, 90 days)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    start: date | None = Field(None, alias="from", description="First day, e.g. 2027-01-01",
                               ge=date(2000, 1, 1), le=date(2200, 12, 31))
    end: date | None = Field(None, alias="to", description="Last day, e.g. 2027-03-31",
                             ge=date(2000, 1, 1), le=date(2200, 12, 31))


class PreviewQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    preview: Literal["0", "1", "true", "false"] | None = Field(
        None, description="1 or true: show the texts only, record nothing")



def _require(user: User, request: web.Request, permission: str, what: str) -> None:
    policy = service(request).policy
    if not policy.can(user, permission):
        roles = sorted(r for r, perms in policy.config.roles.items() if permission in perms)
        raise json_error(403, f"'{user.name}' may not {what}: it needs a role with {permission} ({', '.join(roles)})")


def _campaign(request: web.Request) -> CampaignConfig:
    runner = runner_for(service(request))
    cid = request.match_info["id"]
    campaign = runner.calendar.get(cid)
    if campaign is None:
        known = ", ".join(c.id for c in runner.calendar.config.campaigns)
        raise json_error(404, f"no campaign {cid!r} in campaigns.yaml; known: {known}")
    return campaign


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "the body is not valid JSON: send an object such as "
                              '{"start": "2027-07-12", "end": "2027-07-15", "areas": ["米山镇"]}') from None
    if not isinstance(raw, dict):
        raise json_error(400, f"the body is a JSON {type(raw).__name__}; expected an object")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(x) for x in e["loc"]) or "body"
            lines.append(f"{where}: {e['msg']}")
        raise json_error(422, "; ".join(lines)) from None


def _outcome_json(campaign: CampaignConfig, outcome: Outcome) -> dict[str, Any]:
    return {"campaign": campaign.id, "name": campaign.name, "occurrence_id": outcome.occurrence_id,
            "state": outcome.state, "draft_id": outcome.draft_id, "reason": outcome.reason}


def _window(request: web.Request, default_days: int = 90) -> tuple[datetime, datetime]:
    try:
        window = WindowQuery.model_validate(dict(request.query))
    except ValidationError:
        raise json_error(400, "from and to are dates such as 2027-01-01, between 2000 and 2200") from None
    start, end = window.start, window.end
    now = service(request).clock.now().astimezone(SHANGHAI)
    first = datetime(*(start.timetuple()[:3]), tzinfo=SHANGHAI) if start else now
    last = datetime(*(end.timetuple()[:3]), tzinfo=SHANGHAI) + timedelta(days=1) if end else first + timedelta(days=default_days)
    if last <= first or last - first > timedelta(days=3 * 366):
        raise json_error(400, "the window must end after it starts and span at most three years")
    return first, last


# --- API -----------------------------------------------------------------------------------


@operation("GET", "/api/v1/campaigns", summary="The campaigns of campaigns.yaml with their next occurrence",
           permission="view", ok={200: out.CampaignList})
@routes.get("/api/v1/campaigns")
async def list_campaigns(request: web.Request) -> web.Response:
    user = await api_user(request)
    _require(user, request, "view", "view campaigns")
    runner = runner_for(service(request))
    now = runner.now()
    found = []
    for c in runner.calendar.config.campaigns:
        nxt = rules.next_after(c.rule, now) if c.enabled else None
        found.append({"id": c.id, "name": c.name, "theme": c.theme, "owner": c.owner, "enabled": c.enabled,
                      "rule": rules.describe(c.rule), "audiences": c.audiences,
                      "next": nxt.isoformat() if nxt else None})
    return reply(out.CampaignList, {"campaigns": found})


@operation("GET", "/api/v1/campaigns/occurrences", summary="The occurrences the calendar produces in a window",
           permission="view", ok={200: out.OccurrenceList}, query=WindowQuery)
@routes.get("/api/v1/campaigns/occurrences")
async def list_occurrences(request: web.Request) -> web.Response:
    user = await api_user(request)
    _require(user, request, "view", "view campaigns")
    first, last = _window(request)
    runner = runner_for(service(request))
    return reply(out.OccurrenceList, {"occurrences": [o.as_json() for o in runner.calendar.occurrences(first, last)]})


@operation("POST", "/api/v1/campaigns/{id}/preview", summary="The texts a campaign would send now; nothing is recorded",
           permission="trigger_campaign", ok={200: out.Preview}, body=TriggerBody, path_types=CAMPAIGN_ID)
@routes.post("/api/v1/campaigns/{id}/preview")
async def preview(request: web.Request) -> web.Response:
    user = await api_user(request)
    _require(user, request, "trigger_campaign", "trigger campaigns")
    campaign = _campaign(request)
    body: TriggerBody = await _body(request, TriggerBody)
    return await _preview(request, campaign, body)


async def _preview(request: web.Request, campaign: CampaignConfig, body: TriggerBody) -> web.Response:
    ondemand = OnDemand(runner_for(service(request)))
    try:
        rendered, conflicts = await ondemand.preview(campaign, body)
    except Invalid as exc:
        raise json_error(exc.status, str(exc)) from None
    signature = service(request).settings.service.sms.signature
    # Exactly what the SMS channels send (they add the signature once, the same way).
    messages = [{**m, "sms": with_signature(m["text"], signature) if m["channel"] == "sms" else None}
                for m in rendered.as_json()]
    return reply(out.Preview, {"campaign": campaign.id, "name": campaign.name, "messages": messages,
                               "problems": rendered.problems, "deferred_by": [c.describe() for c in conflicts]})


@operation("POST", "/api/v1/campaigns/{id}/trigger", summary="Trigger a campaign now (a draft for approval)",
           permission="trigger_campaign", ok={200: out.Preview, 201: out.Triggered, 202: out.Triggered},
           body=TriggerBody, query=PreviewQuery, path_types=CAMPAIGN_ID, errors=(409,))
@routes.post("/api/v1/campaigns/{id}/trigger")
async def trigger(request: web.Request) -> web.Response:
    user = await api_user(request)
    _require(user, request, "trigger_campaign", "trigger campaigns")
    campaign = _campaign(request)
    body: TriggerBody = await _body(request, TriggerBody)
    if query(request, PreviewQuery).preview in ("1", "true"):
        return await _preview(request, campaign, body)
    try:
        outcome = await OnDemand(runner_for(service(request))).trigger(
            user, campaign, body, origin=f"api:{client_origin(request)}")
    except Invalid as exc:
        raise json_error(exc.status, str(exc)) from None
    return _outcome_response(campaign, outcome)


@operation("POST", "/api/v1/campaigns", summary="A one-off campaign from reviewed templates",
           permission="trigger_campaign", ok={200: out.Preview, 201: out.Triggered, 202: out.Triggered},
           body=OneOffBody, query=PreviewQuery, errors=(409,))
@routes.post("/api/v1/campaigns")
async def one_off(request: web.Request) -> web.Response:
    """A one-off campaign from reviewed templates; ?preview=1 shows the texts without recording anything."""
    user = await api_user(request)
    _require(user, request, "trigger_campaign", "define one-off campaigns")
    body: OneOffBody = await _body(request, OneOffBody)
    ondemand = OnDemand(runner_for(service(request)))
    try:
        campaign = ondemand.one_off_campaign(user, body)
        if query(request, PreviewQuery).preview in ("1", "true"):
            return await _preview(request, campaign, body)
        outcome = await ondemand.trigger(user, campaign, body, origin=f"api:{client_origin(request)}", one_off=True)
    except Invalid as exc:
        raise json_error(exc.status, str(exc)) from None
    return _outcome_response(campaign, outcome)


def _outcome_response(campaign: CampaignConfig, outcome: Outcome) -> web.Response:
    """201 when a draft was made now, 202 when the occurrence waits (deferred behind a warning)."""
    return reply(out.Triggered, _outcome_json(campaign, outcome), status=201 if outcome.state == "drafted" else 202)


@operation("GET", "/api/v1/campaigns/{id}/report", summary="Deliveries per audience and state, and the occurrences",
           permission="view", ok={200: out.CampaignReport}, path_types=CAMPAIGN_ID)
@routes.get("/api/v1/campaigns/{id}/report")
async def report(request: web.Request) -> web.Response:
    user = await api_user(request)
    _require(user, request, "view", "view campaign reports")
    cid = request.match_info["id"]
    async with service(request).db.read() as conn:
        by_audience = await occ_store.by_audience(conn, cid)
        history = await occ_store.recent(conn, campaign=cid, limit=100)
    return reply(out.CampaignReport, {"campaign": cid, "by_audience": by_audience, "occurrences": [
        {"id": r.id, "at": r.at.astimezone(SHANGHAI).isoformat(), "state": r.state, "trigger": r.trigger,
         "reason": r.reason, "draft_id": r.draft_id, "draft_state": r.draft_state} for r in history]})


# --- console -------------------------------------------------------------------------------


@routes.get("/campaigns")
async def calendar_page(request: web.Request) -> web.Response:
    sess = await require_session(request)
    svc = service(request)
    if not svc.policy.can(sess.user, "view"):
        raise web.HTTPForbidden(text="您的角色不能查看宣传活动。")
    runner = runner_for(svc)
    try:
        first, last = _window(request)
    except web.HTTPException:
        raise web.HTTPBadRequest(text="日期格式应为 2027-01-01，且区间不超过三年。") from None
    upcoming = runner.calendar.occurrences(first, last)
    async with svc.db.read() as conn:
        history = await occ_store.recent(conn, limit=50)
    names = {c.id: c.name for c in runner.calendar.config.campaigns}
    return render_page(request, "campaigns.html", sess=sess, user=sess.user, csrf=sess.csrf, upcoming=upcoming,
                       history=history, names=names, first=first, last=last - timedelta(days=1),
                       campaigns=runner.calendar.config.campaigns, describe=describe_zh,
                       warnings=runner.calendar.warnings, can_trigger=svc.policy.can(sess.user, "trigger_campaign"))


def _campaign_templates(request: web.Request) -> list[Any]:
    library = runner_for(service(request)).calendar.library
    return sorted((t for t in library.templates if t.stage in ("seasonal", "preparedness") and t.status == "reviewed"),
                  key=lambda t: t.id)


def _new_page(request: web.Request, sess: Any, *, form: dict[str, Any] | None = None, preview: Any = None,
              flash: str | None = None, flash_kind: str | None = None, status: int = 200) -> web.Response:
    runner = runner_for(service(request))
    templates = _campaign_templates(request)
    return render_page(request, "campaigns_new.html", sess=sess, status=status, user=sess.user, csrf=sess.csrf,
                       templates=templates, townships=list(runner.calendar.areas.townships.values()),
                       form=form or {}, preview=preview, flash=flash, flash_kind=flash_kind,
                       examples={t.id: example(t) for t in templates})


@routes.get("/campaigns/new")
async def new_form(request: web.Request) -> web.Response:
    sess = await require_session(request)
    if not service(request).policy.can(sess.user, "trigger_campaign"):
        raise web.HTTPForbidden(text="您的角色不能发起宣传活动（需要 campaigner 角色）。")
    return _new_page(request, sess)


@routes.post("/campaigns/new")
async def new_submit(request: web.Request) -> web.Response:
    """Console: a one-off campaign from reviewed templates; preview first, then submit for approval."""
    sess = await require_session(request)
    form = await request.post()
    check_csrf(sess, str(form.get("csrf", "")))
    svc = service(request)
    if not svc.policy.can(sess.user, "trigger_campaign"):
        raise web.HTTPForbidden(text="您的角色不能发起宣传活动（需要 campaigner 角色）。")
    fields = {"name": str(form.get("name", "")), "start": str(form.get("start", "")), "end": str(form.get("end", "")),
              "areas": [str(a) for a in form.getall("areas", [])],
              "templates": [str(t) for t in form.getall("templates", [])], "note": str(form.get("note", ""))}
    ondemand = OnDemand(runner_for(svc))
    try:
        raw: dict[str, Any] = {k: v for k, v in fields.items() if v not in ("", [])}
        body = OneOffBody.model_validate(raw)
        campaign = ondemand.one_off_campaign(sess.user, body)
        if form.get("action") != "submit":
            rendered, conflicts = await ondemand.preview(campaign, body)
            return _new_page(request, sess, form=fields, preview={"rendered": rendered, "conflicts": conflicts})
        outcome = await ondemand.trigger(sess.user, campaign, body, origin=f"console:{client_origin(request)}",
                                         one_off=True)
    except ValidationError as err:
        msg = "；".join(f"{'.'.join(str(x) for x in e['loc']) or '表单'}: {e['msg']}" for e in err.errors())
        return _new_page(request, sess, form=fields, flash=f"未提交：{msg}", flash_kind="error", status=422)
    except Invalid as exc:
        return _new_page(request, sess, form=fields, flash=f"未提交：{exc}", flash_kind="error", status=exc.status)
    if outcome.draft_id is not None:
        raise web.HTTPSeeOther(f"/drafts/{outcome.draft_id}")
    return _new_page(request, sess, flash=f"已记录，暂缓生成：{outcome.reason}", flash_kind="error")


@routes.get("/campaigns/{id}")
async def campaign_page(request: web.Request) -> web.Response:
    sess = await require_session(request)
    svc = service(request)
    if not svc.policy.can(sess.user, "view"):
        raise web.HTTPForbidden(text="您的角色不能查看宣传活动。")
    return await _campaign_page(request, sess)


async def _campaign_page(request: web.Request, sess: Any, *, preview: Any = None, form: Any = None,
                         flash: str | None = None, flash_kind: str | None = None, status: int = 200) -> web.Response:
    svc = service(request)
    runner = runner_for(svc)
    campaign = runner.calendar.get(request.match_info["id"])
    if campaign is None:
        raise web.HTTPNotFound(text="没有这个宣传活动。")
    now = runner.now()
    async with svc.db.read() as conn:
        by_audience = await occ_store.by_audience(conn, campaign.id)
        history = await occ_store.recent(conn, campaign=campaign.id, limit=50)
    upcoming = rules.occurrences(campaign.rule, now, now + timedelta(days=366), limit=10) if campaign.enabled else []
    return render_page(request, "campaigns_detail.html", sess=sess, status=status, user=sess.user, csrf=sess.csrf, c=campaign,
                       rule=describe_zh(campaign.rule), upcoming=upcoming, history=history,
                       by_audience=by_audience, can_trigger=svc.policy.can(sess.user, "trigger_campaign"),
                       townships=list(runner.calendar.areas.townships.values()), preview=preview,
                       form=form or {}, flash=flash, flash_kind=flash_kind, occurrence_zh=OCCURRENCE_ZH,
                       occurrence_reason_zh=occurrence_reason_zh)


def _form_body(form: Any) -> TriggerBody:
    raw: dict[str, Any] = {}
    for key in ("start", "end"):
        if str(form.get(key, "")).strip():
            raw[key] = str(form[key]).strip()
    areas = [str(a) for a in form.getall("areas", [])]
    if areas:
        raw["areas"] = areas
    if str(form.get("note", "")).strip():
        raw["note"] = str(form["note"]).strip()
    return TriggerBody.model_validate(raw)


@routes.post("/campaigns/{id}/trigger")
async def trigger_form(request: web.Request) -> web.Response:
    """Console: preview first (action=preview), then submit for approval (action=submit)."""
    sess = await require_session(request)
    form = await request.post()
    check_csrf(sess, str(form.get("csrf", "")))
    svc = service(request)
    if not svc.policy.can(sess.user, "trigger_campaign"):
        raise web.HTTPForbidden(text="您的角色不能发起宣传活动（需要 campaigner 角色）。")
    runner = runner_for(svc)
    campaign = runner.calendar.get(request.match_info["id"])
    if campaign is None:
        raise web.HTTPNotFound(text="没有这个宣传活动。")
    fields = {"start": str(form.get("start", "")), "end": str(form.get("end", "")),
              "areas": [str(a) for a in form.getall("areas", [])], "note": str(form.get("note", ""))}
    try:
        body = _form_body(form)
        ondemand = OnDemand(runner)
        if form.get("action") != "submit":
            rendered, conflicts = await ondemand.preview(campaign, body)
            return await _campaign_page(request, sess, preview={"rendered": rendered, "conflicts": conflicts},
                                        form=fields)
        outcome = await ondemand.trigger(sess.user, campaign, body, origin=f"console:{client_origin(request)}")
    except ValidationError as err:
        msg = "；".join(f"{'.'.join(str(x) for x in e['loc']) or '表单'}: {e['msg']}" for e in err.errors())
        return await _campaign_page(request, sess, form=fields, flash=f"未提交：{msg}", flash_kind="error", status=422)
    except Invalid as exc:
        return await _campaign_page(request, sess, form=fields, flash=f"未提交：{exc}", flash_kind="error",
                                    status=exc.status)
    if outcome.draft_id is not None:
        raise web.HTTPSeeOther(f"/drafts/{outcome.draft_id}")
    return await _campaign_page(request, sess, flash=f"已记录，暂缓生成：{outcome.reason}", flash_kind="error")
