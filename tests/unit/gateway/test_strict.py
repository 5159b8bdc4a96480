"""Strict service token authentication: the cluster's default, each application's override,
and what a request gets with credentials, a session, or both.

Cloudflare (service tokens, "Strict service token authentication"): for a request with
service token credentials, a ``CF_Authorization`` cookie sent along is ignored and no cookie
is returned. Its docs say nothing of a session without credentials, nor of
``cf-access-token``: gatepass refuses both alone (gateway/auth.py says why)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from multidict import CIMultiDict

from gatepass.gateway.auth import admit
from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.refusals import Refused
from gatepass.gateway.sessions import Sessions
from gatepass.gateway.state import AppRecord, State, app_record
from gatepass.trust import signing
from gatepass.trust.credentials import new_client_secret
from gatepass.trust.seal import Sealer, generate_key
from tests.unit.gateway.test_auth import ALLOW_CI, ISSUER, NOW, SECRET, TOKEN, TOKENS, app

# (the cluster's default, the application's spec.strictServiceTokenAuth) -> strict or not
RESOLVED = [
    (False, None, False),  # an upgrade changes nothing
    (True, None, True),  # the admin turned it on: applications that do not say follow
    (True, False, False),  # ... but one that says false keeps its cookie flow
    (False, True, True),
    (True, True, True),
    (False, False, False),
]


@pytest.mark.parametrize(("default", "field", "strict"), RESOLVED)
def test_an_application_unset_follows_the_cluster_default(
    default: bool, field: bool | None, strict: bool
) -> None:
    state = State(strict=default)
    state.set_sealer(Sealer(generate_key()))
    spec: dict[str, Any] = {"hosts": ["app.test"], "upstream": "http://up.ns", "policies": []}
    if field is not None:
        spec["strictServiceTokenAuth"] = field
    record = app_record({"metadata": {"namespace": "ns", "name": "app", "uid": "u1"}, "spec": spec})
    assert record is not None
    assert record.strict is field  # as written: None stays "unset" until State decides
    state.put_app(("ns", "app"), record)
    route = state.route("app.test")
    assert route is not None
    assert route.value.strict is strict


@pytest.fixture(scope="module")
def sessions() -> Sessions:
    ring = KeyRing()
    ring.set(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)])))
    return Sessions(ISSUER, ring)


CREDS = {"CF-Access-Client-Id": TOKEN.client_id, "CF-Access-Client-Secret": SECRET}
WRONG = {**CREDS, "CF-Access-Client-Secret": new_client_secret()}
SESSION = "<session>"  # replaced by a JWT this application minted for the token
COOKIE = {"Cookie": f"CF_Authorization={SESSION}"}
HEADER = {"cf-access-token": SESSION}

# (what the request carries, outcome without strict mode, outcome with it). "minted": admitted
# by its credentials, a new JWT for the origin (and, without strict mode, the cookie);
# "session": admitted by the session it presented.
REQUESTS: list[tuple[str, dict[str, str], str, str]] = [
    ("credentials and a cookie", {**CREDS, **COOKIE}, "minted", "minted"),  # Cloudflare: cookie ignored
    (
        "credentials and cf-access-token",
        {**CREDS, **HEADER},
        "minted",
        "minted",
    ),  # docs silent: as the cookie
    ("credentials and a broken cookie", {**CREDS, "Cookie": "CF_Authorization=x.y.z"}, "minted", "minted"),
    (  # the cookie ignored means no fallback to it either
        "wrong credentials and a good cookie",
        {**WRONG, **COOKIE},
        "401 invalid_credentials",
        "401 invalid_credentials",
    ),
    ("a cookie alone", COOKIE, "session", "401 session_not_accepted"),  # docs silent: refused
    ("cf-access-token alone", HEADER, "session", "401 session_not_accepted"),  # docs silent: refused
    ("credentials alone", CREDS, "minted", "minted"),
    ("nothing", {}, "401 no_credentials", "401 no_credentials"),
]


def outcome(sent: dict[str, str], at: AppRecord, sessions: Sessions, jwt: str) -> str:
    headers = CIMultiDict((k, v.replace(SESSION, jwt)) for k, v in sent.items())
    try:
        admitted = admit(headers, at, TOKENS, sessions, NOW)
    except Refused as e:
        return f"{e.status} {e.reason}"
    if admitted.minted_exp is not None:  # (the JWT may be a reused one: gateway/sessions.py)
        return "minted"
    assert admitted.assertion == jwt
    return "session"


@pytest.mark.parametrize(("sent", "lax", "strict"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_what_strict_mode_does_to_a_request(
    sent: dict[str, str], lax: str, strict: str, sessions: Sessions
) -> None:
    for mode, expected in ((False, lax), (True, strict)):
        application = app(ALLOW_CI, strict=mode)
        jwt, _ = sessions.mint(application, TOKEN, NOW - 60)  # minted before strict mode was on
        assert outcome(sent, application, sessions, jwt) == expected, f"strict={mode}"
