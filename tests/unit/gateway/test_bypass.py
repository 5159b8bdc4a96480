"""Bypass is Access turned off for what it matches, as in Cloudflare: forwarded whatever
credentials come with the request (wrong, expired, a stale session), with no session
minted and no rate limit. Where Access applies, failing credentials keep their 401."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_address

import pytest
from multidict import CIMultiDict
from yarl import URL

from gatepass.gateway.auth import Admission, admit
from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.limits import Limit, Limits
from gatepass.gateway.refusals import Refused
from gatepass.gateway.sessions import Sessions
from gatepass.gateway.state import AppRecord, TokenRecord
from gatepass.models.accessapplication import Policy
from gatepass.trust import signing
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash

ISSUER = "https://gatepass.test"


def now() -> float:
    """The wall clock, whole seconds: PyJWT checks a session's iat and exp against it (read in
    each test, never at collection)."""
    return float(int(time.time()))


SECRET, OLD_SECRET = new_client_secret(), new_client_secret()
CI = TokenRecord("ns", "ci", new_client_id(), secret_hash(SECRET))
OLD = TokenRecord("ns", "old", new_client_id(), secret_hash(OLD_SECRET), expires_at=86_400.0)  # 1970: expired
TOKENS = {t.client_id: t for t in (CI, OLD)}

EVERYONE: Mapping[str, object] = {"everyone": {}}
TOKEN_CI: Mapping[str, object] = {"serviceToken": {"name": "ci"}}
OFFICE: Mapping[str, object] = {"ip": {"ranges": ["203.0.113.0/24"]}}
IN, OUT = ip_address("203.0.113.9"), ip_address("198.51.100.1")

POLICIES: dict[str, list[Mapping[str, object]]] = {
    "bypass everyone": [{"decision": "bypass", "include": [EVERYONE]}],
    "serviceAuth ci only": [{"decision": "serviceAuth", "include": [TOKEN_CI]}],
    "serviceAuth ci, then bypass everyone": [
        {"decision": "serviceAuth", "include": [TOKEN_CI]},
        {"decision": "bypass", "include": [EVERYONE]},
    ],
    "bypass everyone but ci, deny ci": [
        {"decision": "bypass", "include": [EVERYONE], "exclude": [TOKEN_CI]},
        {"decision": "deny", "include": [TOKEN_CI]},
    ],
    "deny everyone": [{"decision": "deny", "include": [EVERYONE]}],
}


def app(name: str) -> AppRecord:
    return AppRecord(
        namespace="ns",
        name="app",
        hosts=("app.test",),
        upstream=URL("http://up.ns"),
        session_seconds=3600,
        policies=[Policy.model_validate(p) for p in POLICIES[name]],
        uid="u1",
        aud="a" * 64,
        sessions_revoked_before=now() - 30,  # sessions minted earlier are revoked
    )


@pytest.fixture(scope="module")
def sessions() -> Sessions:
    ring = KeyRing()
    ring.set(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)])))
    return Sessions(ISSUER, ring)


def creds(token: TokenRecord, secret: str) -> CIMultiDict[str]:
    return CIMultiDict({"CF-Access-Client-Id": token.client_id, "CF-Access-Client-Secret": secret})


def cookie(sessions: Sessions, minted: float) -> CIMultiDict[str]:
    # A minter of its own: the shared one would hand out a session it minted later.
    encoded, _ = Sessions(ISSUER, sessions.keys).mint(app("serviceAuth ci only"), CI, minted)
    return CIMultiDict({"Cookie": f"CF_Authorization={encoded}"})


Sent = Callable[[Sessions], CIMultiDict[str]]
# What a client may send that does not authenticate, and the 401 it gets where Access applies.
FAILING: dict[str, tuple[Sent, str]] = {
    "a wrong secret": (lambda s: creds(CI, new_client_secret()), "invalid_credentials"),
    "an expired token's credentials": (lambda s: creds(OLD, OLD_SECRET), "token_expired"),
    "half the credentials": (
        lambda s: CIMultiDict({"CF-Access-Client-Id": CI.client_id}),
        "incomplete_credentials",
    ),
    "a revoked session": (lambda s: cookie(s, now() - 60), "session_revoked"),
    "an expired session": (lambda s: cookie(s, now() - 7200), "session_expired"),
    "a made-up JWT": (lambda s: CIMultiDict({"cf-access-token": "not.a.jwt"}), "malformed_jwt"),
}
# The policies above, and what a failing credential gets there ("401" = its own reason).
ON_FAILING = {
    "bypass everyone": "bypass",
    "serviceAuth ci only": "401",
    "serviceAuth ci, then bypass everyone": "bypass",
    # The exclude keeps ci out only when it authenticates: unauthenticated, it is nobody,
    # whom the bypass lets through (as it would with no credentials at all).
    "bypass everyone but ci, deny ci": "bypass",
    "deny everyone": "401",
}
ROWS = [
    *(
        (f"{c} -> {p}", FAILING[c][0], p, FAILING[c][1] if want == "401" else want)
        for c in FAILING
        for p, want in ON_FAILING.items()
    ),
    ("nothing -> bypass everyone", lambda s: CIMultiDict(), "bypass everyone", "bypass"),
    ("nothing -> serviceAuth ci only", lambda s: CIMultiDict(), "serviceAuth ci only", "no_credentials"),
    ("nothing -> deny everyone", lambda s: CIMultiDict(), "deny everyone", "denied_by_policy"),
    ("valid -> bypass everyone", lambda s: creds(CI, SECRET), "bypass everyone", "bypass"),
    (
        "valid -> serviceAuth ci, then bypass",
        lambda s: creds(CI, SECRET),
        "serviceAuth ci, then bypass everyone",
        "allowed",
    ),
    (
        "valid -> bypass everyone but ci",
        lambda s: creds(CI, SECRET),
        "bypass everyone but ci, deny ci",
        "denied_by_policy",
    ),
]


def outcome(decide: Callable[[], Admission]) -> str:
    try:
        return decide().reason
    except Refused as e:
        return e.reason


@pytest.mark.parametrize(("sent", "policies", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_what_a_request_gets(sessions: Sessions, sent: Sent, policies: str, expected: str) -> None:
    got = outcome(lambda: admit(sent(sessions), app(policies), TOKENS, sessions, now(), limits=Limits()))
    assert got == expected


@pytest.mark.parametrize("failing", list(FAILING))
def test_a_bypass_forwards_failing_credentials_as_nobody_and_mints_nothing(
    sessions: Sessions, failing: str
) -> None:
    admitted = admit(FAILING[failing][0](sessions), app("bypass everyone"), TOKENS, sessions, now())
    assert (admitted.reason, admitted.identity, admitted.policy) == ("bypass", None, "policies[0]")
    assert (admitted.assertion, admitted.minted_exp) == (None, None)


def test_a_bypass_by_address_forwards_failing_credentials_from_there_only(sessions: Sessions) -> None:
    office = replace(
        app("bypass everyone"), policies=[Policy.model_validate({"decision": "bypass", "include": [OFFICE]})]
    )
    wrong = creds(CI, new_client_secret())
    assert admit(wrong, office, TOKENS, sessions, now(), IN).reason == "bypass"
    assert outcome(lambda: admit(wrong, office, TOKENS, sessions, now(), OUT)) == "invalid_credentials"


def test_a_bypass_is_never_rate_limited(sessions: Sessions) -> None:
    limited = replace(CI, rate_limit=Limit(rate=0.001, burst=1))
    tokens, limits, sent = {CI.client_id: limited}, Limits(), creds(CI, SECRET)
    for _ in range(3):
        assert admit(sent, app("bypass everyone"), tokens, sessions, now(), limits=limits).reason == "bypass"
    guarded = app("serviceAuth ci only")
    assert admit(sent, guarded, tokens, sessions, now(), limits=limits).reason == "allowed"
    assert outcome(lambda: admit(sent, guarded, tokens, sessions, now(), limits=limits)) == "rate_limited"
