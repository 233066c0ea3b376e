"""The IP-broadcast adapter: a township's networked loudspeaker controller gets the package by HTTP POST.

A generic shape that county controllers' gateways take: multipart/form-data with a JSON part
`package` (township, draft, script, a SHA-256 of the audio) and, when there is audio, a `audio`
part (audio/wav). The controller URL per township is in channels.yaml voice.broadcast.controllers.
With ALERTS_BROADCAST_SECRET set, `X-Signature: sha256=<HMAC-SHA256 of the package part>` signs it as
the generic webhook signs its body; the package names the audio's hash, so the signature covers both.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import aiohttp

from alerts.channels.webhook import generic_signature


class ControllerError(Exception):
    pass


async def post_package(url: str, *, draft_id: int, area: str, script: str, audio: Path | None,
                       timeout: float, secret: str | None = None) -> int:
    """POST one package; the controller's HTTP status (2xx), else ControllerError."""
    data = aiohttp.FormData()
    body = audio.read_bytes() if audio is not None else None
    meta = {"township": area, "draft": draft_id, "script": script, "kind": "emergency_broadcast",
            "audio_sha256": hashlib.sha256(body).hexdigest() if body is not None else None}
    package = json.dumps(meta, ensure_ascii=False).encode("utf-8")
    headers = {"X-Alerts-Package": f"{draft_id}-{area}"}  # an idempotency key for the controller
    if secret:
        headers["X-Signature"] = generic_signature(secret, package)
    data.add_field("package", package.decode("utf-8"), content_type="application/json")
    if body is not None:
        data.add_field("audio", io.BytesIO(body), filename=f"draft-{draft_id}-{area}.wav", content_type="audio/wav")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.post(url, data=data, headers=headers) as response:
            if response.status >= 300:
                raise ControllerError(f"the controller answered HTTP {response.status}")
            return response.status
    except aiohttp.ClientError as exc:
        raise ControllerError(f"cannot reach the controller: {exc.__class__.__name__}") from None
