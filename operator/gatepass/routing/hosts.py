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
        hosts=tuple(normalize(h) for h in hosts if isinstance(h, str)),
    )


def owners(claims: Iterable[Claim], reserved: frozenset[str] = frozenset()) -> dict[str, AppKey]:
    """host -> the application that owns it."""
    out: dict[str, AppKey] = {}
    for claim in sorted(claims, key=lambda c: (c.created, c.namespace, c.name)):
        for host in claim.hosts:
            if host not in reserved:
                out.setdefault(host, claim.key)
    return out


@dataclass(frozen=True)
class Conflict:
    host: str
    owner_namespace: str | None  # None: the gateway's own host


def conflicts(claim: Claim, owned: Mapping[str, AppKey], reserved: frozenset[str]) -> list[Conflict]:
    """The hosts of ``claim`` it does not get, and who has each."""
    out = []
    for host in claim.hosts:
        if host in reserved:
            out.append(Conflict(host, None))
        elif owned.get(host, claim.key) != claim.key:
            out.append(Conflict(host, owned[host][0]))
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
        touched = set(old.hosts if old else ()) | set(claim.hosts if claim else ())
        before = {h: self.owned.get(h) for h in touched}
        self.owned = owners(self.claims.values(), self.reserved)
        if all(self.owned.get(h) == before[h] for h in touched) and old == claim:
            return set()
        return {k for k, c in self.claims.items() if touched & set(c.hosts)}

    def conflicts(self, key: AppKey) -> list[Conflict]:
        claim = self.claims.get(key)
        return conflicts(claim, self.owned, self.reserved) if claim else []
