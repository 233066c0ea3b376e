"""Oversized (413) and empty pushes are kept as received documents with their reason.

Before: both were answered and forgotten, so an operator could not tell what a source had sent.
"""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from alerts.store.tables import raw_inputs
from tests.web.conftest import Served


async def test_refused_pushes_are_kept_with_their_reason(served: Served) -> None:
    limit = served.world.service.settings.feeds.max_document_bytes
    big = b"<alert>" + b"x" * (limit + 100) + b"</alert>"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{served.base}/api/v1/alerts", data=big, headers=served.bearer("feed.source")) as r:
            assert r.status == 413
        async with http.post(f"{served.base}/api/v1/alerts", data=b"  \n", headers=served.bearer("feed.source")) as r:
            assert r.status == 400 and "kept as raw input" in (await r.json())["error"]
    async with served.world.service.db.read() as conn:
        rows = list(await conn.execute(select(raw_inputs).order_by(raw_inputs.c.id)))
    assert [(r.source, r.outcome) for r in rows] == [("push:feed.source", "rejected")] * 2
    oversized, empty = rows
    assert "larger than" in oversized.reason and oversized.content.startswith(b"<alert>xxx")
    assert len(oversized.content) <= limit
    assert empty.reason == "empty body" and empty.content == b"  \n"
