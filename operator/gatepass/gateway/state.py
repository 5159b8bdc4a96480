"""The gateway's view of the cluster, kept by watches; read on every request.

Records are immutable; indexes change only between requests' awaits (one
event loop), so a request never sees half an update and no lock is needed.
"""

from __future__ import annotations

import hmac
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import ValidationError
from yarl import URL

from gatepass.contract import ObjectKey
from gatepass.decisions.policyrefs import Resolved, resolve
from gatepass.gateway.headers import AUTHORIZATION, CLIENT_SECRET_HEADER
from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.limits import Limit
from gatepass.gateway.refusals import Reason
from gatepass.models.accessapplication import (
    AccessApplication,
    Policy,
    PolicyEntry,
    SameSite,
    admits_service_accounts,
)
from gatepass.models.accesspolicy import AccessPolicy
from gatepass.models.servicetoken import ServiceToken
from gatepass.routing.hosts import Claim, destination, normalize, owners, route_hosts
from gatepass.routing.paths import Route, Routes, Segments
from gatepass.routing.upstreams import UpstreamPolicy
from gatepass.trust.credentials import secret_hash, session_tag
from gatepass.trust.seal import Fields, Freshness, Sealer, vouching
from gatepass.trust.signing import SigningKey

log = logging.getLogger(__name__)
# What the origin's assertion lives where the application keeps no session (sessionDuration
# 0): long enough for the origin to verify it, and never accepted back as a session.
NO_SESSION_ASSERTION = 60.0


def _epoch(t: datetime | None) -> float | None:
    return None if t is None else t.timestamp()


# Which of a token's secrets a request used: the current one, or the previous one
# during a rotation's grace period (reported apart: gateway/lastseen.py).
Version = Literal["current", "previous"]
CURRENT: Version = "current"
PREVIOUS: Version = "previous"


@dataclass(frozen=True)
class TokenRecord:
    namespace: str
    name: str
    client_id: str
    secret_hash: str = field(repr=False)
    enabled: bool = True
    inactive: bool = False  # deactivated for disuse (spec.inactivity), under the seal
    expires_at: float | None = None
    previous_hash: str | None = field(default=None, repr=False)
    previous_expires_at: float | None = None
    created: str = ""  # metadata.creationTimestamp: who keeps a duplicated Client ID
    rate_limit: Limit | None = None  # spec.rateLimit (gateway/limits.py)
    # What the operator's seal covers, and the seal: checked by State (it holds the key).
    sealed: Fields = field(default=(), repr=False)
    seal: str | None = field(default=None, repr=False)

    def _in_grace(self, now: float) -> bool:
        return self.previous_expires_at is not None and now < self.previous_expires_at

    def usable_at(self, now: float) -> Reason | None:
        """None if the token may be used now, else why not."""
        if not self.enabled:
            return Reason.TOKEN_DISABLED
        if self.inactive:
            return Reason.TOKEN_INACTIVE
        if self.expires_at is not None and now >= self.expires_at:
            return Reason.TOKEN_EXPIRED
        return None

    def secret_version(self, secret: str, now: float) -> Version | None:
        """Which of the token's secrets this is (the previous one only in its grace), or None."""
        digest = secret_hash(secret).encode()  # hashed once, compared in constant time
        if hmac.compare_digest(digest, self.secret_hash.encode()):
            return CURRENT
        previous = self.previous_hash if self._in_grace(now) else None
        if previous is not None and hmac.compare_digest(digest, previous.encode()):
            return PREVIOUS
        return None

    @cached_property
    def session_tag(self) -> str:
        """The tag sessions minted now carry (trust/credentials.py: session_tag)."""
        return session_tag(self.secret_hash)

    @cached_property
    def previous_session_tag(self) -> str | None:
        """The tag of sessions the previous secret mints during its grace."""
        return None if self.previous_hash is None else session_tag(self.previous_hash)

    def session_version(self, tag: str, now: float) -> Version | None:
        """Which secret minted a session, if it still works: a session lives only as long
        as that secret: rotation ends it with the grace period, a reissue or a rotation
        without grace at once."""
        if hmac.compare_digest(tag, self.session_tag):
            return CURRENT
        previous = self.previous_session_tag if self._in_grace(now) else None
        return PREVIOUS if previous is not None and hmac.compare_digest(tag, previous) else None


