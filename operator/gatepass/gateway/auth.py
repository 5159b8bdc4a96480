"""Admit one request, in three steps:

1. :func:`identify` — who is calling: a service token by its Client ID and
   Secret (two headers; or, where the application allows, one JSON header or
   Basic auth), or by a session JWT (``cf-access-token`` header or cookie; never
   in strict mode); where the application's policies name ServiceAccounts, a pod
   by its projected ServiceAccount token for this application (``Authorization:
   Bearer``, or ``cf-access-token`` when it is not one of our JWTs;
   gateway/workload.py); or nobody. Whichever forms an application reads, none
   reaches any origin (gateway/strip.py);
2. :func:`authorize` — what the application's policies say about that caller;
3. :func:`session` — the JWT the origin gets: the one presented, or a new one
   minted for credentials.

401: credentials missing, malformed, duplicated, half-present, wrong, or of a
     deleted/disabled/expired token; a JWT that does not verify, or minted with a
     Client Secret that no longer works.
403: credentials authenticate, but no policy allows (or a deny policy matches).
Presented credentials that fail are refused even on a bypass application:
a client sending a wrong secret is told so.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from gatepass.decisions.policy import Identity, evaluate
from gatepass.gateway.headers import (
    AUTHORIZATION,
    CLIENT_ID_HEADER,
    CLIENT_SECRET_HEADER,
    COOKIE,
    COOKIE_HEADER,
    JSON_CLIENT_ID,
    JSON_CLIENT_SECRET,
    TOKEN_HEADER,
)
from gatepass.gateway.limits import Limits
from gatepass.gateway.sessions import InvalidSession, Sessions
from gatepass.gateway.state import PREVIOUS, AppRecord, TokenRecord
from gatepass.gateway.workload import Workload, WorkloadTokens
from gatepass.routing.clientip import Address
from gatepass.trust.credentials import is_client_id, is_client_secret


class Headers(Protocol):
    def getall(self, key: str, default: list[str]) -> list[str]: ...


@dataclass(frozen=True)
class Outcome:
    status: int  # 200 allowed, else the error status
    reason: str  # short code: for the body, logs and metrics
    assertion: str | None = None  # the JWT for the origin (None on bypass)
    minted_exp: float | None = None  # set when a new JWT was minted (send the cookie)
    identity: Identity | None = None
    policy: str = ""
    retry_after: float | None = None  # 429: seconds until the token's bucket has a request
    previous_secret: bool = False  # admitted by the previous secret (rotation grace)
    session_iat: float | None = None  # admitted by a session JWT: when it was minted

    @property
    def allowed(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Caller:
    """Who a request comes from. ``session``: the JWT it presented (reused as the
    assertion); None when it presented credentials (a JWT is minted) or nothing."""

    token: TokenRecord | None = None
    session: str | None = None
    issued_at: float | None = None  # the presented session's iat
    ignored_session: bool = False  # strict mode: a session JWT came, and does not count
    workload: Workload | None = None  # a pod, by its ServiceAccount token (token is then None)
    previous_secret: bool = False  # the previous secret, or a session it minted (grace)

    @property
    def identity(self) -> Identity | None:
        t, w = self.token, self.workload
        if w is not None:
            return Identity(w.namespace, w.name, w.subject, service_account=True, pod=w.pod)
        return None if t is None else Identity(t.namespace, t.name, t.client_id)


def _one(headers: Headers, name: str) -> tuple[str | None, bool]:
    """The header's single value, and whether it was sent more than once."""
    values = headers.getall(name, [])
    return (values[0] if len(values) == 1 else None), len(values) > 1


Presented = tuple[str, str] | Outcome | None  # (Client ID, Secret), a refusal, or nothing


def _header_pair(headers: Headers) -> Presented:
    """``CF-Access-Client-Id`` and ``CF-Access-Client-Secret``."""
    client_id, dup_id = _one(headers, CLIENT_ID_HEADER)
    client_secret, dup_secret = _one(headers, CLIENT_SECRET_HEADER)
    if dup_id or dup_secret:
        return Outcome(401, "duplicate_credentials")
    if client_id is None or client_secret is None:
        return None if client_id == client_secret else Outcome(401, "incomplete_credentials")
    return client_id, client_secret


def _json_header(headers: Headers, name: str) -> Presented:
    """One header holding ``{"cf-access-client-id": ..., "cf-access-client-secret": ...}``."""
    value, dup = _one(headers, name)
    if dup:
        return Outcome(401, "duplicate_credentials")
    if value is None:
        return None
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
        return Outcome(401, "malformed_credentials")
    pair = (doc.get(JSON_CLIENT_ID), doc.get(JSON_CLIENT_SECRET)) if isinstance(doc, dict) else None
    if pair is None or not all(isinstance(v, str) for v in pair):
        return Outcome(401, "malformed_credentials")
    return str(pair[0]), str(pair[1])


