"""Downloads of village-loudspeaker packages (script and audio) for people who may view the draft."""

from __future__ import annotations

from aiohttp import web

from alerts.broadcast.packages import get
from alerts.web.auth import service
from alerts.web.console import require_permission

routes = web.RouteTableDef()


async def _package(request: web.Request) -> object:
    await require_permission(request, "view", "下载广播包")
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise web.HTTPNotFound()
    svc = service(request)
    async with svc.db.read() as conn:
        row = await get(conn, int(raw), request.match_info["area"])
    if row is None or row.state == "pending":
        raise web.HTTPNotFound(text="没有这个广播包（或仍在生成）。")
    return row


@routes.get(r"/drafts/{id}/broadcast/{area:\d+}.txt")
async def script(request: web.Request) -> web.Response:
    row = await _package(request)
    name = f"broadcast-{row.draft_id}-{row.area}.txt"  # type: ignore[attr-defined]
    return web.Response(text=row.script + "\n", content_type="text/plain", charset="utf-8",  # type: ignore[attr-defined]
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@routes.get(r"/drafts/{id}/broadcast/{area:\d+}.wav")
async def audio(request: web.Request) -> web.StreamResponse:
    row = await _package(request)
    if not row.audio_path:  # type: ignore[attr-defined]
        raise web.HTTPNotFound(text=f"这个广播包没有音频：{row.audio_note}")  # type: ignore[attr-defined]
    svc = service(request)
    root = svc.settings.var_dir.resolve()
    path = (root / row.audio_path).resolve()  # type: ignore[attr-defined]
    if root not in path.parents or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Content-Disposition": f'attachment; filename="{path.name}"'})
