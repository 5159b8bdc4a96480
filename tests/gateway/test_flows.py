"""Cloudflare's service-token flows through the gateway, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from tests.gateway.conftest import ISSUER, NS, World
from tests.support.tokens import altered

pytestmark = pytest.mark.asyncio

HOST = "reports.example.com"
SERVICE_AUTH_ANY = [{"name": "ci", "decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}]


def cookie_value(resp: Any) -> str:
    return str(resp.cookies["CF_Authorization"].value)


async def verify_with_jwks(world: World, assertion: str, aud: str) -> dict[str, Any]:
    """Verify as an origin would: PyJWT's PyJWKClient against /cdn-cgi/access/certs."""

    def check() -> dict[str, Any]:
        client = jwt.PyJWKClient(world.url + "/cdn-cgi/access/certs", headers={"Host": "gateway.test"})
        key = client.get_signing_key_from_jwt(assertion)
        return dict(jwt.decode(assertion, key.key, algorithms=["RS256"], audience=aud, issuer=ISSUER))

    return await asyncio.to_thread(check)


async def test_headers_then_cookie_then_cf_access_token(world: World) -> None:
    aud = world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    status, body, resp = await world.get(HOST, "/hello?x=1", headers=tok.headers)
    assert status == 200, body
    assert body == {"ok": True, "path": "/base/hello?x=1"}
    assert resp.headers["X-Upstream"] == "yes"
    morsel = resp.cookies["CF_Authorization"]
    assert morsel["httponly"]
    assert morsel["secure"]
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert 0 < int(morsel["max-age"]) <= 24 * 3600
    jwt_value = cookie_value(resp)

    seen = world.seen[-1]["headers"]
    assert "CF-Access-Client-Secret" not in seen
    assertion = seen["Cf-Access-Jwt-Assertion"]
    assert assertion == jwt_value
    claims = await verify_with_jwks(world, assertion, aud)
    # Cloudflare's service-token claims exactly, plus the one gatepass documents.
    assert set(claims) == {
        "type",
        "aud",
        "exp",
        "iss",
        "common_name",
        "iat",
        "sub",
        "gatepass_cred",
        "gatepass_iat_us",
    }
    assert jwt.get_unverified_header(assertion).keys() == {"alg", "kid", "typ"}
    assert claims["aud"] == [aud]
    assert claims["common_name"] == tok.client_id
    assert claims["sub"] == ""
    assert claims["type"] == "app"
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert jwt.get_unverified_header(assertion)["kid"] == world.state.keys[0].kid

    status, _, _ = await world.get(HOST, headers={"Cookie": f"CF_Authorization={jwt_value}"})
    assert status == 200
    assert world.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"] == jwt_value
    status, _, resp = await world.get(HOST, headers={"cf-access-token": jwt_value})
    assert status == 200
    assert "CF_Authorization" not in resp.cookies  # nothing new minted on the token path