def _basic(headers: Headers) -> Presented:
    """``Authorization: Basic base64(clientId:clientSecret)``; other schemes are not ours."""
    values = headers.getall(AUTHORIZATION, [])
    basic = [v for v in values if v[:6].lower() == "basic "]
    if not basic:
        return None
    if len(values) > 1:
        return Outcome(401, "duplicate_credentials")
    try:
        raw = base64.b64decode(basic[0][6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return Outcome(401, "malformed_credentials")
    client_id, colon, client_secret = raw.partition(":")
    return (client_id, client_secret) if colon else Outcome(401, "malformed_credentials")


def _credentials(headers: Headers, app: AppRecord) -> Presented:
    """The Client ID and Secret, in whichever one of the ways the application accepts;
    more than one way at once is refused (which would win is not for us to guess)."""
    ways = [_header_pair(headers)]
    if app.credentials_header is not None:
        ways.append(_json_header(headers, app.credentials_header))
    if app.basic_auth:
        ways.append(_basic(headers))
    given = [w for w in ways if w is not None]
    pairs = [w for w in given if isinstance(w, tuple)]
    if len(pairs) < len(given):
        return next(w for w in given if isinstance(w, Outcome))
    if len(pairs) != 1:
        return None if not pairs else Outcome(401, "duplicate_credentials")
    client_id, client_secret = pairs[0]
    if not is_client_id(client_id) or not is_client_secret(client_secret):
        return Outcome(401, "malformed_credentials")
    return client_id, client_secret


def _by_credentials(
    client_id: str, client_secret: str, tokens: Mapping[str, TokenRecord], now: float
) -> Caller | Outcome:
    token = tokens.get(client_id)
    version = None if token is None else token.secret_version(client_secret, now)
    if token is None or version is None:
        return Outcome(401, "invalid_credentials")
    return Caller(token, previous_secret=version == PREVIOUS)


MAX_SESSION_COOKIES = 4  # a client with one application per path holds a few; never verify more


def session_cookies(headers: Headers) -> list[str]:
    """Every ``CF_Authorization`` cookie sent, most specific path first (RFC 6265 5.4:
    clients order cookies by path length): with applications on paths of one host, a
    client holds one per application, all of the same name."""
    out = []
    for line in headers.getall(COOKIE_HEADER, []):
        for pair in line.split(";"):
            name, eq, value = pair.strip().partition("=")
            if eq and name == COOKIE and value:
                out.append(value.strip('"'))
    return out[:MAX_SESSION_COOKIES]


def _by_session(
    headers: Headers, app: AppRecord, tokens: Mapping[str, TokenRecord], sessions: Sessions, now: float
) -> Caller | Outcome:
    presented, dup = _one(headers, TOKEN_HEADER)
    if dup:
        return Outcome(401, "duplicate_credentials")
    candidates = [presented] if presented else session_cookies(headers)
    if not candidates:
        return Caller()
    failure: InvalidSession | None = None
    for candidate in candidates:  # the first that is this application's
        try:
            claims = sessions.verify(candidate, app, now)
            break
        except InvalidSession as e:
            failure = failure or e
    else:
        assert failure is not None
        return Outcome(401, failure.reason)
    token = tokens.get(claims.common_name)
    if token is None:
        return Outcome(401, "token_revoked")  # deleted: its sessions end with it
    version = token.session_version(claims.cred, now)
    if version is None:
        return Outcome(401, "secret_replaced")  # rotated (grace over) or reissued
    return Caller(token, candidate, claims.iat, previous_secret=version == PREVIOUS)


BEARER = "bearer "


def _workload_token(headers: Headers, app: AppRecord, sessions: Sessions) -> str | Outcome | None:
    """A ServiceAccount token, where the application's policies name ServiceAccounts: in
    ``Authorization: Bearer``, or in ``cf-access-token`` when not a JWT of ours."""
    if not app.admits_service_accounts:
        return None  # Authorization is then the origin's (a credential in it never is: gateway/strip.py)
    values = headers.getall(AUTHORIZATION, [])
    bearer = [v[len(BEARER) :].strip() for v in values if v[: len(BEARER)].lower() == BEARER]
    presented, dup = _one(headers, TOKEN_HEADER)
    if presented is not None and not sessions.is_ours(presented):
        bearer.append(presented)
    elif dup:
        return Outcome(401, "duplicate_credentials")
    if len(bearer) > 1 or (bearer and len(values) > 1):
        return Outcome(401, "duplicate_credentials")
    return bearer[0] if bearer else None


def _by_workload(
    encoded: str, app: AppRecord, workloads: WorkloadTokens | None, now: float
) -> Caller | Outcome:
    if workloads is None:
        return Outcome(401, "service_accounts_unavailable")  # turned off at this gateway
    try:  # a token for this application only (gateway/workload.py: audiences)
        return Caller(workload=workloads.verify(encoded, now, app.namespace, app.name))
    except InvalidSession as e:
        return Outcome(401, e.reason)


def _presents_session(headers: Headers) -> bool:
    return bool(headers.getall(TOKEN_HEADER, []) or session_cookies(headers))


def identify(
    headers: Headers,
    app: AppRecord,
    tokens: Mapping[str, TokenRecord],
    sessions: Sessions,
    now: float,
    workloads: WorkloadTokens | None = None,
) -> Caller | Outcome:
    """Step 1: the caller, or why its credentials do not authenticate (401)."""
    presented = _credentials(headers, app)
    if isinstance(presented, Outcome):
        return presented
    account = _workload_token(headers, app, sessions)
    if isinstance(account, Outcome):
        return account
    if account is not None and presented:
        return Outcome(401, "duplicate_credentials")
    if account is not None:  # a credential like a Client Secret: strict mode takes it too
        return _by_workload(account, app, workloads, now)
    if presented is None and app.strict:
        return Caller(ignored_session=_presents_session(headers))
    if presented is None:
        caller = _by_session(headers, app, tokens, sessions, now)
    else:
        caller = _by_credentials(*presented, tokens, now)
    if isinstance(caller, Outcome) or caller.token is None:
        return caller
    why = caller.token.usable_at(now)
    return caller if why is None else Outcome(401, why)


def authorize(app: AppRecord, caller: Caller, ip: Address | None = None) -> Outcome:
    """Step 2: the policies decide (decisions/policy.py: allowing ones first, then deny),
    on the caller and the address it comes from (routing/clientip.py); nothing matching
    is 401 without an identity, 403 with one."""
    who = caller.identity
    verdict = evaluate(app.policies, app.namespace, who, ip)
    if verdict.decision == "bypass":
        return Outcome(200, "bypass", identity=who, policy=verdict.policy)
    if verdict.decision == "deny":
        return Outcome(403, "denied_by_policy", identity=who, policy=verdict.policy)
    if who is None:
        return Outcome(401, "session_not_accepted" if caller.ignored_session else "no_credentials")
    if verdict.decision is None:
        return Outcome(403, "not_allowed", identity=who)
    return Outcome(200, "allowed", identity=who, policy=verdict.policy)


def session(allowed: Outcome, caller: Caller, app: AppRecord, sessions: Sessions, now: float) -> Outcome:
    """Step 3: the assertion for the origin (a bypass gets none). A pod gets one per
    request and no cookie: its ServiceAccount token is its credential each time."""
    if allowed.reason == "allowed" and caller.workload is not None:
        try:
            return replace(allowed, assertion=sessions.mint_for_workload(app, caller.workload, now))
        except InvalidSession as e:
            return Outcome(503, e.reason, identity=allowed.identity)
    if allowed.reason != "allowed" or caller.token is None:
        return allowed
    if caller.session is not None:
        return replace(allowed, assertion=caller.session)
    try:
        assertion, exp = sessions.mint(app, caller.token, now, previous=caller.previous_secret)
    except InvalidSession as e:
        return Outcome(503, e.reason, identity=allowed.identity)
    return replace(allowed, assertion=assertion, minted_exp=exp)


def limit(allowed: Outcome, caller: Caller, app: AppRecord, limits: Limits, now: float) -> Outcome:
    """Step 3, before any JWT is minted: the token's rate limit (gateway/limits.py)."""
    if caller.token is None:
        return allowed
    wait = limits.take(caller.token, app, now)
    if wait <= 0:
        return allowed
    return Outcome(429, "rate_limited", identity=allowed.identity, policy=allowed.policy, retry_after=wait)


def admit(
    headers: Headers,
    app: AppRecord,
    tokens: Mapping[str, TokenRecord],
    sessions: Sessions,
    now: float,
    ip: Address | None = None,
    limits: Limits | None = None,
    workloads: WorkloadTokens | None = None,
) -> Outcome:
    """identify -> authorize -> limit -> session: the whole decision for one request."""
    caller = identify(headers, app, tokens, sessions, now, workloads)
    if isinstance(caller, Outcome):
        return caller
    allowed = authorize(app, caller, ip)
    if allowed.allowed and limits is not None:
        allowed = limit(allowed, caller, app, limits, now)
    if not allowed.allowed:
        return allowed
    outcome = session(allowed, caller, app, sessions, now)
    if caller.previous_secret or caller.session is not None:
        outcome = replace(outcome, previous_secret=caller.previous_secret, session_iat=caller.issued_at)
    return outcome
