"""Who is on the other end: the client's address and whether it came over HTTPS, trusting only configured proxies.

X-Forwarded-For and X-Forwarded-Proto are believed only from an address in service.yaml
`http.trusted_proxies`; from anyone else they are the client's own words, and ignored. Behind a
chain of proxies the client is the right-most address that is not itself a trusted proxy.
"""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from alerts.security.netguard import Network, networks


@functools.lru_cache(maxsize=16)
def _networks(items: tuple[str, ...]) -> tuple[Network, ...]:
    return networks(items)


def _within(address: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in n for n in nets if n.version == ip.version)


def _via_trusted_proxy(request: web.Request, trusted: tuple[str, ...]) -> tuple[Network, ...] | None:
    nets = _networks(trusted)
    return nets if nets and _within(request.remote or "", nets) else None


def client_address(request: web.Request, trusted: tuple[str, ...] | list[str]) -> str:
    """The client's address as far as it can be known."""
    remote = request.remote or "unknown"
    nets = _via_trusted_proxy(request, tuple(trusted))
    if nets is None:
        return remote
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, nets):
            try:
                return str(ipaddress.ip_address(hop.strip("[]")))
            except ValueError:
                return "unknown"  # a proxy passed on garbage: not an address to throttle or log as someone
    return hops[0] if hops else remote


def is_https(request: web.Request, trusted: tuple[str, ...] | list[str]) -> bool:
    """HTTPS to us directly, or to a trusted proxy that says so in X-Forwarded-Proto."""
    if request.secure:
        return True
    if _via_trusted_proxy(request, tuple(trusted)) is None:
        return False
    protos = ",".join(request.headers.getall("X-Forwarded-Proto", [])).split(",")
    return protos[-1].strip().lower() == "https"
