"""Who owns a host: pure, shared by the operator (conditions, Events) and the gateway
(routing), so both reach the same answer from the same facts.

A host belongs to the AccessApplication that claimed it first. "First" is the
object's ``metadata.creationTimestamp``, which the API server sets and no tenant
can write; ties (the timestamp has one-second resolution) go to namespace, then
name, in order, so every replica agrees. The gateway's own host (its issuer: OIDC
discovery and keys live there) belongs to nobody.

A host may be a pattern (``*.example.com``: routing/patterns.py). A namespace holds
every host its patterns cover, so a claim is refused when it overlaps a host or pattern
another namespace claimed earlier: a wildcard never takes an exact host (or a path on
it) that is someone else's, nor the reverse. Overlaps exist only between hosts of the
same suffix, so they are found by a look-up, not a scan of every claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gatepass.contract import ObjectKey
from gatepass.routing.patterns import WILDCARD, hosts_overlap, suffix


@dataclass(frozen=True)
class Claim:
    namespace: str
    name: str
    created: str  # metadata.creationTimestamp, RFC 3339 UTC ("2026-11-23T10:00:00Z")
    hosts: tuple[str, ...]

    @property
    def key(self) -> ObjectKey:
        return (self.namespace, self.name)


def normalize(host: str) -> str:
    """The form hosts are compared in: lowercase, no port, no trailing dot."""
    return host.split(":", 1)[0].lower().rstrip(".")


def destination(entry: str) -> str:
    """The form a ``spec.hosts`` entry (a host, perhaps with a path: routing/paths.py) is
    compared in: the host normalized, the path lowercase without empty segments or a
    trailing slash. Ownership is per destination: one application may own a host and
    another a path under it. A path of just ``*`` is the whole host, as Cloudflare's."""
    host, _, path = entry.partition("/")
    parts = [p.lower() for p in path.split("/") if p]
    if parts == [WILDCARD]:
        parts = []
    return normalize(host) + "".join("/" + p for p in parts)


def host_of(dest: str) -> str:
    return dest.partition("/")[0]


def reserved_hosts(issuer: str) -> frozenset[str]:
    host = urlsplit(issuer).hostname
    return frozenset({normalize(host)} if host else set())


# status.routes, as the CRD bounds it: what is read of it, whatever was written.
MAX_ROUTES = 16
MAX_ROUTE_HOSTS = 64


def route_hosts(obj: Mapping[str, object]) -> list[str]:
    """The destinations an AccessApplication's status says its targetRefs gave
    (``status.routes[].hosts``, decisions/httproute.py), as written. Status is often
    writable by the tenant too: these are claimed exactly as spec.hosts are (same
    ownership, same checks), so writing them gives nothing spec.hosts does not."""
    status = obj.get("status")
    routes = status.get("routes") if isinstance(status, Mapping) else None
    if not isinstance(routes, list):
        return []
    out: list[str] = []
    for route in routes[:MAX_ROUTES]:
        hosts = route.get("hosts") if isinstance(route, Mapping) else None
        if isinstance(hosts, list):
            out.extend(h for h in hosts if isinstance(h, str))
    return out[:MAX_ROUTE_HOSTS]


def claim_of(obj: Mapping[str, object]) -> Claim | None:
    """The claim an AccessApplication object makes, or None if it makes none readable:
    spec.hosts, and the hosts its routes gave (:func:`route_hosts`)."""
    meta = obj.get("metadata")
    spec = obj.get("spec")
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        return None
    hosts = spec.get("hosts", [])
    if not isinstance(hosts, list):
        return None
    return Claim(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        created=str(meta.get("creationTimestamp") or ""),
        hosts=tuple(destination(h) for h in [*hosts, *route_hosts(obj)] if isinstance(h, str)),
    )


