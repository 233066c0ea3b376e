"""Request guards every route gets: ids that cannot be ids answer 404, bodies that cannot be read answer 400.

Without them a path id beyond 64 bits reached the database and a body that was not valid gzip
blew up inside a handler; both answered 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError
from aiohttp.web_protocol import RequestPayloadError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"^[0-9]{1,19}$")


def parse_id(text: str) -> int | None:
    """A database id from a path or form: ASCII digits within 64 bits, else None."""
    if not _DIGITS.match(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def _out_of_range(value: str) -> bool:
    try:
        number = int(value)  # as a handler's int() would read it: signs, spaces, '_' and all
    except ValueError:
        return False
    return not 0 < number <= MAX_ID


def _is_id(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def _answer(request: web.Request, status: int, message: str, message_zh: str) -> web.Response:
    if request.path.startswith(("/api/", "/hooks/", "/metrics")):
        return web.Response(status=status, text=json.dumps({"error": message}), content_type="application/json")
    return web.Response(status=status, text=message_zh, content_type="text/plain", charset="utf-8")


@web.middleware
async def guards(request: web.Request, handler: Handler) -> web.StreamResponse:
    info = request.match_info
    for key, value in info.items():
        # Ids are positive whole numbers that fit in 64 bits: a number outside that names nothing
        # (and would overflow the database's integer). Other text is left to the route (campaign ids).
        if _is_id(key) and _out_of_range(value):
            return _answer(request, 404, f"no such {key}: {value[:40]!r} is not an id",
                           f"没有这一项：{value[:40]} 不是有效的编号。")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # The API answers JSON also where aiohttp answers for it (no such route, method, too large).
        if not request.path.startswith("/api/") or exc.content_type == "application/json" or exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return web.json_response({"error": (exc.text or exc.reason or "").replace(f"{exc.status}: ", "", 1)},
                                 status=exc.status, headers=headers)
    except (ContentEncodingError, BadHttpMessage, RequestPayloadError):
        # e.g. Content-Encoding: gzip with a body that is not gzip
        return _answer(request, 400, "the body cannot be read: it is not in the Content-Encoding it claims "
                                     "(e.g. gzip), or it was cut short", "请求内容无法读取（压缩格式或编码错误）。")
