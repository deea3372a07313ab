"""The caller's network address: the TCP peer, unless the peer is a configured reverse proxy.

``X-Forwarded-For`` is a claim anyone can send. It is believed only hop by hop from the right: while the address
at hand (first the peer, then each hop the proxies appended) lies in ``ZHILI_TRUSTED_PROXIES``, the next address to
the left is what that proxy saw. The first untrusted address is the client; whatever a client wrote further left is
ignored. With no trusted proxies (the default) the header is never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "192.0.2.1", "::1"]`` → networks (a bare address is a one-address network)."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(entries)


def trusted_networks() -> tuple[Network, ...]:
    """The configured proxies (``ZHILI_TRUSTED_PROXIES``), parsed once per distinct setting."""
    from zhili.core.settings import get_settings

    return _networks(tuple(get_settings().trusted_proxies))


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]) -> bool:
    return any(addr.version == n.version and addr in n for n in networks)


def client_address(peer: str | None, forwarded_for: str | None, networks: tuple[Network, ...]) -> str | None:
    """The client's address given the TCP ``peer``, the ``X-Forwarded-For`` header and the trusted proxies."""
    if not networks or not forwarded_for or peer is None:
        return peer
    current = _ip(peer)
    if current is None or not _trusted(current, networks):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        addr = _ip(hop)
        if addr is None:  # garbage in the chain: stop at the last hop a trusted proxy vouched for
            return str(current)
        current = addr
        if not _trusted(addr, networks):
            return str(addr)
    return str(current)  # every hop is a trusted proxy: the leftmost is the client
