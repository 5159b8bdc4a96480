"""IP rules through the gateway over real HTTP: the address is the connection's, or the
one a trusted proxy put in X-Forwarded-For; never what a client writes there itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gatepass.trust.signing import SigningKey
from tests.gateway.conftest import World
from tests.gateway.test_flows import HOST

pytestmark = pytest.mark.asyncio

LOOPBACK = {"ip": {"ranges": ["127.0.0.0/8"]}}
OFFICE = {"ip": {"ranges": ["203.0.113.0/24"]}}
TOKEN_CI = {"serviceToken": {"name": "ci-bot"}}


@pytest_asyncio.fixture
async def behind_proxy(signing_keys: list[SigningKey]) -> AsyncIterator[World]:
    """The test client plays a trusted proxy on loopback."""
    w = World(signing_keys, trusted_proxies=["127.0.0.1"])
    await w.start()
    yield w
    await w.stop()


async def test_bypass_by_address_needs_no_credentials(world: World) -> None:
    world.app("reports", [HOST], [{"decision": "bypass", "include": [LOOPBACK]}])
    status, _, _ = await world.get(HOST)
    assert status == 200
    assert "Cf-Access-Jwt-Assertion" not in world.seen[-1]["headers"]


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(world: World) -> None:
    world.app("reports", [HOST], [{"decision": "bypass", "include": [OFFICE]}])
    status, body, _ = await world.get(HOST, headers={"X-Forwarded-For": "203.0.113.9"})
    assert (status, body) == (401, {"error": "no_credentials"})


async def test_a_token_required_to_come_from_an_address(behind_proxy: World) -> None:
    w = behind_proxy
    w.app("reports", [HOST], [{"decision": "serviceAuth", "include": [TOKEN_CI], "require": [OFFICE]}])
    ci = w.token("ci-bot")
    status, _, _ = await w.get(HOST, headers={"X-Forwarded-For": "203.0.113.9", **ci.headers})
    assert status == 200
    status, body, _ = await w.get(HOST, headers={"X-Forwarded-For": "198.51.100.1", **ci.headers})
    assert (status, body) == (403, {"error": "not_allowed"})
    # A client's own entry stays on the left, where it is never read.
    forged = {"X-Forwarded-For": "203.0.113.9, 198.51.100.1", **ci.headers}
    assert (await w.get(HOST, headers=forged))[0] == 403
    # The same applies to a session JWT: the address is checked on every request.
    _, _, resp = await w.get(HOST, headers={"X-Forwarded-For": "203.0.113.9", **ci.headers})
    cookie = {"Cookie": f"CF_Authorization={resp.cookies['CF_Authorization'].value}"}
    assert (await w.get(HOST, headers={"X-Forwarded-For": "198.51.100.1", **cookie}))[0] == 403
    assert (await w.get(HOST, headers={"X-Forwarded-For": "203.0.113.9", **cookie}))[0] == 200


async def test_a_deny_by_address(behind_proxy: World) -> None:
    w = behind_proxy
    w.app(
        "reports",
        [HOST],
        [{"decision": "deny", "include": [OFFICE]}, {"decision": "bypass", "include": [LOOPBACK]}],
    )
    assert (await w.get(HOST))[0] == 200  # from the proxy itself: loopback
    status, body, _ = await w.get(HOST, headers={"X-Forwarded-For": "203.0.113.9"})
    assert (status, body) == (403, {"error": "denied_by_policy"})


async def test_garbage_from_a_trusted_proxy_is_a_400(behind_proxy: World) -> None:
    w = behind_proxy
    w.app("reports", [HOST], [{"decision": "bypass", "include": [OFFICE]}])
    status, body, _ = await w.get(HOST, headers={"X-Forwarded-For": "not-an-address"})
    assert (status, body) == (400, {"error": "malformed_forwarded_for"})
    assert w.seen == []


async def test_get_identity_reports_the_client_address(behind_proxy: World) -> None:
    w = behind_proxy
    w.app("reports", [HOST], [{"decision": "serviceAuth", "include": [TOKEN_CI]}])
    ci = w.token("ci-bot")
    headers = {"X-Forwarded-For": "198.51.100.1", **ci.headers}
    status, body, _ = await w.get(HOST, "/cdn-cgi/access/get-identity", headers=headers)
    assert status == 200
    assert isinstance(body, dict)
    assert body["ip"] == "198.51.100.1"
