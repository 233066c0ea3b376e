"""Each JSON API operation described once, by the pydantic models its handler uses; the OpenAPI document is made from it.

A handler declares itself with `@operation(...)`: its request body model (or a raw media type),
its query model, and the model of each success answer. It then reads its input with `body()` /
`query()` and answers with `reply()`, which passes the data through the same model. So the
document cannot drift from what the handler accepts and returns, and schemathesis
(tests/security/test_api_schema.py) checks the running service against it with every role.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from alerts.web.auth import json_error
from alerts.web.guards import MAX_ID

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
REF = "#/components/schemas/{model}"


class Error(BaseModel):
    """Every refusal: what is wrong, where, and what to do."""

    model_config = ConfigDict(extra="forbid")
    error: str


ERROR_TEXT = {400: "The input cannot be read or is refused (the message says why)",
              401: "No, unknown, revoked or disabled bearer token",
              403: "The token's user lacks the permission, or the policy refuses (four eyes)",
              404: "No such resource (an id that names nothing)",
              409: "The resource is not in a state that allows this",
              413: "The body is larger than the limit",
              422: "The body does not match the schema; the message names the field"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    permission: str | None  # None: no token needed
    ok: dict[int, type[BaseModel]]
    body: type[BaseModel] | str | None = None  # a model (JSON), or the media type of a raw body
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    path_types: dict[str, dict[str, Any]] = field(default_factory=dict)


OPERATIONS: dict[tuple[str, str], Operation] = {}


def operation(method: str, path: str, *, summary: str, permission: str | None, ok: dict[int, type[BaseModel]],
              body: type[BaseModel] | str | None = None, query: type[BaseModel] | None = None,
              errors: tuple[int, ...] = (), description: str = "",
              path_types: dict[str, dict[str, Any]] | None = None) -> Callable[[Handler], Handler]:
    """Declare the handler's operation for the OpenAPI document; the handler itself is unchanged."""
    spec = Operation(method.upper(), path, summary, permission, ok, body, query, errors, description,
                     path_types or {})

    def register(handler: Handler) -> Handler:
        OPERATIONS[(spec.method, spec.path)] = spec
        return handler

    return register


def reply(model: type[M], data: Any, status: int = 200) -> web.Response:
    """Answer with `data` as `model` says: the documented shape is the shape sent."""
    checked = model.model_validate(data)
    return web.json_response(checked.model_dump(mode="json"), status=status)


def _problem(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(x) for x in e["loc"]) or "body"
        value = e.get("input")
        shown = f" {value[:60]!r} —" if isinstance(value, str) and e["type"] != "missing" else ""
        lines.append(f"{where}:{shown} {e['msg']}")
    return "; ".join(lines)


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body as `model`: 400 when it is not JSON (or not an object), 422 naming each bad field."""
    try:
        raw = json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "the body is not valid JSON (UTF-8)") from None
    if not isinstance(raw, dict):
        raise json_error(400, f"the body is a JSON {type(raw).__name__}; expected an object")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise json_error(422, _problem(err)) from None


def query(request: web.Request, model: type[M]) -> M:
    """The query string as `model`; 400 naming each bad parameter."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as err:
        raise json_error(400, _problem(err)) from None


# --- the document --------------------------------------------------------------------------------


def _schema(model: type[BaseModel], components: dict[str, Any], mode: str = "serialization") -> dict[str, Any]:
    generated = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    for name, sub in generated.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, generated)
    return {"$ref": REF.format(model=model.__name__)}


def _path_parameters(op: Operation) -> list[dict[str, Any]]:
    params = []
    for part in op.path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            default = ({"type": "integer", "minimum": 1, "maximum": MAX_ID} if name == "id" or name.endswith("_id")
                       else {"type": "string"})
            params.append({"name": name, "in": "path", "required": True, "schema": op.path_types.get(name, default)})
    return params


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    generated = model.model_json_schema(ref_template=REF, mode="validation")
    for name, sub in generated.pop("$defs", {}).items():
        components.setdefault(name, sub)
    required = set(generated.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": schema,
             **({"description": schema["description"]} if "description" in schema else {})}
            for name, schema in generated.get("properties", {}).items()]


def openapi_operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    errors = {401, 403, 400, 404, *op.errors} if op.permission else {400, 404, *op.errors}
    if op.body is not None:
        errors.update({413, 422} if not isinstance(op.body, str) else {413})
    responses: dict[str, Any] = {
        str(status): {"description": (model.__doc__ or model.__name__).strip().splitlines()[0],
                      "content": {"application/json": {"schema": _schema(model, components)}}}
        for status, model in op.ok.items()}
    error_ref = _schema(Error, components)
    for status in sorted(errors):
        responses[str(status)] = {"description": ERROR_TEXT.get(status, "Error"),
                                  "content": {"application/json": {"schema": error_ref}}}
    spec: dict[str, Any] = {"summary": op.summary, "responses": responses,
                            "description": (f"Needs the `{op.permission}` permission. " if op.permission else
                                            "Open to everyone. ") + op.description}
    params = _path_parameters(op) + (_query_parameters(op.query, components) if op.query else [])
    if params:
        spec["parameters"] = params
    if isinstance(op.body, str):
        spec["requestBody"] = {"required": True, "content": {op.body: {"schema": {"type": "string"}}}}
    elif op.body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _schema_input(op.body, components)}}}
    if not op.permission:
        spec["security"] = []
    return spec


def _schema_input(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    # Request bodies are documented in validation mode under their own names (they differ from answers).
    generated = model.model_json_schema(ref_template=REF, mode="validation")
    for name, sub in generated.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, generated)
    return {"$ref": REF.format(model=model.__name__)}
