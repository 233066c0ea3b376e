"""The OpenAPI 3.1 document of the JSON API, served at /api/v1/openapi.json, generated from the handlers' models.

Every /api/v1 route the app serves appears. Routes declared with `apispec.operation` are described
from the pydantic models their handlers read and answer with; a module may still contribute a
hand-written `OPENAPI_PATHS = {path: {method: operation}}`; anything else appears with its
handler's docstring, so the document never omits a route (tests/web/test_api.py keeps it so).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from alerts.web import apispec

routes = web.RouteTableDef()


class OpenApiDocument(BaseModel):
    """This document (OpenAPI 3.1)."""

    model_config = ConfigDict(extra="allow")
    openapi: str


def _modules() -> list[object]:
    from alerts.web.app import route_modules

    return route_modules()


def document(app: web.Application | None = None) -> dict[str, Any]:
    """The document; with the app, every /api/v1 route it serves (without: those declared with models)."""
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    contributed: dict[str, dict[str, Any]] = {}
    for module in _modules():
        for path, ops in getattr(module, "OPENAPI_PATHS", {}).items():
            contributed.setdefault(path, {}).update(ops)
    served = _served(app) if app is not None else {(m, p): None for m, p in apispec.OPERATIONS}
    for (method, path), handler in sorted(served.items(), key=lambda item: (item[0][1], item[0][0])):
        spec = apispec.OPERATIONS.get((method, path))
        if spec is not None:
            op = apispec.openapi_operation(spec, components)
        elif method.lower() in contributed.get(path, {}):
            op = contributed[path][method.lower()]
        else:
            op = _undocumented(method, path, handler, components)
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "高平市应急科普预警服务 API", "version": "1",
                 "description": "The console's actions for other systems, with the same permissions. "
                                "Authenticate with `Authorization: Bearer <token>`; a person creates their own "
                                "tokens (console 我的账号, or `alerts tokens create NAME` with their password)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": dict(sorted(components.items()))},
    }


def _served(app: web.Application) -> dict[tuple[str, str], Any]:
    found = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or not resource.canonical.startswith("/api/v1/"):
            continue
        found[(route.method, resource.canonical)] = route.handler
    return found


def _undocumented(method: str, path: str, handler: Any, components: dict[str, Any]) -> dict[str, Any]:
    """A route nobody described: its docstring, and the answers every route can give."""
    doc = (getattr(handler, "__doc__", None) or "").strip().splitlines()
    error = {"description": "Error", "content": {"application/json": {
        "schema": apispec._schema(apispec.Error, components)}}}
    op: dict[str, Any] = {"summary": doc[0] if doc else f"{method} {path}",
                          "responses": {"200": {"description": "OK"}, "400": error, "401": error, "403": error,
                                        "404": error}}
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    if params:
        op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in params]
    return op


@apispec.operation("GET", "/api/v1/openapi.json", summary="This document", permission=None,
                   ok={200: OpenApiDocument})
@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))