@dataclass(frozen=True)
class AppRecord:
    namespace: str
    name: str
    hosts: tuple[str, ...]
    upstream: URL
    session_seconds: float
    policies: list[Policy]
    uid: str = ""
    aud: str = ""  # derived from uid by State once it holds the seal key (trust/seal.py)
    upstream_refusal: str | None = None  # set by State when the upstream policy forbids it
    sessions_revoked_before: float | None = None
    created: str = ""  # metadata.creationTimestamp: who claimed a host first
    # Strict mode: credentials on every request; no session JWT accepted or set. None: the
    # application leaves it to the gateway's default, which State writes in (_served).
    strict: bool | None = False
    credentials_header: str | None = None  # one header with both credentials as JSON
    basic_auth: bool = False  # Authorization: Basic base64(clientId:clientSecret)
    token_rate_limit: Limit | None = None  # for tokens without their own spec.rateLimit
    admits_service_accounts: bool = False  # a policy names ServiceAccounts: bearer tokens are ours
    # Per policy (by index): its own sessionDuration in seconds, or None for the application's.
    policy_sessions: tuple[float | None, ...] = ()
    same_site: SameSite = "Lax"  # the CF_Authorization cookie's attributes
    http_only: bool = True
    path_scoped: bool = True
    # spec.policies as written, and the AccessPolicies it names (of its namespace): State
    # puts them in place (decisions/policyrefs.py); until then they match nobody.
    entries: tuple[PolicyEntry, ...] = ()
    refs: frozenset[str] = frozenset()

    def resolved(self, resolution: Resolved) -> AppRecord:
        """This application with its policyRefs put in place."""
        policies = list(resolution.policies)
        return replace(
            self,
            policies=policies,
            policy_sessions=_sessions(policies),
            admits_service_accounts=admits_service_accounts(policies),
        )

    @property
    def keeps_sessions(self) -> bool:
        """Whether a session JWT (cookie or cf-access-token) is accepted and a cookie set:
        not in strict mode, nor with sessionDuration 0 (credentials on every request)."""
        return not self.strict and self.session_seconds > 0

    def lifetime(self, policy: int | None) -> float:
        """What a JWT minted for a caller the policy at this index allowed lives: the
        policy's sessionDuration if it has one (Cloudflare's override), else the
        application's; a minute where the application keeps no session."""
        if self.session_seconds <= 0:
            return NO_SESSION_ASSERTION
        own = (
            self.policy_sessions[policy]
            if policy is not None and policy < len(self.policy_sessions)
            else None
        )
        return self.session_seconds if own is None else own

    @property
    def claim(self) -> Claim:
        return Claim(self.namespace, self.name, self.created, self.hosts)

    @cached_property
    def credential_headers(self) -> frozenset[str]:
        """Request headers that may carry this application's credentials, never passed to
        its origin: lowercase, ``_`` read as ``-`` (as the proxy compares them). Once per
        record, not per request."""
        names = {CLIENT_SECRET_HEADER.lower()}
        if self.credentials_header is not None:
            names.add(self.credentials_header.lower().replace("_", "-"))
        if self.basic_auth or self.admits_service_accounts:
            names.add(AUTHORIZATION.lower())
        return frozenset(names)


def _sessions(policies: list[Policy]) -> tuple[float | None, ...]:
    return tuple(None if (d := p.session) is None else d.total_seconds() for p in policies)


def token_record(obj: Mapping[str, Any]) -> TokenRecord | None:
    """A ServiceToken the gateway may check once State has verified its seal, or None
    (not issued yet, or unreadable)."""
    try:
        token = ServiceToken.model_validate(obj)
    except ValidationError:
        meta = obj.get("metadata") or {}
        log.warning("ignoring ServiceToken %s/%s: unreadable", meta.get("namespace"), meta.get("name"))
        return None
    meta, st = token.metadata, token.status
    if not st.client_id or not st.secret_hash:
        return None
    namespace = sys.intern(meta.namespace)  # one string per namespace, not one per token
    sealed, seal = vouching(meta.uid, namespace, meta.name, st)
    return TokenRecord(
        namespace=namespace,
        name=meta.name,
        client_id=st.client_id,
        secret_hash=st.secret_hash,
        enabled=token.spec.enabled,
        inactive=st.deactivated_at is not None,
        expires_at=_epoch(st.expires_at),
        previous_hash=st.previous_secret_hash,
        previous_expires_at=_epoch(st.previous_secret_expires_at),
        created=meta.creation_timestamp or "",
        rate_limit=Limit.of(token.spec.rate_limit),
        sealed=sealed,
        seal=seal,
    )


