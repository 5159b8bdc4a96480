"""Cloudflare's application options through the gateway, over real HTTP: strict mode,
one-header credentials, Basic auth, get-identity."""

from __future__ import annotations

import base64
import json

import pytest
from prometheus_client import REGISTRY

from tests.gateway.conftest import NS, World
from tests.gateway.test_flows import HOST, SERVICE_AUTH_ANY, cookie_value, verify_with_jwks

pytestmark = pytest.mark.asyncio

IDENTITY = "/cdn-cgi/access/get-identity"


async def test_strict_mode_wants_credentials_on_every_request(world: World) -> None:
    aud = world.app("reports", [HOST], SERVICE_AUTH_ANY, strictServiceTokenAuth=True)
    tok = world.token("ci-bot")
    status, _, resp = await world.get(HOST, headers=tok.headers)
    assert status == 200
    assert "CF_Authorization" not in resp.cookies  # nothing to replay
    assertion = world.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"]  # the origin still gets one
    assert (await verify_with_jwks(world, assertion, aud))["common_name"] == tok.client_id
    # A JWT this very application minted is not accepted, in the cookie or the header.
    for headers in ({"Cookie": f"CF_Authorization={assertion}"}, {"cf-access-token": assertion}):
        status, body, _ = await world.get(HOST, headers=headers)
        assert (status, body) == (401, {"error": "session_not_accepted"})
    # Forward-auth too: no cookie for the ingress to hand out.
    status, _, resp = await world.get(HOST, "/cdn-cgi/access/authorize", headers=tok.headers)
    assert status == 200
    assert "CF_Authorization" not in resp.cookies


async def test_the_default_is_the_cookie_flow(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    _, _, resp = await world.get(HOST, headers=world.token("ci-bot").headers)
    status, _, _ = await world.get(HOST, headers={"Cookie": f"CF_Authorization={cookie_value(resp)}"})
    assert status == 200


async def test_one_header_credentials(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY, readServiceTokensFromHeader="X-Gatepass-Auth")
    tok = world.token("ci-bot")
    doc = json.dumps({"cf-access-client-id": tok.client_id, "cf-access-client-secret": tok.client_secret})
    status, body, resp = await world.get(HOST, headers={"X-Gatepass-Auth": doc, "X-Other": "kept"})
    assert status == 200, body
    seen = world.seen[-1]["headers"]
    assert "X-Gatepass-Auth" not in seen  # the secret never reaches the origin
    assert seen["X-Other"] == "kept"
    assert "CF_Authorization" in resp.cookies
    # ... under any spelling a CGI origin would read as the same header
    status, _, _ = await world.get(HOST, headers={"X_Gatepass_Auth": doc, **tok.headers})
    assert status == 200
    assert tok.client_secret not in json.dumps(world.seen[-1]["headers"])
    status, body, _ = await world.get(HOST, headers={"X-Gatepass-Auth": "{not json"})
    assert (status, body) == (401, {"error": "malformed_credentials"})


async def test_basic_auth(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY, allowBasicAuth=True)
    tok = world.token("ci-bot")
    # A client such as git asks first without credentials, and answers the challenge.
    status, _, resp = await world.get(HOST)
    assert status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    basic = base64.b64encode(f"{tok.client_id}:{tok.client_secret}".encode()).decode()
    status, body, _ = await world.get(HOST, headers={"Authorization": f"Basic {basic}"})
    assert status == 200, body
    assert "Authorization" not in world.seen[-1]["headers"]
    status, body, resp = await world.get(HOST, headers={"Authorization": "Basic !!!"})
    assert (status, body) == (401, {"error": "malformed_credentials"})
    assert "WWW-Authenticate" in resp.headers


async def test_authorization_is_the_origins_unless_basic_auth_is_allowed(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    status, _, resp = await world.get(HOST, headers={**tok.headers, "Authorization": "Bearer origin-token"})
    assert status == 200
    assert world.seen[-1]["headers"]["Authorization"] == "Bearer origin-token"
    status, _, resp = await world.get(HOST)
    assert status == 401
    assert "WWW-Authenticate" not in resp.headers


async def test_get_identity(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    tok = world.token("ci-bot")
    status, body, resp = await world.get(HOST, IDENTITY, headers=tok.headers)
    assert status == 200, body
    assert body == {
        "service_token_id": tok.client_id,  # Cloudflare: the Client ID
        "service_token_status": True,
        "name": "ci-bot",
        "namespace": NS,
        "iat": int(world.clock.now),
        "ip": "127.0.0.1",
        "version": 1,
    }
    assert resp.headers["Cache-Control"] == "no-store"
    assert tok.client_secret not in json.dumps(body)
    assert world.seen == []  # answered by the gateway, not the origin
    # With the session cookie the same identity, iat the session's.
    _, _, resp = await world.get(HOST, headers=tok.headers)
    world.clock.now += 60
    status, body, _ = await world.get(
        HOST, IDENTITY, headers={"Cookie": f"CF_Authorization={cookie_value(resp)}"}
    )
    assert status == 200
    assert isinstance(body, dict)
    assert body["service_token_id"] == tok.client_id
    assert body["iat"] == int(world.clock.now - 60)


async def test_get_identity_refusals(world: World) -> None:
    world.app("reports", [HOST], [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci"}}]}])
    world.app("open", ["open.example.com"], [{"decision": "bypass", "include": [{"everyone": {}}]}])
    ci, other = world.token("ci"), world.token("other")
    status, body, _ = await world.get(HOST, IDENTITY)
    assert (status, body) == (401, {"error": "no_credentials"})
    status, body, _ = await world.get(HOST, IDENTITY, headers=other.headers)
    assert (status, body) == (403, {"error": "not_allowed"})  # authenticates, not admitted here
    wrong = {**ci.headers, "CF-Access-Client-Secret": other.client_secret}
    status, body, _ = await world.get(HOST, IDENTITY, headers=wrong)
    assert (status, body) == (401, {"error": "invalid_credentials"})

    # Bypass: anyone reaches the application, but there is nobody to describe.
    def counted(outcome: str) -> float:
        labels = {"app": f"{NS}/open", "outcome": outcome}
        return REGISTRY.get_sample_value("gatepass_gateway_requests_total", labels) or 0.0

    before = counted("no_credentials"), counted("bypass")
    status, body, _ = await world.get("open.example.com", IDENTITY)
    assert (status, body) == (401, {"error": "no_credentials"})
    assert (counted("no_credentials"), counted("bypass")) == (before[0] + 1, before[1])  # as answered
    status, body, _ = await world.get("open.example.com", IDENTITY, headers=ci.headers)
    assert status == 200
    assert isinstance(body, dict)
    assert body["name"] == "ci"
    status, _, _ = await world.get("unknown.example.com", IDENTITY, headers=ci.headers)
    assert status == 404
