"""X-Forwarded-For is believed only from a trusted proxy."""

from __future__ import annotations

from ipaddress import ip_network

from scifikpi_common.network import client_ip

PROXIES = [ip_network("10.0.0.0/8"), ip_network("::1/128")]


def test_forwarded_for_from_a_trusted_proxy_takes_the_first_entry() -> None:
    assert client_ip("10.1.2.3", "198.51.100.7, 10.9.9.9", PROXIES) == "198.51.100.7"
    assert client_ip("::1", "2001:db8::1", PROXIES) == "2001:db8::1"


def test_forwarded_for_from_anyone_else_is_ignored() -> None:
    assert client_ip("203.0.113.7", "198.51.100.7", PROXIES) == "203.0.113.7"


def test_garbage_or_nothing_forwarded_counts_the_peer() -> None:
    assert client_ip("10.1.2.3", "garbage", PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", None, PROXIES) == "10.1.2.3"
    assert client_ip(None, "198.51.100.7", PROXIES) is None
    assert client_ip("not-an-ip", None, PROXIES) == "not-an-ip"