async def test_session_never_outlives_the_token(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    expires = datetime.fromtimestamp(world.clock.now + 600, UTC)
    tok = world.token("short", expiresAt=expires.isoformat())
    status, _, resp = await world.get(HOST, headers=tok.headers)
    assert status == 200
    claims = jwt.decode(cookie_value(resp), options={"verify_signature": False})
    assert claims["exp"] == int(expires.timestamp())
    assert int(resp.cookies["CF_Authorization"]["max-age"]) <= 600


REFUSALS: list[tuple[str, int, str]] = [
    ("wrong secret", 401, "invalid_credentials"),
    ("unknown id", 401, "invalid_credentials"),
    ("id only", 401, "incomplete_credentials"),
    ("secret only", 401, "incomplete_credentials"),
    ("duplicate id header", 401, "duplicate_credentials"),
    ("malformed secret", 401, "malformed_credentials"),
    ("no credentials", 401, "no_credentials"),
    ("expired token", 401, "token_expired"),
    ("disabled token", 401, "token_disabled"),
    ("token deactivated for inactivity", 401, "token_inactive"),
    ("token of another namespace", 403, "not_allowed"),
    ("token not in the policy", 403, "not_allowed"),
    ("junk cookie", 401, "malformed_jwt"),
]


@pytest.mark.parametrize(("case", "status", "reason"), REFUSALS, ids=[c for c, _, _ in REFUSALS])
async def test_refusals(world: World, case: str, status: int, reason: str) -> None:
    world.app(
        "reports", [HOST], [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci-bot"}}]}]
    )
    good = world.token("ci-bot")
    other_ns = world.token("ci-bot", namespace="team-b")
    other = world.token("someone-else")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    headers: Any = {
        "wrong secret": {**good.headers, "CF-Access-Client-Secret": other.client_secret},
        "unknown id": {**good.headers, "CF-Access-Client-Id": "f" * 32 + ".access"},
        "id only": {"CF-Access-Client-Id": good.client_id},
        "secret only": {"CF-Access-Client-Secret": good.client_secret},
        "duplicate id header": [
            ("CF-Access-Client-Id", good.client_id),
            ("CF-Access-Client-Id", good.client_id),
            ("CF-Access-Client-Secret", good.client_secret),
        ],
        "malformed secret": {**good.headers, "CF-Access-Client-Secret": altered(good.client_secret)},
        "no credentials": {},
        "expired token": good.headers,
        "disabled token": good.headers,
        "token deactivated for inactivity": good.headers,
        "token of another namespace": other_ns.headers,
        "token not in the policy": other.headers,
        "junk cookie": {"Cookie": "CF_Authorization=not.a.jwt"},
    }[case]
    if case == "expired token":
        world.put_token(good, expiresAt=past)
    if case == "disabled token":
        world.put_token(good, enabled=False)
    if case == "token deactivated for inactivity":
        world.put_token(good, deactivatedAt=past)
    async with world.http.get(world.url + "/x", headers=[("Host", HOST), *_pairs(headers)]) as resp:
        body = await resp.json()
        assert (resp.status, body) == (status, {"error": reason})
        assert "CF_Authorization" not in resp.cookies
    assert world.seen == []  # nothing reached the origin


def _pairs(headers: dict[str, str] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, dict) else headers


async def test_bypass_and_deny_policies(world: World) -> None:
    # As Cloudflare: the allowing policies first, so a deny refuses only what they leave out.
    world.app(
        "mixed",
        [HOST],
        [
            {"decision": "deny", "include": [{"serviceToken": {"name": "banned"}}]},
            {
                "decision": "bypass",
                "include": [{"everyone": {}}],
                "exclude": [{"serviceToken": {"name": "banned"}}],
            },
        ],
    )
    banned, fine = world.token("banned"), world.token("fine")
    status, body, _ = await world.get(HOST, headers=banned.headers)
    assert (status, body) == (403, {"error": "denied_by_policy"})
    status, _, resp = await world.get(HOST, headers={"Cf-Access-Jwt-Assertion": "forged"})
    assert status == 200
    # bypass: nothing minted, and a client-made assertion never reaches the origin
    assert "Cf-Access-Jwt-Assertion" not in world.seen[-1]["headers"]
    assert "CF_Authorization" not in resp.cookies
    assert (await world.get(HOST, headers=fine.headers))[0] == 200
    # Bypass is Access turned off: wrong credentials are nobody's, and nobody is let through;
    # even banned's own with a wrong secret (the exclude needs it to authenticate).
    wrong = {**fine.headers, "CF-Access-Client-Secret": banned.client_secret}
    status, _, resp = await world.get(HOST, headers=wrong)
    assert status == 200
    assert banned.client_secret not in str(world.seen[-1]["headers"])  # stripped all the same
    assert "CF_Authorization" not in resp.cookies
    banned_wrong = {**banned.headers, "CF-Access-Client-Secret": fine.client_secret}
    assert (await world.get(HOST, headers=banned_wrong))[0] == 200


async def test_a_deny_listed_first_does_not_overrule_bypass(world: World) -> None:
    world.app(
        "listed",
        [HOST],
        [
            {"decision": "deny", "include": [{"serviceToken": {"name": "banned"}}]},
            {"decision": "bypass", "include": [{"everyone": {}}]},
        ],
    )
    assert (await world.get(HOST, headers=world.token("banned").headers))[0] == 200


async def test_require_and_exclude(world: World) -> None:
    world.app(
        "strict",
        [HOST],
        [
            {
                "decision": "serviceAuth",
                "include": [{"anyServiceToken": {"namespaces": [NS, "team-b"]}}],
                "require": [{"anyServiceToken": {"namespaces": ["team-b"]}}],
                "exclude": [{"serviceToken": {"name": "old", "namespace": "team-b"}}],
            }
        ],
    )
    assert (await world.get(HOST, headers=world.token("a").headers))[0] == 403
    assert (await world.get(HOST, headers=world.token("b", namespace="team-b").headers))[0] == 200
    assert (await world.get(HOST, headers=world.token("old", namespace="team-b").headers))[0] == 403


async def test_deleting_or_disabling_a_token_refuses_its_jwts_too(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    _, _, resp = await world.get(HOST, headers=tok.headers)
    cookie = {"Cookie": f"CF_Authorization={cookie_value(resp)}"}
    assert (await world.get(HOST, headers=cookie))[0] == 200
    world.put_token(tok, enabled=False)
    assert (await world.get(HOST, headers=cookie))[:2] == (401, {"error": "token_disabled"})
    world.put_token(tok)
    assert (await world.get(HOST, headers=cookie))[0] == 200
    world.delete_token(tok)
    assert (await world.get(HOST, headers=cookie))[:2] == (401, {"error": "token_revoked"})
    assert (await world.get(HOST, headers=tok.headers))[0] == 401


async def test_a_token_deactivated_for_inactivity_is_refused_until_the_operator_says_otherwise(
    world: World,
) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("idle")
    _, _, resp = await world.get(HOST, headers=tok.headers)
    cookie = {"Cookie": f"CF_Authorization={cookie_value(resp)}"}
    world.put_token(tok, deactivatedAt="2026-01-01T00:00:00Z")
    assert (await world.get(HOST, headers=cookie))[:2] == (401, {"error": "token_inactive"})
    assert (await world.get(HOST, headers=tok.headers))[:2] == (401, {"error": "token_inactive"})
    # Someone who may write status clears deactivatedAt but keeps the operator's seal: the
    # seal covers deactivatedAt, so the record is no longer served at all.
    sealed = world.sealed_status(tok, deactivatedAt="2026-01-01T00:00:00Z")
    world.put_token(tok, sealed=False, seal=sealed["seal"], sealV2=sealed["sealV2"])
    assert (await world.get(HOST, headers=tok.headers))[0] == 401
    assert (await world.get(HOST, headers=cookie))[0] == 401
    world.put_token(tok)  # the operator reactivates it
    assert (await world.get(HOST, headers=tok.headers))[0] == 200
    assert (await world.get(HOST, headers=cookie))[0] == 200


async def test_rotation_grace_then_only_the_new_secret(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    old = world.token("rot")
    new = type(old)(old.namespace, old.name, old.client_id, "unused")
    from gatepass.trust.credentials import new_client_secret, secret_hash

    new.client_secret = new_client_secret()
    grace_end = datetime.fromtimestamp(world.clock.now + 60, UTC).isoformat()
    world.put_token(new, previousSecretHash=secret_hash(old.client_secret), previousSecretExpiresAt=grace_end)
    key = (old.namespace, old.name)
    assert (await world.get(HOST, headers=new.headers))[0] == 200
    assert set(world.last_seen.take()) == {(key, False)}
    status, _, resp = await world.get(HOST, headers=old.headers)
    assert status == 200
    assert set(world.last_seen.take()) == {(key, False), (key, True)}  # the previous secret, reported
    # The session the previous secret got is that secret's: it works during the grace...
    straggler = {"Cookie": f"CF_Authorization={cookie_value(resp)}"}
    assert (await world.get(HOST, headers=straggler))[0] == 200
    assert set(world.last_seen.take()) == {(key, False), (key, True)}  # a use of the previous one
    world.clock.now += 61
    assert (await world.get(HOST, headers=old.headers))[0] == 401
    # ...and ends with it (its exp is the grace's end), however long the application's sessions are.
    assert (await world.get(HOST, headers=straggler))[:2] == (401, {"error": "session_expired"})
    assert (await world.get(HOST, headers=new.headers))[0] == 200


async def test_sessions_end_with_the_secret_that_minted_them(world: World) -> None:
    from gatepass.trust.credentials import new_client_secret, secret_hash

    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    old = world.token("rot")
    _, _, resp = await world.get(HOST, headers=old.headers)
    cookie = {"Cookie": f"CF_Authorization={cookie_value(resp)}"}
    # Rotated with a grace period: the old secret's sessions last as long as it does.
    new = type(old)(old.namespace, old.name, old.client_id, new_client_secret())
    grace_end = datetime.fromtimestamp(world.clock.now + 60, UTC).isoformat()
    world.put_token(new, previousSecretHash=secret_hash(old.client_secret), previousSecretExpiresAt=grace_end)
    world.last_seen.take()
    assert (await world.get(HOST, headers=cookie))[0] == 200
    # ...and such a use is reported as a use of the previous secret (spec.rollout waits for
    # it to stop before ending the grace early).
    key = (old.namespace, old.name)
    assert set(world.last_seen.take()) == {(key, False), (key, True)}
    _, _, resp = await world.get(HOST, headers=new.headers)
    new_cookie = {"Cookie": f"CF_Authorization={cookie_value(resp)}"}
    assert (await world.get(HOST, headers=new_cookie))[0] == 200
    assert set(world.last_seen.take()) == {(key, False)}  # the new secret's uses: current only
    world.clock.now += 61
    assert (await world.get(HOST, headers=cookie))[:2] == (401, {"error": "secret_replaced"})
    assert (await world.get(HOST, headers=new_cookie))[0] == 200
    # Rotated without grace (or reissued): at once.
    newest = type(old)(old.namespace, old.name, old.client_id, new_client_secret())
    world.put_token(newest)
    assert (await world.get(HOST, headers=new_cookie))[:2] == (401, {"error": "secret_replaced"})
    assert (await world.get(HOST, headers=newest.headers))[0] == 200


async def test_a_status_not_sealed_by_the_operator_authenticates_nothing(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    assert (await world.get(HOST, headers=tok.headers))[0] == 200
    world.put_token(tok, sealed=False)  # a tenant wrote the record itself
    assert (await world.get(HOST, headers=tok.headers))[:2] == (401, {"error": "invalid_credentials"})


async def test_revoke_existing_sessions(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    _, _, resp = await world.get(HOST, headers=tok.headers)
    cookie = {"Cookie": f"CF_Authorization={cookie_value(resp)}"}
    revoked = datetime.fromtimestamp(world.clock.now + 1, UTC).isoformat()
    world.app("reports", [HOST], SERVICE_AUTH_ANY, status={"sessionsRevokedBefore": revoked})
    assert (await world.get(HOST, headers=cookie))[:2] == (401, {"error": "session_revoked"})
    world.clock.now += 2
    assert (await world.get(HOST, headers=tok.headers))[0] == 200  # new sessions are fine


async def test_jwts_minted_before_a_key_rotation_still_verify(world: World) -> None:
    older, newest = world.all_keys[1], world.all_keys[0]
    world.state.set_keys([older])
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    _, _, resp = await world.get(HOST, headers=tok.headers)
    before = cookie_value(resp)
    world.state.set_keys([newest, older])  # rotation: new key signs, old key still verifies
    assert (await world.get(HOST, headers={"Cookie": f"CF_Authorization={before}"}))[0] == 200
    _, _, resp = await world.get(HOST, headers=tok.headers)
    assert jwt.get_unverified_header(cookie_value(resp))["kid"] == newest.kid
    world.state.set_keys([newest])  # the old key dropped: its JWTs end
    assert (await world.get(HOST, headers={"Cookie": f"CF_Authorization={before}"}))[0] == 401


async def test_upstream_down_is_502_without_internals(world: World) -> None:
    world.app("down", [HOST], SERVICE_AUTH_ANY, upstream="http://127.0.0.1:1")
    status, body, _ = await world.get(HOST, headers=world.token("ci-bot").headers)
    assert (status, body) == (502, {"error": "upstream_unavailable"})


async def test_unknown_host_and_discovery_endpoints(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    status, body, _ = await world.get("nowhere.example.com")
    assert (status, body) == (404, {"error": "unknown_host"})
    status, body, _ = await world.get("gateway.test", "/.well-known/openid-configuration")
    assert status == 200
    assert isinstance(body, dict)
    assert body["issuer"] == ISSUER
    assert body["jwks_uri"] == ISSUER + "/cdn-cgi/access/certs"


async def test_certs_name_the_current_signing_key_and_hold_every_key(world: World) -> None:
    """Mid-rotation (two keys): ``public_cert`` is the key sessions are signed with now,
    the newest; ``keys`` and ``public_certs`` hold both, so a JWT minted before the
    rotation still verifies for an origin that reads them."""
    older, newest = sorted(world.all_keys, key=lambda k: k.not_before)
    assert older.kid != newest.kid
    world.state.set_keys(world.all_keys)  # as the watch loads the Secret (trust/signing.py: load)
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    _, _, resp = await world.get(HOST, headers=world.token("ci-bot").headers)
    assert jwt.get_unverified_header(cookie_value(resp))["kid"] == newest.kid
    status, certs, _ = await world.get(HOST, "/cdn-cgi/access/certs")
    assert status == 200
    assert isinstance(certs, dict)
    assert certs["public_cert"] == {"kid": newest.kid, "cert": newest.cert_pem}
    assert certs["public_cert"]["cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert sorted(certs["public_certs"], key=lambda c: c["kid"]) == sorted(
        ({"kid": k.kid, "cert": k.cert_pem} for k in (older, newest)), key=lambda c: c["kid"]
    )
    jwks = {k["kid"]: k for k in certs["keys"]}
    assert jwks.keys() == {older.kid, newest.kid}
    for key in (older, newest):
        assert jwks[key.kid]["kty"] == "RSA"
        assert "d" not in jwks[key.kid]  # public parts only
        public = jwt.PyJWK(jwks[key.kid]).key
        assert public.public_numbers() == key.public_key.public_numbers()


async def test_forward_auth_endpoint(world: World) -> None:
    aud = world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    fwd = {"X-Forwarded-Host": HOST, "X-Forwarded-Uri": "/private"}
    async with world.http.get(
        world.url + "/cdn-cgi/access/authorize", headers={"Host": "gateway.internal", **fwd, **tok.headers}
    ) as resp:
        assert resp.status == 200
        assertion = resp.headers["Cf-Access-Jwt-Assertion"]
        assert resp.cookies["CF_Authorization"].value == assertion
    assert (await verify_with_jwks(world, assertion, aud))["common_name"] == tok.client_id
    async with world.http.get(world.url + "/cdn-cgi/access/authorize", headers={"Host": "g", **fwd}) as resp:
        assert resp.status == 401
    assert world.seen == []  # forward-auth never proxies


async def test_no_spelling_of_a_stripped_header_reaches_the_origin(world: World) -> None:
    """CGI/WSGI origins read "_" as "-": Cf_Access_Jwt_Assertion would be a forged
    assertion there, CF_ACCESS_CLIENT_SECRET a leaked secret."""
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    sneaky = {
        "Cf_Access_Jwt_Assertion": "forged",
        "CF_ACCESS_CLIENT_SECRET": tok.client_secret,
        "cf_access_token": "forged",
    }
    status, _, _ = await world.get(HOST, headers={**tok.headers, **sneaky})
    assert status == 200
    names = [k.lower().replace("_", "-") for k in world.seen[-1]["headers"]]
    assert names.count("cf-access-jwt-assertion") == 1  # the gateway's own, only
    seen = {k.lower().replace("_", "-"): v for k, v in world.seen[-1]["headers"].items()}
    assert seen["cf-access-jwt-assertion"] != "forged"
    assert "cf-access-client-secret" not in seen
    assert "cf-access-token" not in seen
    assert tok.client_secret not in json.dumps(world.seen[-1]["headers"])


async def test_accept_encoding_reaches_the_origin_as_the_client_sent_it(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    await world.get(HOST, headers=tok.headers, skip_auto_headers=("Accept-Encoding",))
    assert "Accept-Encoding" not in world.seen[-1]["headers"]
    await world.get(HOST, headers={**tok.headers, "Accept-Encoding": "br"})
    assert world.seen[-1]["headers"]["Accept-Encoding"] == "br"