class _Holders:
    """Which namespace holds each host or host pattern. An exact host can only overlap
    a pattern of its suffix (few), a pattern any host of its suffix."""

    def __init__(self) -> None:
        self.holder: dict[str, str] = {}
        self.exact: dict[str, list[str]] = {}  # suffix -> exact hosts held
        self.patterns: dict[str, list[str]] = {}  # suffix -> patterns held

    def take(self, host: str, namespace: str) -> bool:
        """Hold ``host`` for ``namespace`` unless another namespace holds one overlapping it."""
        held = self.holder.get(host)
        if held is not None:
            return held == namespace
        key, wild = suffix(host), WILDCARD in host
        rivals = self.patterns.get(key, [])
        if wild:
            rivals = rivals + self.exact.get(key, [])
        if any(self.holder[h] != namespace and hosts_overlap(h, host) for h in rivals):
            return False
        self.holder[host] = namespace
        (self.patterns if wild else self.exact).setdefault(key, []).append(host)
        return True


def owners(claims: Iterable[Claim], reserved: frozenset[str] = frozenset()) -> dict[str, ObjectKey]:
    """destination -> the application that owns it. A host is one tenant's: the
    namespace that claimed a destination on it (or on a pattern covering it) first holds
    every path under it, so no other namespace can take over a path of someone else's
    host, nor cover it with a wildcard (or the reverse). Any path on a reserved host is
    reserved; a pattern covering one is not, but the gateway never routes that host."""
    out: dict[str, ObjectKey] = {}
    holders = _Holders()
    for claim in sorted(claims, key=lambda c: (c.created, c.namespace, c.name)):
        for dest in claim.hosts:
            host = host_of(dest)
            if host not in reserved and holders.take(host, claim.namespace):
                out.setdefault(dest, claim.key)
    return out


@dataclass(frozen=True)
class Conflict:
    host: str  # the destination not granted
    owner_namespace: str | None  # None: the gateway's own host
    host_held: bool = False  # the host itself is another namespace's (not just this path)


def conflicts(claim: Claim, owned: Mapping[str, ObjectKey], reserved: frozenset[str]) -> list[Conflict]:
    """The destinations of ``claim`` it does not get, and who has each."""
    out = []
    for dest in claim.hosts:
        host = host_of(dest)
        if host in reserved:
            out.append(Conflict(dest, None))
        elif dest in owned:
            if owned[dest] != claim.key:
                out.append(Conflict(dest, owned[dest][0]))
        else:  # another namespace holds the host or an overlapping one (rare: a scan is fine)
            rivals = (k[0] for d, k in owned.items() if hosts_overlap(host_of(d), host))
            holder = next((ns for ns in rivals if ns != claim.namespace), None)
            out.append(Conflict(dest, holder, host_held=True))
    return out


def _group(dest: str) -> str:
    return suffix(host_of(dest))


class HostIndex:
    """The claims of every application seen, kept current from watch events, so that
    ownership needs no API call. ``put`` returns the applications whose ownership
    may have changed (every claimant of a host the change touched)."""

    def __init__(self, reserved: frozenset[str] = frozenset()) -> None:
        self.reserved = reserved
        self.claims: dict[ObjectKey, Claim] = {}
        self.owned: dict[str, ObjectKey] = {}

    def put(self, key: ObjectKey, claim: Claim | None) -> set[ObjectKey]:
        old = self.claims.pop(key, None)
        if claim is not None:
            self.claims[key] = claim
        # Per suffix, not per destination: who holds a host decides every path under it,
        # and only hosts of one suffix can overlap (routing/patterns.py).
        touched = {_group(d) for d in (old.hosts if old else ())} | {
            _group(d) for d in (claim.hosts if claim else ())
        }
        before = {d: k for d, k in self.owned.items() if _group(d) in touched}
        self.owned = owners(self.claims.values(), self.reserved)
        after = {d: k for d, k in self.owned.items() if _group(d) in touched}
        if before == after and old == claim:
            return set()
        return {k for k, c in self.claims.items() if touched & {_group(d) for d in c.hosts}}

    def conflicts(self, key: ObjectKey) -> list[Conflict]:
        claim = self.claims.get(key)
        return conflicts(claim, self.owned, self.reserved) if claim else []