def app_record(obj: Mapping[str, Any]) -> AppRecord | None:
    """An AccessApplication the gateway can serve, or None (unreadable).

    Nothing in its status decides who gets what: ``aud`` is derived from the uid
    (State), ``sessionsRevokedBefore`` can only end this application's own sessions, and
    the hosts its routes gave (``routes``) are claimed as spec.hosts are: first come,
    per namespace (routing/hosts.py), so writing them gives nothing spec.hosts does not."""
    try:
        app = AccessApplication.model_validate(obj)
        session = app.spec.session.total_seconds()
        for p in app.spec.inline_policies:
            p.session  # noqa: B018 - an unreadable duration makes the whole object unreadable
        upstream = URL(app.spec.upstream)
    except (ValidationError, ValueError):
        meta = obj.get("metadata") or {}
        log.warning("ignoring AccessApplication %s/%s: invalid spec", meta.get("namespace"), meta.get("name"))
        return None
    meta = app.metadata
    if not meta.uid:
        return None
    return AppRecord(
        namespace=meta.namespace,
        name=meta.name,
        hosts=tuple(destination(h) for h in [*app.spec.hosts, *route_hosts(obj)]),
        upstream=upstream,
        session_seconds=session,
        policies=[],
        uid=meta.uid,
        sessions_revoked_before=_epoch(app.status.sessions_revoked_before),
        created=meta.creation_timestamp or "",
        strict=app.spec.strict_service_token_auth,
        credentials_header=app.spec.read_service_tokens_from_header,
        basic_auth=app.spec.allow_basic_auth,
        token_rate_limit=Limit.of(app.spec.token_rate_limit),
        same_site=app.spec.same_site,
        http_only=app.spec.http_only,
        path_scoped=app.spec.path_scoped,
        entries=tuple(app.spec.policies),
        refs=app.spec.policy_refs,
    ).resolved(resolve(app.spec.policies, {}))  # nothing referenced is known here


def policy_entry(obj: Mapping[str, Any]) -> Policy | None:
    """An AccessPolicy as applications evaluate it, or None: unreadable (it then matches
    nobody where named, as a missing one does)."""
    try:
        policy = AccessPolicy.model_validate(obj).policy
        policy.session  # noqa: B018 - parsed here: resolving must never raise (State.set_apps)
        return policy
    except (ValidationError, ValueError):
        meta = obj.get("metadata") or {}
        where = f"{meta.get('namespace')}/{meta.get('name')}"
        log.warning("AccessPolicy %s: invalid spec; matches nobody where named", where)
        return None


