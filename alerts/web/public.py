"""Public pages for the media centre and building screens: the Atom feed, CAP 1.2 per message, printable notices.

Only approved messages are public, and only those meant for the public (audiences and kinds
from notices.yaml `feed`), never exercises; a printable notice is also served for an approved
message to an organisation (drills carry the 演练 mark), and as a marked preview to console users.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from aiohttp import web
from lxml import etree

from alerts.capout import cap_alert, our_references, to_xml
from alerts.channels.notice import Published, list_public, load_published, render_notice
from alerts.clock import SHANGHAI
from alerts.settings.notices import NoticesConfig, notices_config
from alerts.textclean import clean
from alerts.web.auth import console_session, service

routes = web.RouteTableDef()
ATOM = "http://www.w3.org/2005/Atom"
FEED_CACHE = "public, max-age=60"


def _config(request: web.Request) -> NoticesConfig:
    return notices_config(service(request).settings)


def _issuer(request: web.Request) -> str:
    svc = service(request)
    return _config(request).notice.issuer or svc.settings.service.name


def _base(request: web.Request) -> str:
    return service(request).settings.service.http.public_base_url.rstrip("/")


def _message_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="没有这条消息。")
    return int(raw)


def in_feed(p: Published, config: NoticesConfig) -> bool:
    """The same rule as the feed query: approved, public, not an exercise, a listed audience and kind."""
    return (p.approved and p.public and p.audience in config.feed.public_audiences and p.channel != "voice"
            and p.kind in config.feed.kinds and p.language in config.feed.languages)


def _atom_time(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).isoformat(timespec="seconds")


@routes.get("/feeds/alerts.atom")
async def atom_feed(request: web.Request) -> web.Response:
    svc = service(request)
    config = _config(request)
    async with svc.db.read() as conn:
        items = await list_public(conn, audiences=config.feed.public_audiences, kinds=config.feed.kinds,
                                  limit=config.feed.max_entries, languages=config.feed.languages)
    base = _base(request)
    author = config.feed.author or svc.settings.service.name
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", "zh-CN")

    def sub(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
        # XML 1.0 cannot carry control characters: a stray one in a stored text must not break the feed.
        el = etree.SubElement(parent, f"{{{ATOM}}}{name}", **{k: clean(v, one_line=True) for k, v in attrs.items()})
        if text is not None:
            el.text = clean(text)
        return el

    sub(feed, "id", f"{base}/feeds/alerts.atom")
    sub(feed, "title", config.feed.title)
    sub(feed, "updated", _atom_time(items[0].issued_at if items else svc.clock.now()))
    sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/feeds/alerts.atom")
    sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/public")  # the page people read
    sub(sub(feed, "author"), "name", author)
    for p in items:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{base}/feeds/cap/{p.message_id}.xml")
        sub(entry, "title", p.title)
        sub(entry, "updated", _atom_time(p.issued_at))
        sub(entry, "published", _atom_time(p.issued_at))
        sub(entry, "link", rel="alternate", type="text/html", href=f"{base}/notices/{p.message_id}")
        sub(entry, "link", rel="alternate", type="application/cap+xml", href=f"{base}/feeds/cap/{p.message_id}.xml")
        if p.hazard:
            sub(entry, "category", term=p.hazard, label=p.title)
        sub(entry, "content", p.text, type="text")
    body = etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8",
                        headers={"Cache-Control": FEED_CACHE})


@routes.get(r"/feeds/cap/{id}.xml")
async def cap_message(request: web.Request) -> web.Response:
    svc = service(request)
    message_id = _message_id(request)
    config = _config(request)
    region = svc.settings.service.region_code
    async with svc.db.read() as conn:
        p = await load_published(conn, message_id)
        if p is None or not in_feed(p, config):
            raise web.HTTPNotFound(text="没有这条公开消息（未批准、演练或不面向公众的消息不公开）。")
        # Our own earlier messages of the chain: what a downstream system saw from us and can follow.
        earlier = await our_references(conn, p, sender=config.feed.cap_sender, region_code=region,
                                       kinds=config.feed.kinds)
    names = {code: t.name for code, t in svc.areas.townships.items()}
    alert = cap_alert(p, sender=config.feed.cap_sender, issuer=_issuer(request), region_code=region,
                      area_names=names, web_base=_base(request), earlier=earlier)
    body = to_xml(alert)
    signer = getattr(svc, "cap_signer", None)
    if signer is not None:
        body = signer.sign(body)
    return web.Response(body=body, content_type="application/cap+xml", charset="utf-8",
                        headers={"Cache-Control": FEED_CACHE})


@routes.get("/notices/{id}")
async def notice_page(request: web.Request) -> web.Response:
    svc = service(request)
    message_id = _message_id(request)
    async with svc.db.read() as conn:
        p = await load_published(conn, message_id)
    preview = False
    if p is not None and not p.approved:
        # Not approved yet (or never): only console users may see it, marked as a preview.
        sess = await console_session(request)
        if sess is None or not svc.policy.can(sess.user, "view"):
            p = None
        preview = True
    if p is None:
        raise web.HTTPNotFound(text="没有这条已批准的消息。")
    nonce = secrets.token_urlsafe(16)
    html = render_notice(p, issuer=_issuer(request), nonce=nonce, preview=preview)
    csp = (f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'")
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": csp})
