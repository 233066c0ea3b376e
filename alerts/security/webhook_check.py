"""`alerts check` for stored robot webhook URLs: the same address rule as feeds (no private, loopback, link-local).

Organisation contacts hold their robot URLs encrypted in the database; the check reads them with
ALERTS_ENCRYPTION_KEY and reports each that points inside (without repeating the URL: it holds a
key). Allowed exceptions are listed in notices.yaml `webhooks.allow_networks` (tests use 127.0.0.0/8).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from alerts.crypto import EncryptionKeyError, cipher_from
from alerts.security.netguard import networks, url_problem
from alerts.settings import Settings
from alerts.store.engine import Database
from alerts.store.tables import contacts, organisations

log = logging.getLogger("alerts.checks")
WEBHOOK_CHANNELS = ("wecom", "dingtalk", "feishu", "webhook")


def webhook_problems(settings: Settings) -> list[str]:
    """One line per stored webhook URL the address rule refuses; nothing when there is no database yet."""
    from alerts.settings.notices import notices_config

    try:
        allowed = networks(notices_config(settings).webhooks.allow_networks)
    except ValueError as exc:
        return [f"{settings.config_dir / 'notices.yaml'}: webhooks.allow_networks: {exc}"]
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_stored(settings, allowed))
    # Called from inside a running loop (a test harness, a notebook): a loop of its own, in a thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _stored(settings, allowed)).result()


async def _stored(settings: Settings, allowed: tuple[object, ...]) -> list[str]:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return []  # no database yet (and a check must not create one)
    cipher = cipher_from(settings.secrets)
    database = Database(settings.database_url)
    try:
        async with database.read() as conn:
            rows = list(await conn.execute(
                select(contacts.c.id, contacts.c.channel, contacts.c.address_enc, contacts.c.address_hint,
                       organisations.c.name.label("org"))
                .join(organisations, organisations.c.id == contacts.c.organisation_id)
                .where(contacts.c.channel.in_(WEBHOOK_CHANNELS))))
    except (DBAPIError, OSError) as exc:  # no database yet, or not migrated: nothing stored to check
        log.debug("stored webhook URLs not checked: %s", exc.__class__.__name__)
        return []
    finally:
        await database.close()
    if rows and cipher is None:
        return [f"ALERTS_ENCRYPTION_KEY: not set, so the {len(rows)} stored robot webhook URL(s) cannot be checked"]
    problems = []
    for row in rows:
        try:
            url = cipher.decrypt(row.address_enc)  # type: ignore[union-attr]
        except EncryptionKeyError as exc:
            return [f"ALERTS_ENCRYPTION_KEY: {exc}"]
        where = f"the {row.channel} robot URL of {row.org} (contact {row.id}, {row.address_hint})"
        problem = url_problem(url, allow=allowed, where=where, allow_key="notices.yaml webhooks.allow_networks")  # type: ignore[arg-type]
        if problem:
            problems.append(f"organisation contact {row.id}: {problem} — fix it with `alerts organisations import`")
    return problems