class State:
    """What the gateway knows, from its watches. ``reserved``: hosts no application
    may claim (the gateway's own, where its discovery documents and keys live).

    Tokens are served only when their seal verifies with the operator's key, and
    applications only once that key gives them their ``aud``: until the key is
    loaded nothing is served, and a new key re-checks everything."""

    def __init__(
        self,
        reserved: frozenset[str] = frozenset(),
        upstreams: UpstreamPolicy | None = None,
        strict: bool = False,
    ) -> None:
        self.reserved = reserved
        self.strict = strict  # strict mode where an application leaves it unset (GatewayConfig)
        self.upstreams = upstreams if upstreams is not None else UpstreamPolicy()
        self._refusals: dict[tuple[str, str], str | None] = {}  # (namespace, upstream) -> why not
        self.sealer: Sealer | None = None
        self.tokens: dict[ObjectKey, TokenRecord] = {}  # every issued token seen, sealed or not
        self.tokens_by_id: dict[str, TokenRecord] = {}  # the ones the operator vouches for
        self.freshness = Freshness()  # the newest sealed record seen per token: no replays
        self.apps: dict[ObjectKey, AppRecord] = {}
        self.claims: dict[ObjectKey, Claim] = {}
        self.routes: Routes[AppRecord] = Routes()
        self._auds: dict[str, str] = {}  # uid -> aud, for the current seal key
        # AccessPolicies by (namespace, name); None: one that does not parse.
        self.policies: dict[ObjectKey, Policy | None] = {}
        # Applications naming policies: (as watched, as resolved), and who names each policy,
        # so that a policy's change resolves only the applications naming it.
        self._resolved: dict[ObjectKey, tuple[AppRecord, AppRecord]] = {}
        self._naming: dict[ObjectKey, set[ObjectKey]] = {}
        self.keyring = KeyRing()

    # the seal key -------------------------------------------------------
    def set_sealer(self, sealer: Sealer | None) -> None:
        if (sealer and sealer.key_id) == (self.sealer and self.sealer.key_id):
            return
        self.sealer = sealer
        self._auds = {}
        self.set_tokens(self.tokens)
        self.set_apps(self.apps, self.claims)

    def _vouched(self, record: TokenRecord) -> bool:
        if self.sealer is not None and self.sealer.verify(record.sealed, record.seal):
            self.freshness.see((record.namespace, record.name), record.seal)
            return True
        if self.sealer is not None:
            log.warning(
                "ignoring ServiceToken %s/%s: its status is not sealed by the operator",
                record.namespace,
                record.name,
            )
        return False

    def _index(self, record: TokenRecord) -> None:
        """Index a vouched-for record by Client ID; an existing owner is never displaced."""
        holder = self.tokens_by_id.get(record.client_id)
        if holder is not None and (holder.namespace, holder.name) != (record.namespace, record.name):
            log.warning(
                "ServiceToken %s/%s has the Client ID of %s/%s: ignored",
                record.namespace,
                record.name,
                holder.namespace,
                holder.name,
            )
            return
        self.tokens_by_id[record.client_id] = record

    # tokens -------------------------------------------------------------
    def _replayed(self, record: TokenRecord) -> bool:
        """A record the operator sealed, older than one already seen for the token: written
        back by someone who kept it (to undo a rotation, an end of grace, a deactivation)."""
        key = (record.namespace, record.name)
        if not self.freshness.stale(key, record.seal):
            return False
        if self.sealer is None or not self.sealer.verify(record.sealed, record.seal):
            return False  # not vouched for at all: _vouched says so
        log.warning(
            "ignoring ServiceToken %s/%s: its status is an older sealed record written back;"
            " the newer one stays",
            record.namespace,
            record.name,
        )
        return True

    def put_token(self, key: ObjectKey, record: TokenRecord | None) -> None:
        if record is not None and self.tokens.get(key) == record:
            return  # the same token (a status write we do not read): the same record, whose
            # identity is what the gateway's minted-JWT reuse keys on (gateway/sessions.py)
        if record is not None and self._replayed(record):
            return
        old = self.tokens.pop(key, None)
        if old is not None and self.tokens_by_id.get(old.client_id) is old:
            del self.tokens_by_id[old.client_id]
        if record is not None:
            self.tokens[key] = record
            if self._vouched(record):
                self._index(record)
        else:
            self.freshness.forget(key)

    def held_token(self, record: TokenRecord) -> TokenRecord:
        """The record held for the same token if it equals ``record``, else ``record``. A
        listing again (after 410 Gone) finds nearly every token unchanged: taking the held
        record lets the listed one go at once, so the relist holds one record per token,
        not a second set beside the first (100,000 tokens: +130 MiB, bench/gateway_memory.py),
        and keeps the record whose identity minted-JWT reuse keys on (gateway/sessions.py)."""
        held = self.tokens.get((record.namespace, record.name))
        return held if held is not None and held == record else record

    def set_tokens(self, tokens: dict[ObjectKey, TokenRecord]) -> None:
        # A replayed record in a listing: the newer one held stays.
        tokens = {
            k: self.tokens[k] if k in self.tokens and self._replayed(r) else r for k, r in tokens.items()
        }
        self.freshness.retain(tokens.keys())
        self.tokens = tokens
        self.tokens_by_id = {}
        # Oldest first, so a duplicated Client ID stays with the token that had it first.
        for record in sorted(tokens.values(), key=lambda r: (r.created, r.namespace, r.name)):
            if self._vouched(record):
                self._index(record)

    # applications -------------------------------------------------------
    def put_app(self, key: ObjectKey, record: AppRecord | None, claim: Claim | None = None) -> None:
        """An application changed. ``claim``: its hosts even when it cannot be served,
        so that it keeps hosts it claimed first; default: the record's."""
        apps = {k: v for k, v in self.apps.items() if k != key}
        claims = {k: v for k, v in self.claims.items() if k != key}
        if record is not None:
            apps[key] = record
        claim = claim or (record.claim if record else None)
        if claim is not None:
            claims[key] = claim
        self.set_apps(apps, claims)

    def set_apps(
        self, apps: dict[ObjectKey, AppRecord], claims: dict[ObjectKey, Claim] | None = None
    ) -> None:
        self.apps = apps
        self.claims = claims if claims is not None else {k: r.claim for k, r in apps.items()}
        # Each host to the application that claimed it first (routing/hosts.py); the
        # operator reports the others as HostConflict from the same rule.
        owned = owners(self.claims.values(), self.reserved)
        self._index_refs()
        sealer = self.sealer
        if sealer is None:
            self.routes = Routes()
            return
        if len(self._auds) > 2 * len(apps) + 64:  # forget deleted applications now and then
            self._auds = {a.uid: self._auds[a.uid] for a in apps.values() if a.uid in self._auds}
        served = {key: self._served(key, apps[key], sealer) for key in set(owned.values()) if key in apps}
        self.routes = Routes((dest, served[key]) for dest, key in owned.items() if key in served)

    def _served(self, key: ObjectKey, app: AppRecord, sealer: Sealer) -> AppRecord:
        if app.refs:
            app = self._resolve(key, app)
        aud = self._auds.get(app.uid)
        if aud is None:
            aud = self._auds[app.uid] = sealer.aud(app.uid)
        where = (app.namespace, str(app.upstream))
        if where not in self._refusals:
            if len(self._refusals) > 4 * len(self.apps) + 64:
                self._refusals = {}
            self._refusals[where] = self.upstreams.refusal(str(app.upstream), app.namespace)
        refusal = self._refusals[where]
        strict = self.strict if app.strict is None else app.strict
        if (app.aud, app.upstream_refusal, app.strict) == (aud, refusal, strict):
            return app
        return replace(app, aud=aud, upstream_refusal=refusal, strict=strict)

    # reusable policies ---------------------------------------------------
    def _index_refs(self) -> None:
        naming: dict[ObjectKey, set[ObjectKey]] = {}
        for key, app in self.apps.items():
            for ref in app.refs:
                naming.setdefault((app.namespace, ref), set()).add(key)
        self._naming = naming
        for gone in self._resolved.keys() - self.apps.keys():
            del self._resolved[gone]

    def _resolve(self, key: ObjectKey, app: AppRecord) -> AppRecord:
        """The application with the AccessPolicies of its namespace in place, resolved
        once per change of the application or of a policy it names."""
        held = self._resolved.get(key)
        if held is not None and held[0] is app:
            return held[1]
        where = app.namespace  # only its own namespace's: a ref has no namespace
        found = {ref: self.policies[(where, ref)] for ref in app.refs if (where, ref) in self.policies}
        resolved = app.resolved(resolve(app.entries, found))
        self._resolved[key] = (app, resolved)
        return resolved

    def put_policy(self, key: ObjectKey, policy: Policy | None, *, deleted: bool = False) -> None:
        """An AccessPolicy changed (None: unreadable); only the applications naming it
        are resolved again."""
        if deleted:
            if key not in self.policies:
                return
            del self.policies[key]
        else:
            if key in self.policies and self.policies[key] == policy:
                return  # a change that changes nothing evaluated (metadata, status)
            self.policies[key] = policy
        self._refresh(self._naming.get(key, set()))

    def set_policies(self, policies: dict[ObjectKey, Policy | None]) -> None:
        old = self.policies
        changed = {
            k
            for k in old.keys() | policies.keys()
            if (k in old, old.get(k)) != (k in policies, policies.get(k))
        }
        self.policies = policies
        self._refresh(set().union(*(self._naming.get(k, set()) for k in changed)))

    def _refresh(self, apps: set[ObjectKey]) -> None:
        for key in apps:
            self._resolved.pop(key, None)
        if apps:
            self.set_apps(self.apps, self.claims)

    def route(
        self, host: str, path: Segments = (), folded: Segments | None = None
    ) -> Route[AppRecord] | None:
        """The application for a request: the most specific destination covering its
        host and ``path``; AmbiguousPath when the ``folded`` reading finds another
        (routing/paths.py). Never on the gateway's own host, whatever wildcard covers it."""
        if self.reserved and normalize(host) in self.reserved:
            return None
        return self.routes.match(host, path, folded)

    # signing keys -------------------------------------------------------
    def set_keys(self, keys: list[SigningKey]) -> None:
        self.keyring.set(keys)

    @property
    def keys(self) -> list[SigningKey]:
        return self.keyring.keys

    @property
    def signing_key(self) -> SigningKey | None:
        return self.keyring.signing
