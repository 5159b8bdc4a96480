"""Authenticate and authorize one request (Cloudflare strict-mode semantics).

401: credentials missing, malformed, duplicated, half-present, wrong, or of a
     deleted/disabled/expired token; a JWT that does not verify, or minted with a
     Client Secret that no longer works.
403: credentials authenticate, but no policy allows (or a deny policy matches).
Presented credentials that fail are refused even on a bypass application:
a client sending a wrong secret is told so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gatepass.gateway.policy import Identity, evaluate
from gatepass.gateway.sessions import InvalidSession, Sessions
from gatepass.gateway.state import AppRecord, State, TokenRecord
from gatepass.trust.credentials import is_client_id, is_client_secret

CLIENT_ID_HEADER = "CF-Access-Client-Id"
CLIENT_SECRET_HEADER = "CF-Access-Client-Secret"  # noqa: S105 - a header name
TOKEN_HEADER = "cf-access-token"  # noqa: S105 - a header name
COOKIE = "CF_Authorization"
ASSERTION_HEADER = "Cf-Access-Jwt-Assertion"


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

    @property
    def allowed(self) -> bool:
        return self.status == 200


def _one(headers: Headers, name: str) -> tuple[str | None, bool]:
    """The header's single value, and whether it was sent more than once."""
    values = headers.getall(name, [])
    return (values[0] if len(values) == 1 else None), len(values) > 1


def authenticate(
    headers: Headers, cookies: Mapping[str, str], app: AppRecord, state: State, sessions: Sessions, now: float
) -> Outcome:
    client_id, dup_id = _one(headers, CLIENT_ID_HEADER)
    client_secret, dup_secret = _one(headers, CLIENT_SECRET_HEADER)
    if dup_id or dup_secret:
        return Outcome(401, "duplicate_credentials")
    if (client_id is None) != (client_secret is None):
        return Outcome(401, "incomplete_credentials")

    token: TokenRecord | None = None
    assertion: str | None = None
    mint = False
    if client_id is not None and client_secret is not None:
        if not is_client_id(client_id) or not is_client_secret(client_secret):
            return Outcome(401, "malformed_credentials")
        token = state.tokens_by_id.get(client_id)
        if token is None or not token.secret_matches(client_secret, now):
            return Outcome(401, "invalid_credentials")
        mint = True
    else:
        presented, dup_token = _one(headers, TOKEN_HEADER)
        if dup_token:
            return Outcome(401, "duplicate_credentials")
        presented = presented or cookies.get(COOKIE)
        if presented:
            try:
                claims = sessions.verify(state, presented, app, now)
            except InvalidSession as e:
                return Outcome(401, e.reason)
            token = state.tokens_by_id.get(claims.common_name)
            if token is None:
                return Outcome(401, "token_revoked")  # deleted: its sessions end with it
            if not token.session_valid(claims.cred, now):
                return Outcome(401, "secret_replaced")  # rotated (grace over) or reissued
            assertion = presented

    if token is not None and (why := token.usable_at(now)) is not None:
        return Outcome(401, why)
    who = Identity(token.namespace, token.name, token.client_id) if token else None
    verdict = evaluate(app.policies, app.namespace, who)
    if verdict.decision == "bypass":
        return Outcome(200, "bypass", identity=who, policy=verdict.policy)
    if verdict.decision == "deny":
        return Outcome(403, "denied_by_policy", identity=who, policy=verdict.policy)
    if verdict.decision is None or token is None:
        return Outcome(
            401 if who is None else 403, "no_credentials" if who is None else "not_allowed", identity=who
        )
    if mint:
        try:
            assertion, exp = sessions.mint(state, app, token, now)
        except InvalidSession as e:
            return Outcome(503, e.reason, identity=who)
        return Outcome(200, "allowed", assertion, exp, who, verdict.policy)
    return Outcome(200, "allowed", assertion, None, who, verdict.policy)
