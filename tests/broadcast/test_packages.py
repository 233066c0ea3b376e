"""Village loudspeakers: an approved red warning gets a broadcast package per township (the spoken text
after an attention call, read twice), its audio rendered by espeak-ng in the background, posted to a
township's IP-broadcast controller, and downloadable from the draft page by people who may view it."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import wave
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from alerts.broadcast.packages import make_pending
from alerts.broadcast.script import AGAIN, ATTENTION, broadcast_script
from alerts.channels.webhook import generic_signature
from alerts.store.tables import broadcast_packages, messages
from tests.channels.voice_support import configure, voice_library
from tests.web.conftest import free_port, login, serve
from tests.workflow.support import build_world, sample_alert

SECRET = "broadcast-controller-secret-0123"


def test_the_broadcast_script_is_the_spoken_text_after_an_attention_call_read_twice() -> None:
    script = broadcast_script("暴雨红色预警。请不要外出。")
    lines = script.splitlines()
    assert lines[0] == ATTENTION and lines[2] == AGAIN
    assert lines[1] == lines[3] == "暴雨红色预警。请不要外出。"


class Controller:
    """A local IP-broadcast controller: keeps what it was posted."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        parts: dict[str, Any] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            parts[part.name] = (part.headers.get("Content-Type"), await part.read())  # type: ignore[union-attr]
        # The package part is signed as the generic webhook signs its body.
        if request.headers.get("X-Signature") != generic_signature(SECRET, parts["package"][1]):
            return web.json_response({"ok": False}, status=401)
        self.received.append(parts)
        return web.json_response({"ok": True})


async def test_an_approved_red_warning_gets_packages_with_audio_posted_and_downloadable(
        config_dir: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng): audio cannot be made, and is never faked")
    controller = Controller()
    app = web.Application(client_max_size=50 * 2**20)  # a controller takes a minute or two of audio
    app.router.add_post("/play", controller.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("ALERTS_VOICE_PROVIDER", "none")  # loudspeakers need no call provider
    monkeypatch.setenv("ALERTS_BROADCAST_SECRET", SECRET)
    configure(config_dir, voice_library(tmp_path), "log", controllers={"140581101": f"http://127.0.0.1:{port}/play"})
    world = await build_world(config_dir, database_url)
    served, app_runner = await serve(world)
    try:
        intake = await world.service.receive(sample_alert(level="red"), source="test")
        draft_id = intake.drafts.created[0]
        decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
        if decision.state == "pending":
            await world.service.actions.approve(world.users["zhao.approver"], draft_id, origin="test")
        async with world.service.db.read() as conn:
            spoken = (await conn.execute(select(messages).where(messages.c.draft_id == draft_id)
                                         .where(messages.c.channel == "voice"))).one()
            planned = list(await conn.execute(select(broadcast_packages)))
        # Planned with the approval, one per township, nothing made on the request path.
        assert sorted(p.area for p in planned) == sorted(spoken.areas) and "140581101" in spoken.areas
        assert {p.state for p in planned} == {"pending"} and all(p.audio_path is None for p in planned)
        assert all(p.script == broadcast_script(spoken.text) for p in planned)

        settings = world.service.settings
        made = await make_pending(world.service.db, settings.channels.voice.broadcast, settings.var_dir,
                                  world.clock.now)
        assert made.ready == len(planned) and made.posted == 1
        async with world.service.db.read() as conn:
            ready = {p.area: p for p in await conn.execute(select(broadcast_packages))}
        assert {p.state for p in ready.values()} == {"ready"}
        with wave.open(str(settings.var_dir / ready["140581101"].audio_path), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            assert w.getnframes() / w.getframerate() > 10, "both readings of the text are in the audio"
        assert ready["140581101"].posted == "200" and all(p.posted == "" for a, p in ready.items() if a != "140581101")

        # The controller got the script and the audio, with the audio's hash.
        (kind, meta), (audio_kind, audio) = controller.received[0]["package"], controller.received[0]["audio"]
        package = json.loads(meta)
        assert kind == "application/json" and audio_kind == "audio/wav"
        assert package["township"] == "140581101" and package["script"] == ready["140581101"].script
        assert package["audio_sha256"] == hashlib.sha256(audio).hexdigest()
        with wave.open(io.BytesIO(audio), "rb") as w:
            assert w.getframerate() == 16000

        # Downloadable by those who may view the draft; linked from its page.
        http = await login(served.base, "liu.observer")
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        assert "村村响广播包" in page and f"/drafts/{draft_id}/broadcast/140581101.wav" in page
        async with http.get(f"{served.base}/drafts/{draft_id}/broadcast/140581101.wav") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
            assert (await r.read())[:4] == b"RIFF"
        async with http.get(f"{served.base}/drafts/{draft_id}/broadcast/140581101.txt") as r:
            assert r.status == 200 and ATTENTION in await r.text()
        await http.close()
        async with aiohttp.ClientSession() as anonymous, \
                anonymous.get(f"{served.base}/drafts/{draft_id}/broadcast/140581101.wav",
                              allow_redirects=False) as r:
            assert r.status in (302, 303, 401, 403)
    finally:
        await app_runner.cleanup()
        await runner.cleanup()
        await world.service.close()


async def test_a_controller_that_is_down_is_recorded_on_the_package(
        config_dir: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTS_VOICE_PROVIDER", "none")
    configure(config_dir, voice_library(tmp_path), "log", controllers={"140581101": f"http://127.0.0.1:{free_port()}/"})
    world = await build_world(config_dir, database_url)
    try:
        intake = await world.service.receive(sample_alert(level="red"), source="test")
        draft_id = intake.drafts.created[0]
        decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
        if decision.state == "pending":
            await world.service.actions.approve(world.users["zhao.approver"], draft_id, origin="test")
        cfg = world.service.settings.channels.voice.broadcast.model_copy(update={"audio": False})
        await make_pending(world.service.db, cfg, world.service.settings.var_dir, world.clock.now)
        async with world.service.db.read() as conn:
            row = (await conn.execute(select(broadcast_packages).where(broadcast_packages.c.area == "140581101"))).one()
        assert (row.state, row.posted, row.audio_path) == ("ready", "failed", None)
        assert "cannot reach" in row.post_error and row.audio_note == "audio is off"
    finally:
        await world.service.close()
