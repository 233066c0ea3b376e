"""Where the service may connect: the rule against server-side request forgery (SSRF).

Anything fetched because of outside data (a feed entry's link, a redirect, a webhook URL) goes
only to public addresses, unless the configuration names a private network explicitly (tests and a
local relay use 127.0.0.0/8). The rule is applied twice: to the URL as written (literal addresses,
user:password@ parts) and to every address a host name resolves to at connect time, so a name
that resolves to 127.0.0.1 or 169.254.169.254 is refused as well.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressRefused(OSError):
    """A connection the rule refuses; the message says which address and how to allow it."""


def networks(items: Iterable[str]) -> tuple[Network, ...]:
    """Parse 'a.b.c.d/n' or single addresses; raises ValueError naming the bad item."""
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP network such as 127.0.0.0/8 or 10.1.2.3") from None
    return tuple(out)


def is_public(ip: Address) -> bool:
    """Global unicast only: no private, loopback, link-local (cloud metadata), shared, reserved or multicast."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def address_allowed(ip: Address, allow: Sequence[Network] = ()) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return is_public(ip) or any(ip in net for net in allow if net.version == ip.version)


def refusal(ip: Address, where: str, allow_key: str = "allow_networks") -> str:
    return (f"{ip} is a private, loopback or link-local address: refused ({where} may only reach public "
            f"addresses; list the network in {allow_key} if it is meant)")


def origin(url: str) -> str:
    """'scheme://host:port' with the default port made explicit, lower-case; '' when not parseable."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return ""
    if not parts.hostname or port is None:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}:{port}"


def url_problem(url: str, *, allow: Sequence[Network] = (), where: str = "this URL",
                allow_key: str = "allow_networks") -> str | None:
    """What is wrong with fetching `url` as written, or None. Host names are checked again at connect time."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"{where} cannot be parsed"
    if parts.scheme.lower() not in DEFAULT_PORTS:
        return f"{where} is not an http(s) URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return (f"{where} carries a user name or password in the URL; credentials never travel in URLs "
                "(send them as headers from the environment: feeds.yaml headers_from_env)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return f"{where} has no host"
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: its addresses are checked when it is resolved
    if not address_allowed(ip, allow):
        return refusal(ip, where, allow_key)
    return None


class GuardedResolver(AbstractResolver):
    """A resolver that drops refused addresses, and refuses the host when none is left."""

    def __init__(self, allow: Sequence[Network] = (), inner: AbstractResolver | None = None):
        self.allow = tuple(allow)
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        kept = [r for r in found if address_allowed(ipaddress.ip_address(r["host"].split("%")[0]), self.allow)]
        if not kept:
            if not found:
                raise AddressRefused(f"{host} resolves to no address")
            first = ipaddress.ip_address(found[0]["host"].split("%")[0])
            raise AddressRefused(f"{host} resolves to {first}: " + refusal(first, "a fetch"))
        return kept

    async def close(self) -> None:
        await self.inner.close()


def refused_cause(exc: BaseException) -> AddressRefused | None:
    """The AddressRefused behind an aiohttp connection error, if that is what it was."""
    seen: set[int] = set()
    current: Any = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AddressRefused):
            return current
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return None
