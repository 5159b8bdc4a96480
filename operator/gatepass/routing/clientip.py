"""Which address a request comes from, for IP rules and get-identity.

The connection's peer, unless that peer is a proxy the cluster admin configured as
trusted: then ``X-Forwarded-For`` is read from the right (each trusted proxy appends
the address it saw), skipping trusted proxies, and the first address that is not one
is the client. Whatever a client writes further left is never read, so a client cannot
choose its address by sending the header itself. With no trusted proxy configured (the
default) the header is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Annotated

from pydantic import AfterValidator

from gatepass.contract import CommaList

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class MalformedForwardedFor(ValueError):
    """An X-Forwarded-For entry where a trusted proxy should have written an address."""


def address(text: str) -> Address:
    """An address, IPv4-mapped IPv6 (``::ffff:10.0.0.1``) read as the IPv4 it is."""
    parsed = ip_address(text.strip().removeprefix("[").removesuffix("]"))
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def networks(ranges: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (a bare address is its own /32 or /128); host bits set are tolerated."""
    return tuple(ip_network(r.strip(), strict=False) for r in ranges)


def checked(ranges: list[str]) -> list[str]:
    """A setting's ranges, refused at start (naming the setting) when one does not parse."""
    networks(ranges)
    return ranges


# GATEPASS_TRUSTED_PROXIES, in the operator (passed on) and the gateway (used).
TrustedProxies = Annotated[CommaList, AfterValidator(checked)]


def trusted(addr: Address, proxies: Sequence[Network]) -> bool:
    return any(addr in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> Address | None:
    """The client's address; None when the connection has none (a Unix socket).
    ``forwarded_for``: every X-Forwarded-For header line, in order."""
    if not peer:
        return None
    try:
        current = address(peer)
    except ValueError:
        return None
    if not proxies:
        return current
    hops = [h for line in forwarded_for for h in line.split(",")]
    while trusted(current, proxies) and hops:
        hop = hops.pop().strip()
        try:
            current = address(hop)
        except ValueError:
            raise MalformedForwardedFor from None  # never echo what a client wrote
    return current
