"""The three steps of admitting a request, each on its own: identify, authorize, session."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import jwt
import pytest
from multidict import CIMultiDict
from yarl import URL

from gatepass.gateway.auth import Caller, admit, authorize, identify, session
from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.refusals import Reason, Refused
from gatepass.gateway.sessions import Sessions
from gatepass.gateway.state import AppRecord, TokenRecord
from gatepass.gateway.workload import WorkloadTokens
from gatepass.models.accessapplication import Policy
from gatepass.trust import signing
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash
from tests.support.serviceaccounts import Issuer

ISSUER = "https://gatepass.test"
NOW = 1_800_000_000.0
SECRET = new_client_secret()
TOKEN = TokenRecord("ns", "ci", new_client_id(), secret_hash(SECRET))


def app(*policies: Mapping[str, object], **options: Any) -> AppRecord:
    return AppRecord(
        namespace="ns",
        name="app",
        hosts=("app.test",),
        upstream=URL("http://up.ns"),
        session_seconds=3600,
        policies=[Policy.model_validate(p) for p in policies],
        uid="u1",
        aud="a" * 64,
        **options,
    )


ALLOW_CI: Mapping[str, object] = {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci"}}]}
BYPASS: Mapping[str, object] = {"decision": "bypass", "include": [{"everyone": {}}]}


@pytest.fixture(scope="module")
def sessions() -> Sessions:
    ring = KeyRing()
    ring.set(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)])))
    return Sessions(ISSUER, ring)


def headers(**h: str) -> CIMultiDict[str]:
    return CIMultiDict((k.replace("_", "-"), v) for k, v in h.items())


def creds(secret: str = SECRET) -> CIMultiDict[str]:
    return headers(CF_Access_Client_Id=TOKEN.client_id, CF_Access_Client_Secret=secret)


TOKENS = {TOKEN.client_id: TOKEN}


def refused(decide: Callable[[], object]) -> tuple[int, Reason]:
    """The status and reason a step refuses with."""
    with pytest.raises(Refused) as e:
        decide()
    return e.value.status, e.value.reason


def test_identify_by_credentials(sessions: Sessions) -> None:
    assert identify(creds(), app(), TOKENS, sessions, NOW) == Caller(TOKEN)
    assert refused(lambda: identify(creds(new_client_secret()), app(), TOKENS, sessions, NOW)) == (
        401,
        "invalid_credentials",
    )


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        (headers(CF_Access_Client_Id=TOKEN.client_id), "incomplete_credentials"),
        (headers(CF_Access_Client_Secret=SECRET), "incomplete_credentials"),
        (headers(CF_Access_Client_Id="nope", CF_Access_Client_Secret=SECRET), "malformed_credentials"),
        (
            CIMultiDict(
                [("CF-Access-Client-Id", TOKEN.client_id)] * 2 + [("CF-Access-Client-Secret", SECRET)]
            ),
            "duplicate_credentials",
        ),
        (CIMultiDict([("cf-access-token", "a.b.c")] * 2), "duplicate_credentials"),
        (headers(cf_access_token="not-a-jwt"), "malformed_jwt"),
    ],
)
def test_identify_refuses_what_does_not_authenticate(
    sent: CIMultiDict[str], reason: str, sessions: Sessions
) -> None:
    assert refused(lambda: identify(sent, app(), TOKENS, sessions, NOW)) == (401, reason)


def test_identify_nobody_is_not_a_refusal(sessions: Sessions) -> None:
    assert identify(headers(), app(), TOKENS, sessions, NOW) == Caller()


def test_identify_by_session_and_its_end(sessions: Sessions) -> None:
    jwt_, exp = sessions.mint(app(), TOKEN, NOW)
    assert identify(headers(cookie=f"CF_Authorization={jwt_}"), app(), TOKENS, sessions, NOW) == Caller(
        TOKEN, jwt_, NOW, session_exp=exp
    )
    revoked = refused(lambda: identify(headers(cf_access_token=jwt_), app(), {}, sessions, NOW))
    assert revoked == (401, "token_revoked")
    disabled = {TOKEN.client_id: TokenRecord("ns", "ci", TOKEN.client_id, TOKEN.secret_hash, enabled=False)}
    assert refused(lambda: identify(creds(), app(), disabled, sessions, NOW)) == (401, "token_disabled")


def test_strict_mode_ignores_sessions(sessions: Sessions) -> None:
    strict = app(ALLOW_CI, strict=True)
    jwt_, _ = sessions.mint(strict, TOKEN, NOW)
    for sent in (headers(cf_access_token=jwt_), headers(cookie=f"CF_Authorization={jwt_}")):
        caller = identify(sent, strict, TOKENS, sessions, NOW)
        assert caller == Caller(ignored_session=True)
        assert refused(partial(authorize, strict, caller)) == (401, "session_not_accepted")
    assert identify(creds(), strict, TOKENS, sessions, NOW) == Caller(TOKEN)
    # Not even a broken JWT is looked at: strict mode reads credentials only.
    assert identify(headers(cf_access_token="x"), strict, TOKENS, sessions, NOW) == Caller(
        ignored_session=True
    )
    assert identify(headers(), strict, TOKENS, sessions, NOW) == Caller()


def basic(value: str) -> CIMultiDict[str]:
    return headers(Authorization="Basic " + base64.b64encode(value.encode()).decode())


JSON_APP = app(ALLOW_CI, credentials_header="X-Creds")
BASIC_APP = app(ALLOW_CI, basic_auth=True)
BOTH_APP = app(ALLOW_CI, credentials_header="X-Creds", basic_auth=True)


def json_creds(doc: object) -> CIMultiDict[str]:
    return headers(X_Creds=json.dumps(doc))


def test_one_header_and_basic_auth_identify(sessions: Sessions) -> None:
    good = {"cf-access-client-id": TOKEN.client_id, "cf-access-client-secret": SECRET}
    assert identify(json_creds(good), JSON_APP, TOKENS, sessions, NOW) == Caller(TOKEN)
    assert identify(basic(f"{TOKEN.client_id}:{SECRET}"), BASIC_APP, TOKENS, sessions, NOW) == Caller(TOKEN)
    lower = headers(
        authorization="bAsIc " + base64.b64encode(f"{TOKEN.client_id}:{SECRET}".encode()).decode()
    )
    assert identify(lower, BASIC_APP, TOKENS, sessions, NOW) == Caller(TOKEN)
    # Where the application did not opt in, these headers are not credentials (the origin's).
    assert identify(json_creds(good), app(ALLOW_CI), TOKENS, sessions, NOW) == Caller()
    assert identify(basic(f"{TOKEN.client_id}:{SECRET}"), app(ALLOW_CI), TOKENS, sessions, NOW) == Caller()
    # Another scheme is the origin's business.
    assert identify(headers(Authorization="Bearer abc"), BASIC_APP, TOKENS, sessions, NOW) == Caller()
    wrong = {"cf-access-client-id": TOKEN.client_id, "cf-access-client-secret": new_client_secret()}
    wrong_secret = refused(lambda: identify(json_creds(wrong), JSON_APP, TOKENS, sessions, NOW))
    assert wrong_secret == (401, "invalid_credentials")


GOOD_JSON = {"cf-access-client-id": TOKEN.client_id, "cf-access-client-secret": SECRET}
REFUSED = [
    ("not JSON", JSON_APP, headers(X_Creds="{nope"), "malformed_credentials"),
    ("a JSON list", JSON_APP, json_creds([TOKEN.client_id, SECRET]), "malformed_credentials"),
    ("deeply nested", JSON_APP, headers(X_Creds="[" * 100_000), "malformed_credentials"),
    (
        "keys in another case",
        JSON_APP,
        json_creds({"CF-Access-Client-Id": TOKEN.client_id}),
        "malformed_credentials",
    ),
    (
        "secret not a string",
        JSON_APP,
        json_creds({**GOOD_JSON, "cf-access-client-secret": 1}),
        "malformed_credentials",
    ),
    ("only the id", JSON_APP, json_creds({"cf-access-client-id": TOKEN.client_id}), "malformed_credentials"),
    (
        "a malformed id",
        JSON_APP,
        json_creds({**GOOD_JSON, "cf-access-client-id": "x"}),
        "malformed_credentials",
    ),
    (
        "the header twice",
        JSON_APP,
        CIMultiDict([("X-Creds", json.dumps(GOOD_JSON))] * 2),
        "duplicate_credentials",
    ),
    (
        "JSON and the two headers",
        JSON_APP,
        CIMultiDict([("X-Creds", json.dumps(GOOD_JSON)), *creds().items()]),
        "duplicate_credentials",
    ),
    ("not base64", BASIC_APP, headers(Authorization="Basic %%%"), "malformed_credentials"),
    ("no colon", BASIC_APP, basic(TOKEN.client_id + SECRET), "malformed_credentials"),
    (
        "not UTF-8",
        BASIC_APP,
        headers(Authorization="Basic " + base64.b64encode(b"\xff:\xfe").decode()),
        "malformed_credentials",
    ),
    ("empty", BASIC_APP, headers(Authorization="Basic "), "malformed_credentials"),
    (
        "Basic and JSON",
        BOTH_APP,
        CIMultiDict([("X-Creds", json.dumps(GOOD_JSON)), *basic(f"{TOKEN.client_id}:{SECRET}").items()]),
        "duplicate_credentials",
    ),
    (
        "two Authorization headers",
        BASIC_APP,
        CIMultiDict([*basic(f"{TOKEN.client_id}:{SECRET}").items(), ("Authorization", "Bearer x")]),
        "duplicate_credentials",
    ),
]


@pytest.mark.parametrize(
    ("application", "sent", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_one_header_and_basic_auth_refusals(
    application: AppRecord, sent: CIMultiDict[str], reason: str, sessions: Sessions
) -> None:
    assert refused(lambda: identify(sent, application, TOKENS, sessions, NOW)) == (401, reason)


def test_credential_headers_are_what_the_application_reads() -> None:
    assert app().credential_headers == {"cf-access-client-secret"}
    assert app(credentials_header="X_Creds", basic_auth=True).credential_headers == {
        "cf-access-client-secret",
        "x-creds",
        "authorization",
    }


def test_authorize_follows_the_policies() -> None:
    assert authorize(app(ALLOW_CI), Caller(TOKEN)).reason == "allowed"
    assert refused(lambda: authorize(app(ALLOW_CI), Caller())) == (401, "no_credentials")
    other = TokenRecord("ns", "other", new_client_id(), TOKEN.secret_hash)
    assert refused(lambda: authorize(app(ALLOW_CI), Caller(other))) == (403, "not_allowed")
    assert authorize(app(BYPASS), Caller()).reason == "bypass"
    deny: Mapping[str, object] = {"decision": "deny", "include": [{"everyone": {}}]}
    # Allowing policies are evaluated first (decisions/policy.py): the deny refuses the rest.
    assert authorize(app(deny, ALLOW_CI), Caller(TOKEN)).reason == "allowed"
    with pytest.raises(Refused) as denied:
        authorize(app(deny, ALLOW_CI), Caller(other))
    e = denied.value
    assert (e.status, e.reason, e.identity, e.policy) == (
        403,
        "denied_by_policy",
        Caller(other).identity,
        "policies[0]",
    )


def test_session_mints_for_credentials_and_reuses_a_presented_jwt(sessions: Sessions) -> None:
    allowed = authorize(app(ALLOW_CI), Caller(TOKEN))
    minted = session(allowed, Caller(TOKEN), app(ALLOW_CI), sessions, NOW)
    assert minted.assertion is not None
    assert minted.minted_exp == NOW + 3600
    claims = jwt.decode(minted.assertion, options={"verify_signature": False})
    assert (claims["common_name"], claims["aud"]) == (TOKEN.client_id, ["a" * 64])
    reused = session(allowed, Caller(TOKEN, "presented.jwt"), app(ALLOW_CI), sessions, NOW)
    assert (reused.assertion, reused.minted_exp) == ("presented.jwt", None)
    bypass = authorize(app(BYPASS), Caller(TOKEN))
    assert session(bypass, Caller(TOKEN), app(BYPASS), sessions, NOW).assertion is None


def test_session_without_a_signing_key_is_503() -> None:
    allowed = authorize(app(ALLOW_CI), Caller(TOKEN))
    keyless = Sessions(ISSUER, KeyRing())
    assert refused(lambda: session(allowed, Caller(TOKEN), app(ALLOW_CI), keyless, NOW)) == (
        503,
        "no_signing_key",
    )


def test_a_wrong_secret_is_forwarded_where_bypassed_and_refused_where_access_applies(
    sessions: Sessions,
) -> None:
    wrong = creds(new_client_secret())
    assert (
        admit(wrong, app(BYPASS), TOKENS, sessions, NOW).reason == "bypass"
    )  # tests/unit/gateway/test_bypass.py
    assert refused(lambda: admit(wrong, app(ALLOW_CI), TOKENS, sessions, NOW)) == (401, "invalid_credentials")


def test_a_workload_token_is_taken_only_by_the_application_it_names(sessions: Sessions) -> None:
    kube = Issuer()
    kube.add_ec("k")
    workloads = WorkloadTokens((ISSUER,))
    workloads.set_issuer(kube.issuer, kube.jwks())
    workloads.set_accounts({("ns", "reporter"): "sa-uid-1"})
    accounts = app({"decision": "serviceAuth", "include": [{"serviceAccount": {"name": "reporter"}}]})
    accounts = replace(accounts, admits_service_accounts=True)
    now = time.time()  # the token's times are real ones

    def caller(aud: str, at: AppRecord = accounts) -> Caller:
        bearer = headers(Authorization="Bearer " + kube.token(namespace="ns", aud=aud, pod=None))
        return identify(bearer, at, TOKENS, sessions, now, workloads)

    admitted = caller(f"{ISSUER}/ns/app")
    assert admitted.workload is not None
    assert admitted.workload.name == "reporter"
    other = replace(accounts, name="other")
    assert refused(lambda: caller(f"{ISSUER}/ns/app", other)) == (401, "wrong_audience")
    assert refused(lambda: caller(ISSUER)) == (401, "wrong_audience")


def test_the_allowing_policy_decides_the_sessions_life(sessions: Sessions) -> None:
    """Cloudflare's policy session duration over the application's; a JWT minted under one
    lifetime is never handed out again under another."""
    brief = {**ALLOW_CI, "sessionDuration": "10m"}
    short = replace(app(brief), policy_sessions=(600.0,))
    long = app(ALLOW_CI)
    assert admit(creds(), short, TOKENS, sessions, NOW).minted_exp == NOW + 600
    assert admit(creds(), long, TOKENS, sessions, NOW).minted_exp == NOW + 3600
    assert admit(creds(), short, TOKENS, sessions, NOW + 1).minted_exp == NOW + 601


def test_no_session_takes_credentials_only(sessions: Sessions) -> None:
    """sessionDuration 0: a session JWT, even one this application minted, is not accepted;
    credentials are, and the origin's assertion lives a minute."""
    none = replace(app(ALLOW_CI), session_seconds=0.0)
    allowed = admit(creds(), none, TOKENS, sessions, NOW)
    assert allowed.minted_exp == NOW + 60
    assert allowed.assertion is not None
    for presented in (
        headers(cf_access_token=allowed.assertion),
        headers(Cookie=f"CF_Authorization={allowed.assertion}"),
    ):
        assert refused(partial(admit, presented, none, TOKENS, sessions, NOW + 1)) == (
            401,
            Reason.SESSION_NOT_ACCEPTED,
        )
