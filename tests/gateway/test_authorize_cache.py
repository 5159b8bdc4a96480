"""What a proxy may reuse of a forward-auth answer (gateway/reuse.py): an admission by a
session, for that session, within the bound and never past the session's exp; nothing
else, ever."""

from __future__ import annotations

import math
from typing import Any

import jwt
import pytest

from gatepass.gateway.reuse import VARY
from gatepass.trust.signing import SigningKey
from tests.gateway.conftest import World

HOST = "reports.example.com"
ANY = [{"name": "ci", "decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}]
AUTHORIZE = "/cdn-cgi/access/authorize"
pytestmark = pytest.mark.asyncio
FWD = {"Host": "gateway.internal", "X-Forwarded-Host": HOST, "X-Forwarded-Uri": "/private"}


async def check(world: World, headers: dict[str, str]) -> tuple[int, dict[str, str], str | None]:
    async with world.http.get(world.url + AUTHORIZE, headers={**FWD, **headers}) as resp:
        cookie = resp.cookies.get("CF_Authorization")
        return resp.status, dict(resp.headers), None if cookie is None else cookie.value


async def session(world: World, **spec: Any) -> tuple[str, dict[str, str]]:
    """A session cookie, from the token's credentials; and those credentials."""
    tok = world.token("ci-bot", spec=spec or None)
    status, headers, cookie = await check(world, tok.headers)
    assert status == 200
    assert cookie is not None
    assert headers["Cache-Control"] == "no-store"  # credentials: never reused
    assert "X-Accel-Expires" not in headers
    return cookie, tok.headers


async def test_a_session_admission_is_reusable_for_the_bound_and_that_session(world: World) -> None:
    world.app("reports", [HOST], ANY)
    cookie, _ = await session(world)
    for presented in ({"Cookie": f"CF_Authorization={cookie}"}, {"cf-access-token": cookie}):
        status, headers, _ = await check(world, presented)
        assert status == 200
        assert headers["Cache-Control"] == "private, max-age=1"
        assert headers["X-Accel-Expires"] == f"@{math.floor(world.clock.now)}"  # the second it was in
        assert headers["Vary"] == VARY
        assert "Set-Cookie" not in headers


async def test_refusals_bypasses_and_credentials_are_never_reusable(world: World) -> None:
    world.app("reports", [HOST], ANY)
    world.app("open", ["open.example.com"], [{"decision": "bypass", "include": [{"everyone": {}}]}])
    cookie, creds = await session(world)
    refused = [
        {},  # nobody
        {"Cookie": "CF_Authorization=" + cookie[:-2] + "xx"},  # an altered session
        {**creds, "CF-Access-Client-Secret": "wrong"},
        {**creds, "Cookie": f"CF_Authorization={cookie}", "CF-Access-Client-Secret": "wrong"},
    ]
    for headers in refused:
        status, answer, _ = await check(world, headers)
        assert status == 401, headers
        assert answer["Cache-Control"] == "no-store"
        assert "X-Accel-Expires" not in answer
    status, answer, _ = await check(world, {**creds, "Cookie": f"CF_Authorization={cookie}"})
    assert (status, answer["Cache-Control"]) == (200, "no-store")  # credentials decide
    bypass = {"X-Forwarded-Host": "open.example.com", "Cookie": f"CF_Authorization={cookie}"}
    status, answer, _ = await check(world, bypass)
    assert (status, answer["Cache-Control"]) == (200, "no-store")


async def test_a_forbidden_session_is_not_reusable(world: World) -> None:
    world.app("reports", [HOST], ANY)
    cookie, _ = await session(world)
    other = [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "other"}}]}]
    world.app("reports", [HOST], other)
    status, answer, _ = await check(world, {"Cookie": f"CF_Authorization={cookie}"})
    assert (status, answer["Cache-Control"]) == (403, "no-store")


async def test_a_rate_limited_session_is_counted_every_time(world: World) -> None:
    world.app("reports", [HOST], ANY)
    cookie, _ = await session(world, rateLimit={"requestsPerSecond": 100, "burst": 100})
    status, answer, _ = await check(world, {"Cookie": f"CF_Authorization={cookie}"})
    assert (status, answer["Cache-Control"]) == (200, "no-store")


@pytest.mark.parametrize("bound", [5])
async def test_never_reusable_past_the_sessions_exp(signing_keys: list[SigningKey], bound: int) -> None:
    world = World(signing_keys, authorize_cache_seconds=bound)
    await world.start()
    try:
        world.app("reports", [HOST], ANY)
        cookie, _ = await session(world)
        exp = jwt.decode(cookie, options={"verify_signature": False})["exp"]
        sent = {"Cookie": f"CF_Authorization={cookie}"}
        world.clock.now = exp - 3.4
        status, answer, _ = await check(world, sent)
        assert status == 200
        assert answer["Cache-Control"] == "private, max-age=3"
        assert answer["X-Accel-Expires"] == f"@{exp - 1}"  # nginx keeps it until exp, no later
        world.clock.now = exp - 0.6  # less than a second left: nothing to reuse
        status, answer, _ = await check(world, sent)
        assert (status, answer["Cache-Control"]) == (200, "no-store")
    finally:
        await world.stop()


async def test_a_bound_of_zero_turns_reuse_off(signing_keys: list[SigningKey]) -> None:
    world = World(signing_keys, authorize_cache_seconds=0)
    await world.start()
    try:
        world.app("reports", [HOST], ANY)
        cookie, _ = await session(world)
        status, answer, _ = await check(world, {"Cookie": f"CF_Authorization={cookie}"})
        assert (status, answer["Cache-Control"]) == (200, "no-store")
    finally:
        await world.stop()
