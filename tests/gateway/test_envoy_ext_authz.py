"""Envoy's HTTP ext_authz against the authorize endpoint: the check request as Envoy's
documentation describes it. Envoy appends the original path (and query) to the
configured path prefix, keeps the original method, sends the original ``:authority``
as Host and only the headers it is told to (here the credentials, plus its own
``x-forwarded-proto`` and ``x-forwarded-for``), with an empty body."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from tests.gateway.conftest import World
from tests.gateway.test_flows import HOST, SERVICE_AUTH_ANY
from tests.gateway.test_paths import ADMIN_ONLY

pytestmark = pytest.mark.asyncio

PREFIX = "/cdn-cgi/access/authorize"
OPEN = [{"name": "open", "decision": "bypass", "include": [{"everyone": {}}]}]


@pytest.fixture
def split_host(world: World) -> World:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    world.app("admin", [f"{HOST}/admin"], ADMIN_ONLY)
    return world


@pytest.fixture
def open_host(world: World) -> World:
    world.app("site", [HOST], OPEN)
    world.app("settings", [f"{HOST}/settings"], ADMIN_ONLY)
    return world


async def envoy_check(
    world: World, original: str, headers: dict[str, str], method: str = "GET", host: str = HOST
) -> tuple[int, Any, dict[str, str]]:
    """The check Envoy sends for a request to ``original`` on ``host``."""
    url = URL(world.url + PREFIX + original, encoded=True)  # the path exactly as the client wrote it
    envoy = {"Host": host, "x-forwarded-proto": "https", "Content-Length": "0", **headers}
    async with world.http.request(method, url, headers=envoy, allow_redirects=False) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body, dict(resp.headers)


async def test_an_envoy_check_is_answered_for_the_original_path_and_never_proxied(split_host: World) -> None:
    ci, admin = split_host.token("ci-bot"), split_host.token("admin-bot")
    status, _, headers = await envoy_check(split_host, "/hello?q=1", ci.headers)
    assert status == 200
    assert headers["Cf-Access-Jwt-Assertion"].count(".") == 2
    assert (await envoy_check(split_host, "/admin/x?y=1", ci.headers))[:2] == (
        403,
        {"error": "not_allowed"},
    )
    assert (await envoy_check(split_host, "/admin/x", admin.headers))[0] == 200
    assert (await envoy_check(split_host, "/", ci.headers))[0] == 200
    status, body, _ = await envoy_check(split_host, "/hello", {})
    assert (status, body) == (401, {"error": "no_credentials"})
    # Envoy keeps the original method: a POST is checked, never run at the origin.
    assert (await envoy_check(split_host, "/hello", ci.headers, method="POST"))[0] == 200
    assert (await envoy_check(split_host, "/admin", ci.headers, method="DELETE"))[0] == 403
    assert split_host.seen == []


@pytest.mark.parametrize(
    ("original", "admin"),
    [
        ("/ADMIN/users", True),
        ("//admin/users", True),
        ("/admin%2fusers", True),
        ("/%61dmin", True),
        ("/admin;jsessionid=1/users", True),
        ("/public/../admin", True),
        ("/public/%2e%2e/admin", True),
        ("/administrator", False),
    ],
)
async def test_the_appended_path_is_read_as_any_original_path(
    split_host: World, original: str, admin: bool
) -> None:
    status, _, _ = await envoy_check(split_host, original, split_host.token("ci-bot").headers)
    assert status == (403 if admin else 200), original


@pytest.mark.parametrize("original", ["/public/..;/admin", "/.;/admin/x", "/x/..%2fadmin"])
async def test_an_appended_path_an_origin_could_read_otherwise_is_refused(
    split_host: World, original: str
) -> None:
    status, body, _ = await envoy_check(split_host, original, split_host.token("admin-bot").headers)
    assert (status, body) == (400, {"error": "ambiguous_path"})


async def test_a_letter_an_origin_folds_does_not_slip_past_in_the_appended_path(
    open_host: World,
) -> None:
    status, body, _ = await envoy_check(open_host, "/%C5%BFettings", {})
    assert (status, body) == (400, {"error": "ambiguous_path"})
    assert (await envoy_check(open_host, "/hello", {}))[0] == 200  # the open site: a bypass


async def test_a_forwarded_uri_header_must_name_the_appended_path(split_host: World) -> None:
    """A header some client slipped through Envoy's header list cannot move the check."""
    ci = split_host.token("ci-bot")
    forged = {"X-Forwarded-Uri": "/hello", **ci.headers}
    status, body, _ = await envoy_check(split_host, "/admin/x", forged)
    assert (status, body) == (400, {"error": "ambiguous_path"})
    status, body, _ = await envoy_check(split_host, "/hello", {"X-Original-URI": "/admin", **ci.headers})
    assert (status, body) == (400, {"error": "ambiguous_path"})
    same = {"X-Forwarded-Uri": "/hello?other=1", **ci.headers}
    assert (await envoy_check(split_host, "/hello?q=1", same))[0] == 200


async def test_the_host_is_the_original_authority_or_x_forwarded_host(split_host: World) -> None:
    ci = split_host.token("ci-bot")
    assert (await envoy_check(split_host, "/hello", ci.headers, host="elsewhere.test"))[0] == 404
    moved = {"X-Forwarded-Host": HOST, **ci.headers}
    assert (await envoy_check(split_host, "/hello", moved, host="gatepass.internal"))[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/CDN-CGI/access/authorize/hello",
        "/cdn-cgi/access/authorize%2Fhello",
        "//cdn-cgi/access/authorize/hello",
        "/x/../cdn-cgi/access/authorize/hello",
        "/cdn-cgi/access;x/authorize/hello",
        "/cdn-cgi/access/%61uthorize/hello",
    ],
)
async def test_no_spelling_of_the_endpoint_is_proxied_to_the_origin(split_host: World, path: str) -> None:
    """A check proxied to the origin would run the original request there a second time."""
    url = URL(split_host.url + path, encoded=True)
    headers = {"Host": HOST, **split_host.token("admin-bot").headers}
    async with split_host.http.post(url, headers=headers, allow_redirects=False) as resp:
        assert resp.status in (200, 400), path
        if resp.status == 400:
            assert await resp.json() == {"error": "ambiguous_path"}
        else:
            assert "Cf-Access-Jwt-Assertion" in resp.headers  # answered by the endpoint itself
    assert split_host.seen == []
