"""Per-token rate limits through the gateway: 429 with Retry-After, before any JWT."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from tests.gateway.conftest import World

pytestmark = pytest.mark.asyncio

HOST = "reports.example.com"
ANY = [{"name": "ci", "decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}]


async def test_over_its_limit_a_token_gets_429_with_retry_after(world: World) -> None:
    world.app("reports", [HOST], ANY)
    tok = world.token("ci-bot", spec={"rateLimit": {"requestsPerSecond": 0.5, "burst": 2}})
    assert [(await world.get(HOST, headers=tok.headers))[0] for _ in range(2)] == [200, 200]
    status, body, resp = await world.get(HOST, headers=tok.headers)
    assert (status, body) == (429, {"error": "rate_limited"})
    assert resp.headers["Retry-After"] == "2"  # one request back after 1 / 0.5 s
    assert "CF_Authorization" not in resp.cookies  # refused before any JWT was minted
    assert len(world.seen) == 2  # the origin saw only what was allowed
    world.clock.now += 2
    assert (await world.get(HOST, headers=tok.headers))[0] == 200
    assert (
        'gatepass_gateway_rate_limited_total{name="ci-bot",namespace="team-a"} 1.0'
        in generate_latest().decode()
    )


async def test_get_identity_counts_against_the_limit_too(world: World) -> None:
    """An unlimited side door would let a client (or a replaying origin) probe as often as it
    likes: get-identity spends the same bucket."""
    world.app("reports", [HOST], ANY)
    tok = world.token("ci-bot", spec={"rateLimit": {"requestsPerSecond": 0.5, "burst": 2}})
    path = "/cdn-cgi/access/get-identity"
    answers = [(await world.get(HOST, path, headers=tok.headers))[:2] for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    assert answers[2][1] == {"error": "rate_limited"}
    assert (await world.get(HOST, headers=tok.headers))[0] == 429  # one bucket with the app's requests


async def test_a_session_counts_like_credentials(world: World) -> None:
    world.app("reports", [HOST], ANY)
    tok = world.token("ci-bot", spec={"rateLimit": {"requestsPerSecond": 1, "burst": 1}})
    _, _, resp = await world.get(HOST, headers=tok.headers)
    cookie = {"Cookie": f"CF_Authorization={resp.cookies['CF_Authorization'].value}"}
    assert (await world.get(HOST, headers=cookie))[0] == 429


async def test_an_origin_replaying_its_assertion_spends_the_token_only_at_its_own_application(
    world: World,
) -> None:
    """team-b's partner application admits team-a's tokens; its origin keeps the assertion
    a client sent it and replays it, over and over, later on."""
    world.app("reports", [HOST], ANY)  # the token's own team's application
    partner = [{"decision": "serviceAuth", "include": [{"anyServiceToken": {"namespaces": ["team-a"]}}]}]
    world.app("partner", ["partner.example.com"], partner, namespace="team-b")
    tok = world.token("ci-bot", spec={"rateLimit": {"requestsPerSecond": 0.001, "burst": 3}})
    assert (await world.get("partner.example.com", headers=tok.headers))[0] == 200
    minted = world.clock.now
    stolen = {"cf-access-token": world.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"]}
    world.last_seen.take()
    world.clock.now += 600  # a request per 1000 s: not one more yet
    replays = [(await world.get("partner.example.com", headers=stolen))[0] for _ in range(3)]
    assert replays == [200, 200, 429]  # its bucket at partner: spent
    # Bound to the application it was minted for: no use anywhere else...
    assert (await world.get(HOST, headers=stolen))[:2] == (401, {"error": "wrong_audience"})
    # ...and the token's own application still has the token's whole burst.
    assert [(await world.get(HOST, headers=tok.headers))[0] for _ in range(3)] == [200, 200, 200]
    assert (await world.get(HOST, headers=tok.headers))[0] == 429
    # The replays do not make the token look used after its client last authenticated.
    ((key, (at, app, _)),) = world.last_seen.take().items()
    assert (key, at, app) == ((("team-a", "ci-bot"), False), world.clock.now, "team-a/reports")
    world.clock.now += 1000
    assert (await world.get("partner.example.com", headers=stolen))[0] == 200  # refilled: one more
    ((_, (at, app, _)),) = world.last_seen.take().items()
    assert (int(at), app) == (int(minted), "team-b/partner")  # when it was minted, not now
    world.clock.now += 1000  # get-identity spends the same bucket: let one more refill
    identity = await world.get("partner.example.com", "/cdn-cgi/access/get-identity", headers=stolen)
    assert identity[0] == 200
    ((_, (at, _, _)),) = world.last_seen.take().items()
    assert int(at) == int(minted)  # get-identity neither


async def test_a_token_may_ask_for_one_bucket_across_applications(world: World) -> None:
    world.app("reports", [HOST], ANY)
    world.app("other", ["other.example.com"], ANY)
    shared = {"requestsPerSecond": 0.001, "burst": 2, "scope": "Token"}
    tok = world.token("ci-bot", spec={"rateLimit": shared})
    assert (await world.get(HOST, headers=tok.headers))[0] == 200
    assert (await world.get("other.example.com", headers=tok.headers))[0] == 200
    assert (await world.get(HOST, headers=tok.headers))[0] == 429
    assert (await world.get("other.example.com", headers=tok.headers))[0] == 429


async def test_an_applications_default_limits_each_token_there(world: World) -> None:
    world.app("reports", [HOST], ANY, tokenRateLimit={"requestsPerSecond": 1, "burst": 1})
    world.app("other", ["other.example.com"], ANY)
    one, two = world.token("one"), world.token("two")
    assert (await world.get(HOST, headers=one.headers))[0] == 200
    assert (await world.get(HOST, headers=one.headers))[0] == 429
    assert (await world.get(HOST, headers=two.headers))[0] == 200  # its own bucket
    assert (await world.get("other.example.com", headers=one.headers))[0] == 200  # no limit there
    own = world.token("own", spec={"rateLimit": {"requestsPerSecond": 100, "burst": 3}})
    assert [(await world.get(HOST, headers=own.headers))[0] for _ in range(3)] == [200] * 3  # its own wins
