"""Fetching feeds and linked documents: bounded in time, size and redirects, under the address rule.

Redirects are followed one hop at a time so that every hop passes the same checks as the first
URL (alerts/security/netguard.py), and a feed's credentials go only to the feed's own origin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiohttp
from yarl import URL

from alerts.security.netguard import Network, origin, refused_cause, url_problem


class FetchError(Exception):
    """A fetch that did not give a usable body. `permanent` failures are not retried for an entry."""

    def __init__(self, reason: str, *, permanent: bool = False, partial: bytes = b"", refused: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.partial = partial
        # Refused by the address/origin rule: a configuration decision, so the entry is retried at
        # every poll (an operator problem says so) and picked up once feeds.yaml allows it.
        self.refused = refused


@dataclass
class Fetched:
    status: int  # 200 or 304
    body: bytes
    url: str  # after redirects
    etag: str | None
    last_modified: str | None


def shown(url: str) -> str:
    """A URL fit for logs and the feeds table: any user:password@ part is removed."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if sep and "@" in host:
        return f"{scheme}://{host.rsplit('@', 1)[1]}{slash}{path}"
    return url


REDIRECTS = (301, 302, 303, 307, 308)


async def fetch(session: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str], timeout: float,
                max_bytes: int, max_redirects: int, allow: Sequence[Network] = (),
                credentials: Mapping[str, str] | None = None, credential_origin: str = "",
                origins: frozenset[str] | None = None, what: str = "the feed") -> Fetched:
    """GET with bounded redirects, time and size; the size limit applies after gzip is undone.

    Redirects are followed here, one hop at a time, so that every hop passes the same checks: no
    credentials in the URL, no private address unless `allow` lists it, only `origins` (when given).
    `credentials` (headers) go only to `credential_origin`, never to another host a redirect names.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    current = url
    for hop in range(max_redirects + 1):
        problem = url_problem(current, allow=allow, where=f"{what} link {shown(current)}")
        if problem:
            raise FetchError(problem, permanent=True, refused=True)
        if origins is not None and origin(current) not in origins:
            raise FetchError(f"{shown(current)} is not on the feed's own origin nor in feeds.yaml fetch_origins "
                             f"({', '.join(sorted(origins))}); add its origin there if it is trusted",
                             permanent=True, refused=True)
        sent = dict(headers)
        if credentials and origin(current) == credential_origin:
            sent.update(credentials)
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise FetchError(f"timed out after {timeout:g} s fetching {shown(url)}")
        try:
            async with session.get(current, headers=sent, allow_redirects=False,
                                   timeout=aiohttp.ClientTimeout(total=remaining)) as resp:
                if resp.status in REDIRECTS and resp.headers.get("Location"):
                    if hop == max_redirects:
                        raise FetchError(f"too many redirects from {shown(url)} (more than {max_redirects})")
                    current = str(resp.url.join(URL(resp.headers["Location"])))
                    continue
                return await _read(resp, url, max_bytes)
        except TimeoutError:
            raise FetchError(f"timed out after {timeout:g} s fetching {shown(url)}") from None
        except aiohttp.ClientResponseError as exc:
            raise FetchError(f"bad response from {shown(url)}: {exc.message or exc.status}") from None
        except aiohttp.ClientError as exc:
            refused = refused_cause(exc)
            if refused is not None:
                raise FetchError(f"{shown(current)}: {refused}", permanent=True, refused=True) from None
            raise FetchError(f"cannot fetch {shown(current)}: {exc.__class__.__name__}: {exc}".rstrip(": ")) from None
        except ValueError as exc:  # a URL the HTTP client will not use (e.g. a non-canonical address)
            raise FetchError(f"cannot fetch {shown(current)}: {exc}", permanent=True, refused=True) from None
    raise FetchError(f"too many redirects from {shown(url)} (more than {max_redirects})")  # pragma: no cover


async def _read(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> Fetched:
    final = shown(str(resp.url))
    if resp.status == 304:
        return Fetched(304, b"", final, resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
    if resp.status >= 400:
        # 408 and 429 say "later"; other 4xx will not change by asking again.
        permanent = 400 <= resp.status < 500 and resp.status not in (408, 429)
        raise FetchError(f"HTTP {resp.status} {resp.reason or ''} from {final}".strip(), permanent=permanent)
    if resp.status != 200:
        raise FetchError(f"unexpected HTTP {resp.status} from {final}")
    declared = resp.content_length
    if declared is not None and declared > max_bytes and not resp.headers.get("Content-Encoding"):
        raise FetchError(f"{final} is {declared} bytes, over the limit of {max_bytes} bytes", permanent=True)
    body = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FetchError(f"{final} is larger than the limit of {max_bytes} bytes; stopped reading",
                             permanent=True, partial=bytes(body[:max_bytes]))
    return Fetched(200, bytes(body), final, resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
