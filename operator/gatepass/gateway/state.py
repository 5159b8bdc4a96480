"""The gateway's view of the cluster, kept by watches; read on every request.

Records are immutable; indexes change only between requests' awaits (one
event loop), so a request never sees half an update and no lock is needed.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from yarl import URL

from gatepass.models.accessapplication import AccessApplicationSpec, AccessApplicationStatus, Policy
from gatepass.models.servicetoken import ServiceTokenStatus
from gatepass.signing import SigningKey
from gatepass.tokens.credentials import secret_hash
from gatepass.tokens.hosts import Claim, normalize, owners

log = logging.getLogger(__name__)
Key = tuple[str, str]


def _epoch(t: datetime | None) -> float | None:
    return None if t is None else t.timestamp()


@dataclass(frozen=True)
class TokenRecord:
    namespace: str
    name: str
    client_id: str
    secret_hash: str = field(repr=False)
    enabled: bool = True
    expires_at: float | None = None
    previous_hash: str | None = field(default=None, repr=False)
    previous_expires_at: float | None = None

    def usable_at(self, now: float) -> str | None:
        """None if the token may be used now, else why not."""
        if not self.enabled:
            return "token_disabled"
        if self.expires_at is not None and now >= self.expires_at:
            return "token_expired"
        return None

    def secret_matches(self, secret: str, now: float) -> bool:
        digest = secret_hash(secret).encode()  # hashed once, compared in constant time
        in_grace = self.previous_expires_at is not None and now < self.previous_expires_at
        previous = self.previous_hash if in_grace else None
        return hmac.compare_digest(digest, self.secret_hash.encode()) or (
            previous is not None and hmac.compare_digest(digest, previous.encode())
        )


@dataclass(frozen=True)
class AppRecord:
    namespace: str
    name: str
    hosts: tuple[str, ...]
    upstream: URL
    session_seconds: float
    policies: list[Policy]
    aud: str
    sessions_revoked_before: float | None = None
    created: str = ""  # metadata.creationTimestamp: who claimed a host first

    @property
    def claim(self) -> Claim:
        return Claim(self.namespace, self.name, self.created, self.hosts)


def token_record(obj: dict[str, Any]) -> TokenRecord | None:
    """A ServiceToken the gateway can check, or None (not issued yet, or unreadable)."""
    meta = obj.get("metadata") or {}
    try:
        st = ServiceTokenStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        log.warning("ignoring ServiceToken %s/%s: unreadable status", meta.get("namespace"), meta.get("name"))
        return None
    if not st.client_id or not st.secret_hash:
        return None
    return TokenRecord(
        namespace=meta["namespace"],
        name=meta["name"],
        client_id=st.client_id,
        secret_hash=st.secret_hash,
        enabled=(obj.get("spec") or {}).get("enabled", True) is not False,
        expires_at=_epoch(st.expires_at),
        previous_hash=st.previous_secret_hash,
        previous_expires_at=_epoch(st.previous_secret_expires_at),
    )


def app_record(obj: dict[str, Any]) -> AppRecord | None:
    """An AccessApplication the gateway can serve, or None (no aud yet, or unreadable)."""
    meta = obj.get("metadata") or {}
    try:
        spec = AccessApplicationSpec.model_validate(obj.get("spec") or {})
        st = AccessApplicationStatus.model_validate(obj.get("status") or {})
        session = spec.session.total_seconds()
        upstream = URL(spec.upstream)
    except (ValidationError, ValueError):
        log.warning("ignoring AccessApplication %s/%s: invalid spec", meta.get("namespace"), meta.get("name"))
        return None
    if not st.aud:
        return None
    return AppRecord(
        namespace=meta["namespace"],
        name=meta["name"],
        hosts=tuple(normalize(h) for h in spec.hosts),
        upstream=upstream,
        session_seconds=session,
        policies=spec.policies,
        aud=st.aud,
        sessions_revoked_before=_epoch(st.sessions_revoked_before),
        created=str(meta.get("creationTimestamp") or ""),
    )


class State:
    """What the gateway knows, from its watches. ``reserved``: hosts no application
    may claim (the gateway's own, where its discovery documents and keys live)."""

    def __init__(self, reserved: frozenset[str] = frozenset()) -> None:
        self.reserved = reserved
        self.tokens: dict[Key, TokenRecord] = {}
        self.tokens_by_id: dict[str, TokenRecord] = {}
        self.apps: dict[Key, AppRecord] = {}
        self.claims: dict[Key, Claim] = {}
        self.apps_by_host: dict[str, AppRecord] = {}
        self.keys: list[SigningKey] = []
        self.keys_by_kid: dict[str, SigningKey] = {}

    # tokens -------------------------------------------------------------
    def put_token(self, key: Key, record: TokenRecord | None) -> None:
        old = self.tokens.pop(key, None)
        if old is not None and self.tokens_by_id.get(old.client_id) is old:
            del self.tokens_by_id[old.client_id]
        if record is not None:
            self.tokens[key] = record
            self.tokens_by_id[record.client_id] = record

    def set_tokens(self, tokens: dict[Key, TokenRecord]) -> None:
        self.tokens = tokens
        self.tokens_by_id = {t.client_id: t for t in tokens.values()}

    # applications -------------------------------------------------------
    def put_app(self, key: Key, record: AppRecord | None, claim: Claim | None = None) -> None:
        """An application changed. ``claim``: its hosts even when it cannot be served
        (no aud yet), so that it keeps hosts it claimed first; default: the record's."""
        apps = {k: v for k, v in self.apps.items() if k != key}
        claims = {k: v for k, v in self.claims.items() if k != key}
        if record is not None:
            apps[key] = record
        claim = claim or (record.claim if record else None)
        if claim is not None:
            claims[key] = claim
        self.set_apps(apps, claims)

    def set_apps(self, apps: dict[Key, AppRecord], claims: dict[Key, Claim] | None = None) -> None:
        self.apps = apps
        self.claims = claims if claims is not None else {k: r.claim for k, r in apps.items()}
        # Each host to the application that claimed it first (tokens/hosts.py); the
        # operator reports the others as HostConflict from the same rule.
        owned = owners(self.claims.values(), self.reserved)
        self.apps_by_host = {host: apps[key] for host, key in owned.items() if key in apps}

    def app_for_host(self, host: str) -> AppRecord | None:
        return self.apps_by_host.get(normalize(host))

    # signing keys -------------------------------------------------------
    def set_keys(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.keys_by_kid = {k.kid: k for k in keys}

    @property
    def signing_key(self) -> SigningKey | None:
        return self.keys[0] if self.keys else None
