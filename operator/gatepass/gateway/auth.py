"""Admit one request, in four steps:

1. :func:`identify` — who is calling: a service token by its Client ID and
   Secret (two headers; or, where the application allows, one JSON header or
   Basic auth: gateway/presented.py, which also says how ``Authorization`` is read
   by its shape), or by a session JWT (``cf-access-token`` header or cookie; never
   in strict mode); where the application's policies name ServiceAccounts, a pod
   by its projected ServiceAccount token for this application (``Authorization:
   Bearer``, or ``cf-access-token`` when it is not one of our JWTs;
   gateway/workload.py); or nobody. Whichever forms an application reads, none
   reaches any origin (gateway/strip.py);

Strict mode (the application's ``strictServiceTokenAuth``, or the gateway's default
where it is unset) follows Cloudflare's strict service token authentication: with
credentials, a session JWT sent beside them is ignored (as it is without strict mode:
credentials always decide) and no cookie is set. Cloudflare's docs describe only
requests with credentials; a session alone (cookie or ``cf-access-token``) is refused
here (401 ``session_not_accepted``): every gatepass session is a service token's, and
one minted before strict mode was turned on would otherwise outlive the switch.
2. :func:`authorize` — what the application's policies say about that caller;
3. :func:`limit` — the token's rate limit, before any JWT is minted;
4. :func:`session` — the JWT the origin gets: the one presented, or a new one
   minted for credentials.

Each step returns what it found or raises :class:`Refused` (gateway/refusals.py):
401: credentials missing, malformed, duplicated, half-present, wrong, or of a
     deleted/disabled/expired token; a JWT that does not verify, or minted with a
     Client Secret that no longer works.
403: credentials authenticate, but no policy allows (or a deny policy matches).

Bypass is Access turned off, as in Cloudflare: what a bypass policy matches is forwarded
whatever credentials come with it. Credentials that fail (wrong, expired, a stale or
revoked session) make the caller nobody rather than a refusal, and the policies are
weighed for nobody: a bypass that matches forwards (no session minted, no rate limit, the
credentials stripped as always); anything else gets the credentials' own 401, so a client
sending a wrong secret where Access applies is still told so. A bypass excluding a token
therefore keeps that token out only when it authenticates: with wrong credentials, or
none, it is nobody, which the bypass lets through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from gatepass.decisions.policy import Identity, evaluate
from gatepass.gateway.headers import AUTHORIZATION, COOKIE, COOKIE_HEADER, TOKEN_HEADER
from gatepass.gateway.limits import Limits, applying
from gatepass.gateway.presented import Headers, credentials, one
from gatepass.gateway.refusals import InvalidSession, Reason, Refused
from gatepass.gateway.sessions import Sessions
from gatepass.gateway.state import PREVIOUS, AppRecord, TokenRecord
from gatepass.gateway.workload import Workload, WorkloadTokens
from gatepass.routing.clientip import Address


@dataclass(frozen=True)
class Admission:
    """A request let through (a refusal is raised as :class:`Refused` instead)."""

    reason: Reason  # allowed, or bypass
    assertion: str | None = None  # the JWT for the origin (None on bypass)
    minted_exp: float | None = None  # set when a new JWT was minted (send the cookie)
    identity: Identity | None = None
    policy: str = ""
    previous_secret: bool = False  # admitted by the previous secret (rotation grace)
    session_iat: float | None = None  # admitted by a session JWT: when it was minted
    policy_index: int | None = None  # the allowing policy: its sessionDuration, if any
    # Admitted by a session, no rate limit counting its requests: until when a proxy may
    # reuse this answer for the same session, as far as the session goes (gateway/reuse.py).
    reusable_until: float | None = None


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
    session_exp: float | None = None  # the presented session's exp

    @property
    def identity(self) -> Identity | None:
        t, w = self.token, self.workload
        if w is not None:
            return Identity(w.namespace, w.name, w.subject, service_account=True, pod=w.pod)
        return None if t is None else Identity(t.namespace, t.name, t.client_id)


def _by_credentials(
    client_id: str, client_secret: str, tokens: Mapping[str, TokenRecord], now: float
) -> Caller:
    token = tokens.get(client_id)
    version = None if token is None else token.secret_version(client_secret, now)
    if token is None or version is None:
        raise Refused(Reason.INVALID_CREDENTIALS)
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
) -> Caller:
    presented, dup = one(headers, TOKEN_HEADER)
    if dup:
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
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
        raise Refused(failure.reason)
    token = tokens.get(claims.common_name)
    if token is None:
        raise Refused(Reason.TOKEN_REVOKED)  # deleted: its sessions end with it
    version = token.session_version(claims.cred, now)
    if version is None:
        raise Refused(Reason.SECRET_REPLACED)  # rotated (grace over) or reissued
    return Caller(token, candidate, claims.iat, previous_secret=version == PREVIOUS, session_exp=claims.exp)


BEARER = "bearer "


def _workload_token(headers: Headers, app: AppRecord, sessions: Sessions) -> str | None:
    """A ServiceAccount token, where the application's policies name ServiceAccounts: in
    ``Authorization: Bearer``, or in ``cf-access-token`` when not a JWT of ours."""
    if not app.admits_service_accounts:
        return None  # Authorization is then the origin's (a credential in it never is: gateway/strip.py)
    values = headers.getall(AUTHORIZATION, [])
    bearer = [v[len(BEARER) :].strip() for v in values if v[: len(BEARER)].lower() == BEARER]
    presented, dup = one(headers, TOKEN_HEADER)
    if presented is not None and not sessions.is_ours(presented):
        bearer.append(presented)
    elif dup:
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
    if len(bearer) > 1 or (bearer and len(values) > 1):
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
    return bearer[0] if bearer else None


def _by_workload(encoded: str, app: AppRecord, workloads: WorkloadTokens | None, now: float) -> Caller:
    if workloads is None:
        raise Refused(Reason.SERVICE_ACCOUNTS_UNAVAILABLE)  # turned off at this gateway
    try:  # a token for this application only (gateway/workload.py: audiences)
        return Caller(workload=workloads.verify(encoded, now, app.namespace, app.name))
    except InvalidSession as e:
        raise Refused(e.reason) from None


def _presents_session(headers: Headers) -> bool:
    return bool(headers.getall(TOKEN_HEADER, []) or session_cookies(headers))


def identify(
    headers: Headers,
    app: AppRecord,
    tokens: Mapping[str, TokenRecord],
    sessions: Sessions,
    now: float,
    workloads: WorkloadTokens | None = None,
) -> Caller:
    """Step 1: the caller, or :class:`Refused` (401): why its credentials do not authenticate."""
    presented = credentials(headers, app.credentials_header, app.basic_auth)
    account = _workload_token(headers, app, sessions)
    if account is not None and presented:
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
    if account is not None:  # a credential like a Client Secret: strict mode takes it too
        return _by_workload(account, app, workloads, now)
    if presented is None and not app.keeps_sessions:
        return Caller(ignored_session=_presents_session(headers))
    if presented is None:
        caller = _by_session(headers, app, tokens, sessions, now)
    else:
        caller = _by_credentials(*presented, tokens, now)
    if caller.token is None:
        return caller
    why = caller.token.usable_at(now)
    if why is not None:
        raise Refused(why)
    return caller


def authorize(
    app: AppRecord, caller: Caller, ip: Address | None = None, failed: Refused | None = None
) -> Admission:
    """Step 2: the policies decide (decisions/policy.py: allowing ones first, then deny),
    on the caller and the address it comes from (routing/clientip.py); nothing matching
    is refused, 401 without an identity, 403 with one. ``failed``: why the credentials
    presented did not authenticate (the caller is then nobody): raised unless a bypass
    policy matches."""
    who = caller.identity
    verdict = evaluate(app.policies, app.namespace, who, ip)
    if failed is not None and verdict.decision != "bypass":
        raise failed
    if verdict.decision == "deny":
        raise Refused(Reason.DENIED_BY_POLICY, 403, identity=who, policy=verdict.policy)
    if verdict.decision == "bypass":
        reason = Reason.BYPASS
    elif who is None:
        raise Refused(Reason.SESSION_NOT_ACCEPTED if caller.ignored_session else Reason.NO_CREDENTIALS)
    elif verdict.decision is None:
        raise Refused(Reason.NOT_ALLOWED, 403, identity=who)
    else:
        reason = Reason.ALLOWED
    previous, iat = caller.previous_secret, caller.issued_at
    return Admission(
        reason,
        identity=who,
        policy=verdict.policy,
        previous_secret=previous,
        session_iat=iat,
        policy_index=verdict.index,
    )


def session(allowed: Admission, caller: Caller, app: AppRecord, sessions: Sessions, now: float) -> Admission:
    """Step 4: the assertion for the origin (a bypass gets none). A pod gets one per
    request and no cookie: its ServiceAccount token is its credential each time."""
    if allowed.reason is not Reason.ALLOWED:
        return allowed
    lifetime = app.lifetime(allowed.policy_index)
    try:
        if caller.workload is not None:
            return replace(allowed, assertion=sessions.mint_for_workload(app, caller.workload, now, lifetime))
        if caller.token is None:
            return allowed
        if caller.session is not None:
            return replace(allowed, assertion=caller.session, reusable_until=_reusable(caller, app))
        assertion, exp = sessions.mint(app, caller.token, now, caller.previous_secret, lifetime)
    except InvalidSession as e:
        raise Refused(e.reason, 503, identity=allowed.identity) from None
    return replace(allowed, assertion=assertion, minted_exp=exp)


def _reusable(caller: Caller, app: AppRecord) -> float | None:
    """The session's exp, or None where a rate limit applies: each request must reach
    the gateway to be counted."""
    limited = caller.token is not None and applying(caller.token, app) is not None
    return None if limited else caller.session_exp


def limit(allowed: Admission, caller: Caller, app: AppRecord, limits: Limits, now: float) -> Admission:
    """Step 3, before any JWT is minted: the token's rate limit (gateway/limits.py); the
    429 says when its bucket has a request again."""
    if caller.token is None:
        return allowed
    wait = limits.take(caller.token, app, now)
    if wait <= 0:
        return allowed
    retry = {"Retry-After": str(max(1, math.ceil(wait)))}
    raise Refused(Reason.RATE_LIMITED, 429, identity=allowed.identity, policy=allowed.policy, headers=retry)


def admit(
    headers: Headers,
    app: AppRecord,
    tokens: Mapping[str, TokenRecord],
    sessions: Sessions,
    now: float,
    ip: Address | None = None,
    limits: Limits | None = None,
    workloads: WorkloadTokens | None = None,
) -> Admission:
    """identify -> authorize -> limit -> session: the whole decision for one request, or
    :class:`Refused`. Credentials that fail are weighed as nobody (a bypass forwards);
    a bypass is not rate limited: Access is off for it."""
    try:
        caller, failed = identify(headers, app, tokens, sessions, now, workloads), None
    except Refused as e:
        caller, failed = Caller(), e
    allowed = authorize(app, caller, ip, failed)
    if limits is not None and allowed.reason is Reason.ALLOWED:
        allowed = limit(allowed, caller, app, limits, now)
    return session(allowed, caller, app, sessions, now)
