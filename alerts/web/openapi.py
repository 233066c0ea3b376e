"""The OpenAPI 3.1 document of the JSON API, served at /api/v1/openapi.json (a test keeps it equal to the routes).

The approval routes are described here in full. Another web module documents its own /api/v1
routes with a module-level `OPENAPI_PATHS = {path: {method: operation}}`; a route nobody
documents still appears, with its handler's docstring as summary, so the document never omits one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alerts.web.api import CorrectBody, EditBody, RejectBody, WithdrawBody
from alerts.workflow.states import DraftState

routes = web.RouteTableDef()


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {
    "401": _error("No, unknown, revoked or disabled bearer token"),
    "403": _error("The token's user lacks the permission, or the policy refuses (four eyes)"),
    "404": _error("No such draft"),
}
DRAFT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _draft_answer(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Draft"}}}}


def _action(summary: str, permission: str, body: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary, "description": f"Needs the `{permission}` permission.",
        "parameters": [DRAFT_ID],
        "responses": {"200": _draft_answer("The draft after the action"), **ERRORS,
                      "409": _error("The draft is not in a state that allows this (e.g. already approved)")},
    }
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
        op["responses"]["400"] = _error("The body is not valid JSON, or the action's input is refused")
        op["responses"]["422"] = _error("The body does not match the schema; the message names the field")
    return op


def _route_paths(app: web.Application) -> dict[str, dict[str, Any]]:
    """Every /api/v1 route of the running app: documented by its module, or from its docstring."""
    from alerts.web.app import route_modules

    contributed: dict[str, dict[str, Any]] = {}
    for module in route_modules():
        for path, ops in getattr(module, "OPENAPI_PATHS", {}).items():
            contributed.setdefault(path, {}).update(ops)
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or not resource.canonical.startswith("/api/v1/"):
            continue
        path, method = resource.canonical, route.method.lower()
        op = contributed.get(path, {}).get(method)
        if op is None:
            doc = (getattr(route.handler, "__doc__", None) or "").strip().splitlines()
            op = {"summary": doc[0] if doc else f"{method.upper()} {path}",
                  "responses": {"200": {"description": "OK"}, "401": ERRORS["401"], "403": ERRORS["403"]}}
            params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
            if params:
                op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                                    for n in params]
        paths.setdefault(path, {})[method] = op
    return paths


def document(app: web.Application | None = None) -> dict[str, Any]:
    """The document; with the app, also every other /api/v1 route it serves."""
    doc = _core()
    if app is not None:
        for path, ops in _route_paths(app).items():
            for method, op in ops.items():
                doc["paths"].setdefault(path, {}).setdefault(method, op)
    return doc


def _core() -> dict[str, Any]:
    message = {
        "type": "object",
        "required": ["id", "audience", "channel", "text", "characters"],
        "properties": {
            "id": {"type": "integer"}, "audience": {"type": "string"}, "channel": {"type": "string"},
            "language": {"type": "string"}, "template": {"type": "string"}, "template_reviewed": {"type": "boolean"},
            "edited": {"type": "boolean"}, "expert_reviewed_by": {"type": ["string", "null"]},
            "areas": {"type": "array", "items": {"type": "string"}}, "route": {"type": "string"},
            "text": {"type": "string", "description": "Exactly as sent (SMS: with the signature)"},
            "characters": {"type": "integer"}, "encoding": {"type": "string"}, "segments": {"type": "integer"},
        },
    }
    summary_props = {
        "id": {"type": "integer"}, "state": {"type": "string", "enum": [s.value for s in DraftState]},
        "kind": {"type": "string"}, "alert_id": {"type": ["integer", "null"]}, "hazard": {"type": ["string", "null"]},
        "level": {"type": ["string", "null"]}, "exercise": {"type": "boolean", "description": "演练: test audience only"},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "高平市应急科普预警服务 API", "version": "1",
                 "description": "The console's actions for other systems, with the same permissions. "
                                "Authenticate with `Authorization: Bearer <token>` (`alerts tokens create NAME`)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                             "responses": {"200": {"description": "OpenAPI 3.1 document"}}}},
            "/api/v1/drafts": {"get": {
                "summary": "List drafts: pending first, by level, then deadline", "description": "Needs `view`.",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": [s.value for s in DraftState]}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                ],
                "responses": {"200": {"description": "Drafts", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["drafts"],
                    "properties": {"drafts": {"type": "array", "items": {"$ref": "#/components/schemas/DraftSummary"}}},
                }}}}, "400": _error("Unknown state or bad limit"), "401": ERRORS["401"], "403": ERRORS["403"]},
            }},
            "/api/v1/drafts/{id}": {"get": {
                "summary": "One draft with its messages exactly as sent", "description": "Needs `view`.",
                "parameters": [DRAFT_ID], "responses": {"200": _draft_answer("The draft"), **ERRORS},
            }},
            "/api/v1/drafts/{id}/approve": {"post": _action("Approve (sends when enough approvers agree)", "approve")},
            "/api/v1/drafts/{id}/reject": {"post": _action("Reject with a reason", "reject", "RejectBody")},
            "/api/v1/drafts/{id}/edit": {"post": _action("Edit one message's text (returns it to review)", "edit",
                                                         "EditBody")},
            "/api/v1/drafts/{id}/review": {"post": _action("Expert review of edited texts", "review_content")},
            "/api/v1/drafts/{id}/withdraw": {"post": _action("Stop: what is still queued is not sent", "approve",
                                                             "WithdrawBody")},
            "/api/v1/drafts/{id}/correct": {"post": {
                **_action("Start a correction of a draft that went out (a new pending draft linked to it)", "compose",
                          "CorrectBody"),
                "responses": {"201": _draft_answer("The new correction draft"), **ERRORS,
                              "409": _error("Only a sent, partly failed or dispatching draft can be corrected"),
                              "400": _error("The body is not valid JSON, or no reason"),
                              "422": _error("The body does not match the schema")},
            }},
            "/api/v1/alerts": {"post": {
                "summary": "Push one CAP 1.x or GB/T 35965 XML document", "description": "Needs `push_alerts`.",
                "requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string"}}}},
                "responses": {
                    "202": {"description": "Stored and routed", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["alert_id", "drafts"],
                        "properties": {"alert_id": {"type": ["integer", "null"]}, "duplicate": {"type": "boolean"},
                                       "drafts": {"type": "array", "items": {"type": "integer"}},
                                       "superseded": {"type": "array", "items": {"type": "integer"}},
                                       "withdrawn": {"type": "array", "items": {"type": "integer"}}}}}}},
                    "400": _error("Empty body"), "401": ERRORS["401"], "403": ERRORS["403"],
                    "413": _error("Larger than feeds.yaml max_document_bytes"),
                    "422": _error("Not a valid alert; the input is kept with the reason"),
                },
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Message": message,
                "DraftSummary": {"type": "object", "required": list(summary_props), "properties": summary_props},
                "Draft": {"type": "object", "required": ["id", "state", "alert_id", "level", "messages"],
                          "properties": {**summary_props,
                                         "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                                         "policy": {"type": ["string", "null"]},
                                         "approvals": {"type": "array", "items": {"type": "object"}},
                                         "reason": {"type": "string"}, "decided_by": {"type": ["string", "null"]}}},
                "RejectBody": RejectBody.model_json_schema(),
                "EditBody": EditBody.model_json_schema(),
                "WithdrawBody": WithdrawBody.model_json_schema(),
                "CorrectBody": CorrectBody.model_json_schema(),
            },
        },
    }


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))
