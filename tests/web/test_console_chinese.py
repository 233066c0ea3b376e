"""The Chinese console has no English in it: a crawler signs in as each role, follows every link of the
console from the queue, and fails on a Latin word that is not on the allow-list (CAP, SMS, ids...).

Machine data shown on purpose (template ids, identifiers, JSON of the audit log) is marked
translate="no" in the page, as HTML means it, and is skipped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from alerts.store import users as user_store
from tests.web.conftest import Served, login
from tests.workflow.support import PASSWORDS, password_hash

ALLOWED = {"CAP", "SMS", "ID", "CSV", "JSON", "A4", "PDF", "IM", "UTC", "API", "URL", "GB", "T", "PM2.5", "PM10", "AQI"}
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
SKIP_PATHS = ("/logout", "/static/", "/feeds/", "/notices/", "/alerts/", "/api/", "/hooks/", "/ack/", "/enrol/")
SKIP_TAGS = {"script", "style", "code"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
ROLES = ["wang.approver", "li.editor", "chen.expert", "liu.observer", "admin", "qx.campaigner", "duty.coordinator"]


class _Text(HTMLParser):
    """Visible text (and placeholder/title/label attributes) outside translate="no", scripts and code."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open element: is it skipped?
        self.words: list[str] = []
        self.links: list[str] = []

    def _skipping(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        skip = tag in SKIP_TAGS or a.get("translate") == "no"
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if not self._skipping() and not skip:
            for name in ("placeholder", "title", "aria-label", "alt"):
                if a.get(name):
                    self.words.extend(LATIN.findall(a[name] or ""))
            if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
                self.words.extend(LATIN.findall(a["value"] or ""))
        if tag not in VOID:
            self.stack.append(skip)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.words.extend(LATIN.findall(data))


def latin_words(html: str) -> tuple[list[str], list[str]]:
    parser = _Text()
    parser.feed(html)
    return parser.words, parser.links


@pytest.fixture
async def busy(served: Served) -> Served:
    """A console with something on every page: a sent orange warning (an event opens), a pending red one."""
    world = served.world
    async with world.service.db.write() as conn:
        user = await user_store.add(conn, "duty.coordinator", ["coordinator"], "duty.coordinator-password-1",
                                    at=world.clock.now(), password_hash=password_hash("duty.coordinator-password-1"))
        world.users["duty.coordinator"] = user
    PASSWORDS.setdefault("duty.coordinator", "duty.coordinator-password-1")
    orange = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], orange, origin="test")
    await world.service.worker.drain()
    world.clock.advance(minutes=5)
    await world.ingest(level="red", identifier="14058141600000_20260712060000")
    return served


@pytest.mark.parametrize("who", ROLES)
async def test_no_english_on_any_console_page(busy: Served, who: str) -> None:
    http = await login(busy.base, who, PASSWORDS[who])
    seen: set[str] = set()
    todo = ["/"]
    leaks: dict[str, list[str]] = {}
    try:
        while todo and len(seen) < 150:
            path = todo.pop(0)
            if path in seen:
                continue
            seen.add(path)
            async with http.get(busy.base + path) as r:
                if r.content_type != "text/html":
                    continue
                html = await r.text()
            words, links = latin_words(html)
            words = [w for w in words if w not in ALLOWED and w not in busy.world.users]  # login names are ids
            if words:
                leaks[path] = sorted(set(words))
            for href in links:
                target = urlsplit(urljoin(busy.base + path, href))
                if target.netloc != urlsplit(busy.base).netloc:
                    continue
                link = target.path + (f"?{target.query}" if target.query else "")
                downloads = "format=csv" in link or "format=json" in link
                if link not in seen and not link.startswith(SKIP_PATHS) and not downloads:
                    todo.append(link)
    finally:
        await http.close()
    assert len(seen) > 5 and any(p.startswith("/reports/") for p in seen), seen
    assert not leaks, f"English on the Chinese console as {who}: {leaks}"
