"""Which address a request comes from: the peer, or X-Forwarded-For behind trusted proxies."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from gatepass.routing.clientip import MalformedForwardedFor, Network, client_address, networks

PROXIES = networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "xff", "proxies", "expected"),
    [
        ("203.0.113.9", [], (), "203.0.113.9"),
        # No trusted proxy configured: the header is the client's own words, never read.
        ("203.0.113.9", ["198.51.100.1"], (), "203.0.113.9"),
        # A peer that is not a trusted proxy: same, whatever proxies are configured.
        ("203.0.113.9", ["10.1.1.1"], PROXIES, "203.0.113.9"),
        # Behind a trusted proxy: the address it appended.
        ("10.0.0.5", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        # A client that writes its own header gets it kept on the left, never read.
        ("10.0.0.5", ["10.9.9.9, 198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.5", ["forged", "198.51.100.1"], PROXIES, "198.51.100.1"),
        # Two trusted hops: skipped from the right.
        ("10.0.0.5", ["198.51.100.1, 10.0.0.7"], PROXIES, "198.51.100.1"),
        # Every hop trusted: the leftmost is as far as anyone vouches.
        ("10.0.0.5", ["10.0.0.8"], PROXIES, "10.0.0.8"),
        ("10.0.0.5", [], PROXIES, "10.0.0.5"),
        # IPv4-mapped IPv6 peers (dual-stack sockets) are the IPv4 they are.
        ("::ffff:10.0.0.5", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("fd00::1", ["[2001:db8::7]"], PROXIES, "2001:db8::7"),
    ],
)
def test_client_address(peer: str, xff: list[str], proxies: tuple[Network, ...], expected: str) -> None:
    assert client_address(peer, xff, proxies) == ip_address(expected)


def test_no_peer_no_address() -> None:
    assert client_address(None, ["198.51.100.1"], PROXIES) is None


def test_garbage_where_a_trusted_proxy_should_have_written_is_refused() -> None:
    with pytest.raises(MalformedForwardedFor) as err:
        client_address("10.0.0.5", ["198.51.100.1, secret-looking-garbage"], PROXIES)
    assert "garbage" not in str(err.value)  # what a client wrote is never echoed
