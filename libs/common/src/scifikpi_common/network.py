"""Where a request came from, when it may have passed through our own proxies (the gateway, an
ingress): what rate limits count and what a provider's source-address allowlist is checked on."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address


def client_ip(
    peer: str | None,
    forwarded_for: str | None,
    trusted_proxies: Sequence[IPv4Network | IPv6Network],
) -> str | None:
    """The first X-Forwarded-For entry when the peer is a trusted proxy, else the peer."""
    if peer is None:
        return None
    try:
        peer_ip = ip_address(peer)
    except ValueError:
        return peer
    if forwarded_for and any(peer_ip in net for net in trusted_proxies):
        first = forwarded_for.split(",")[0].strip()
        try:
            return str(ip_address(first))
        except ValueError:
            pass  # garbage from the proxy: judge the proxy itself
    return str(peer_ip)
