"""Who owns a host: pure, shared by the operator (conditions, Events) and the gateway
(routing), so both reach the same answer from the same facts.

A host belongs to the AccessApplication that claimed it first. "First" is the
object's ``metadata.creationTimestamp``, which the API server sets and no tenant
can write; ties (the timestamp has one-second resolution) go to namespace, then
name, in order, so every replica agrees. The gateway's own host (its issuer: OIDC
discovery and keys live there) belongs to nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gatepass.contract import ObjectKey as AppKey


@dataclass(frozen=True)
class Claim:
    namespace: str
    name: str
    created: str  # metadata.creationTimestamp, RFC 3339 UTC ("2026-11-23T10:00:00Z")
    hosts: tuple[str, ...]

    @property
    def key(self) -> AppKey:
        return (self.namespace, self.name)


def normalize(host: str) -> str:
    """The form hosts are compared in: lowercase, no port, no trailing dot."""
    return host.split(":", 1)[0].lower().rstrip(".")


def destination(entry: str) -> str:
    """The form a ``spec.hosts`` entry (a host, perhaps with a path: routing/paths.py) is
    compared in: the host normalized, the path lowercase without empty segments or a
    trailing slash. Ownership is per destination: one application may own a host and
    another a path under it."""
    host, _, path = entry.partition("/")
    parts = [p.lower() for p in path.split("/") if p]
    return normalize(host) + "".join("/" + p for p in parts)


def host_of(dest: str) -> str:
    return dest.partition("/")[0]


def reserved_hosts(issuer: str) -> frozenset[str]:
    host = urlsplit(issuer).hostname
    return frozenset({normalize(host)} if host else set())


def claim_of(obj: Mapping[str, object]) -> Claim | None:
    """The claim an AccessApplication object makes, or None if it makes none readable."""
    meta = obj.get("metadata")
    spec = obj.get("spec")
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        return None
    hosts = spec.get("hosts")
    if not isinstance(hosts, list):
        return None
    return Claim(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        created=str(meta.get("creationTimestamp") or ""),
        hosts=tuple(destination(h) for h in hosts if isinstance(h, str)),
    )


def owners(claims: Iterable[Claim], reserved: frozenset[str] = frozenset()) -> dict[str, AppKey]:
    """destination -> the application that owns it. A host is one tenant's: the
    namespace that claimed a destination on it first holds every path under it, so no
    other namespace can take over a path of someone else's host (or the reverse). Any
    path on a reserved host is reserved."""
    out: dict[str, AppKey] = {}
    holder: dict[str, str] = {}  # host -> the namespace that holds it
    for claim in sorted(claims, key=lambda c: (c.created, c.namespace, c.name)):
        for dest in claim.hosts:
            host = host_of(dest)
            if host not in reserved and holder.setdefault(host, claim.namespace) == claim.namespace:
                out.setdefault(dest, claim.key)
    return out


@dataclass(frozen=True)
class Conflict:
    host: str  # the destination not granted
    owner_namespace: str | None  # None: the gateway's own host
    host_held: bool = False  # the host itself is another namespace's (not just this path)


def conflicts(claim: Claim, owned: Mapping[str, AppKey], reserved: frozenset[str]) -> list[Conflict]:
    """The destinations of ``claim`` it does not get, and who has each."""
    out = []
    for dest in claim.hosts:
        host = host_of(dest)
        if host in reserved:
            out.append(Conflict(dest, None))
        elif dest in owned:
            if owned[dest] != claim.key:
                out.append(Conflict(dest, owned[dest][0]))
        else:  # another namespace holds the host (rare: a scan is fine)
            holder = next((k[0] for d, k in owned.items() if host_of(d) == host), None)
            out.append(Conflict(dest, holder, host_held=True))
    return out


class HostIndex:
    """The claims of every application seen, kept current from watch events, so that
    ownership needs no API call. ``put`` returns the applications whose ownership
    may have changed (every claimant of a host the change touched)."""

    def __init__(self, reserved: frozenset[str] = frozenset()) -> None:
        self.reserved = reserved
        self.claims: dict[AppKey, Claim] = {}
        self.owned: dict[str, AppKey] = {}

    def put(self, key: AppKey, claim: Claim | None) -> set[AppKey]:
        old = self.claims.pop(key, None)
        if claim is not None:
            self.claims[key] = claim
        # Per host, not per destination: who holds a host decides every path under it.
        touched = {host_of(d) for d in (old.hosts if old else ())} | {
            host_of(d) for d in (claim.hosts if claim else ())
        }
        before = {d: k for d, k in self.owned.items() if host_of(d) in touched}
        self.owned = owners(self.claims.values(), self.reserved)
        after = {d: k for d, k in self.owned.items() if host_of(d) in touched}
        if before == after and old == claim:
            return set()
        return {k for k, c in self.claims.items() if touched & {host_of(d) for d in c.hosts}}

    def conflicts(self, key: AppKey) -> list[Conflict]:
        claim = self.claims.get(key)
        return conflicts(claim, self.owned, self.reserved) if claim else []
