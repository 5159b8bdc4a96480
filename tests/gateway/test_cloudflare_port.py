"""Cloudflare configurations ported unchanged, through the gateway over real HTTP:
``readServiceTokensFromHeader: Authorization`` (Cloudflare's own example) and strict service
token authentication as the cluster's default, each application able to say otherwise."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gatepass.trust.signing import SigningKey
from tests.gateway.conftest import World
from tests.gateway.test_flows import HOST, SERVICE_AUTH_ANY, cookie_value

pytestmark = pytest.mark.asyncio
LAX_HOST = "lax.example.com"


def one_header(client_id: str, client_secret: str) -> str:
    return json.dumps({"cf-access-client-id": client_id, "cf-access-client-secret": client_secret})


async def test_authorization_carries_the_one_header_json(world: World) -> None:
    world.app("reports", [HOST], SERVICE_AUTH_ANY, readServiceTokensFromHeader="Authorization")
    tok = world.token("ci-bot")
    status, body, resp = await world.get(
        HOST, headers={"Authorization": one_header(tok.client_id, tok.client_secret)}
    )
    assert status == 200, body
    assert "CF_Authorization" in resp.cookies  # not strict: the cookie flow, as with any header
    seen = world.seen[-1]["headers"]
    assert "Authorization" not in seen
    assert tok.client_secret not in json.dumps(seen)
    # Another shape is no credential: the two headers decide; the origin still does not get it.
    status, _, _ = await world.get(HOST, headers={**tok.headers, "Authorization": "Bearer origin-token"})
    assert status == 200
    assert "Authorization" not in world.seen[-1]["headers"]
    status, body, _ = await world.get(HOST, headers={"Authorization": "Bearer origin-token"})
    assert (status, body) == (401, {"error": "no_credentials"})
    status, body, _ = await world.get(HOST, headers={"Authorization": '{"cf-access-client-id": '})
    assert (status, body) == (401, {"error": "malformed_credentials"})
    assert len(world.seen) == 2


@pytest_asyncio.fixture
async def strict_world(signing_keys: list[SigningKey]) -> AsyncIterator[World]:
    w = World(signing_keys, strict_service_token_auth=True)  # GATEPASS_STRICT_SERVICE_TOKEN_AUTH=true
    await w.start()
    yield w
    await w.stop()


async def test_strict_by_default_unless_the_application_says_otherwise(strict_world: World) -> None:
    world = strict_world
    world.app("reports", [HOST], SERVICE_AUTH_ANY)  # strictServiceTokenAuth unset: the default
    world.app("lax", [LAX_HOST], SERVICE_AUTH_ANY, strictServiceTokenAuth=False)
    tok = world.token("ci-bot")
    status, _, resp = await world.get(HOST, headers=tok.headers)
    assert status == 200
    assert "CF_Authorization" not in resp.cookies
    session = world.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"]  # this application's own JWT
    for alone in ({"Cookie": f"CF_Authorization={session}"}, {"cf-access-token": session}):
        status, body, _ = await world.get(HOST, headers=alone)
        assert (status, body) == (401, {"error": "session_not_accepted"})
    # With credentials the session is ignored: admitted by them, still no cookie.
    status, _, resp = await world.get(HOST, headers={**tok.headers, "Cookie": f"CF_Authorization={session}"})
    assert status == 200
    assert "CF_Authorization" not in resp.cookies
    # The application that says false keeps the cookie flow.
    status, _, resp = await world.get(LAX_HOST, headers=tok.headers)
    assert status == 200
    status, _, _ = await world.get(LAX_HOST, headers={"Cookie": f"CF_Authorization={cookie_value(resp)}"})
    assert status == 200


async def test_an_owner_who_stops_reading_authorization_harvests_nothing(world: World) -> None:
    """The application's owner writes readServiceTokensFromHeader and runs the origin; other
    tenants' clients keep sending the JSON in Authorization after the owner drops it."""
    client = world.token("client", namespace="team-b")
    owners = [{"decision": "serviceAuth", "include": [{"anyServiceToken": {"namespaces": ["team-b"]}}]}]
    world.app("shared", [HOST], owners, namespace="team-evil", readServiceTokensFromHeader="Authorization")
    sent = {"Authorization": one_header(client.client_id, client.client_secret), "X-Kept": "yes"}
    assert (await world.get(HOST, headers=sent))[0] == 200
    assert "Authorization" not in world.seen[-1]["headers"]
    world.app(
        "shared", [HOST], [{"decision": "bypass", "include": [{"everyone": {}}]}], namespace="team-evil"
    )
    assert (await world.get(HOST, headers=sent))[0] == 200
    seen = world.seen[-1]["headers"]
    assert "Authorization" not in seen  # a credential by its content (gateway/strip.py)
    assert client.client_secret not in json.dumps(seen)
    assert seen["X-Kept"] == "yes"
