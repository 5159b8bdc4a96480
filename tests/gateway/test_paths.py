"""Applications on paths of one host, through the gateway over real HTTP: the longest
destination wins on whole segments, whatever spelling a client tries."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from tests.gateway.conftest import World
from tests.gateway.test_flows import HOST, SERVICE_AUTH_ANY, cookie_value

pytestmark = pytest.mark.asyncio

ADMIN_ONLY = [
    {"name": "admins", "decision": "serviceAuth", "include": [{"serviceToken": {"name": "admin-bot"}}]}
]


async def raw_get(world: World, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """A GET with the path exactly as written (no client-side normalization)."""
    url = URL(world.url + path, encoded=True)
    async with world.http.get(url, headers={"Host": HOST, **headers}, allow_redirects=False) as resp:
        return resp.status, await resp.json()


@pytest.fixture
def split_host(world: World) -> World:
    world.app("reports", [HOST], SERVICE_AUTH_ANY)
    world.app("admin", [f"{HOST}/admin"], ADMIN_ONLY)
    return world


@pytest.mark.parametrize(
    ("path", "admin"),
    [
        ("/admin", True),
        ("/admin/", True),
        ("/admin/users?x=1", True),
        ("/ADMIN/users", True),
        ("//admin/users", True),
        ("/admin%2fusers", True),
        ("/%61dmin", True),
        ("/admin;jsessionid=1/users", True),
        ("/public/../admin", True),
        ("/public/%2e%2e/admin", True),
        ("/administrator", False),
        ("/hello", False),
        ("/", False),
    ],
)
async def test_a_path_goes_to_the_most_specific_application_however_it_is_spelled(
    split_host: World, path: str, admin: bool
) -> None:
    ci = split_host.token("ci-bot")
    status, _ = await raw_get(split_host, path, ci.headers)
    assert status == (403 if admin else 200)
    admin_bot = split_host.token("admin-bot")
    status, _ = await raw_get(split_host, path, admin_bot.headers)
    assert status == 200  # admin-bot is a service token: the whole host admits it too


async def test_the_origin_gets_the_path_as_it_was_matched(split_host: World) -> None:
    admin_bot = split_host.token("admin-bot")
    status, body = await raw_get(split_host, "/public/../admin/users?q=1", admin_bot.headers)
    assert status == 200
    assert body["path"] == "/base/admin/users?q=1"


@pytest.mark.parametrize("path", ["/public/..;/admin", "/.;/admin/x", "/x/..%2fadmin"])
async def test_a_path_an_origin_could_read_otherwise_is_refused(split_host: World, path: str) -> None:
    status, body = await raw_get(split_host, path, split_host.token("ci-bot").headers)
    assert (status, body) == (400, {"error": "ambiguous_path"})
    assert split_host.seen == []


async def test_each_application_keeps_its_own_cookie(split_host: World) -> None:
    bot = split_host.token("admin-bot")
    _, _, whole = await split_host.get(HOST, "/hello", headers=bot.headers)
    _, _, admin = await split_host.get(HOST, "/admin/x", headers=bot.headers)
    assert whole.cookies["CF_Authorization"]["path"] == "/"
    assert admin.cookies["CF_Authorization"]["path"] == "/admin"
    # A client sends both under /admin (the more specific first), only one elsewhere;
    # each application finds its own among them, whatever the order.
    both = [cookie_value(admin), cookie_value(whole)]
    for cookies in (both, both[::-1]):
        header = "; ".join(f"CF_Authorization={c}" for c in cookies)
        status, _, resp = await split_host.get(HOST, "/admin/x", headers={"Cookie": header})
        assert status == 200
        assert "CF_Authorization" not in resp.cookies  # a session was accepted: nothing minted
    status, _, _ = await split_host.get(HOST, "/hello", headers={"Cookie": f"CF_Authorization={both[1]}"})
    assert status == 200
    # The whole host's session does not open the admin application.
    status, body, _ = await split_host.get(
        HOST, "/admin/x", headers={"Cookie": f"CF_Authorization={both[1]}"}
    )
    assert (status, body) == (401, {"error": "wrong_audience"})


async def test_forward_auth_checks_the_original_path(split_host: World) -> None:
    ci = split_host.token("ci-bot")
    authorize = "/cdn-cgi/access/authorize"
    for uri, status in (("/hello", 200), ("/admin/x?y=1", 403), ("//admin", 403), ("/administrator", 200)):
        got, _, _ = await split_host.get(HOST, authorize, headers={"X-Forwarded-Uri": uri, **ci.headers})
        assert got == status, uri
    got, _, _ = await split_host.get(HOST, authorize, headers={"X-Original-URI": "/admin", **ci.headers})
    assert got == 403
    # Without the original path, a host with applications on paths cannot be checked.
    got, body, _ = await split_host.get(HOST, authorize, headers=ci.headers)
    assert (got, body) == (400, {"error": "missing_forwarded_uri"})


async def test_a_host_with_only_paths_answers_nothing_else(world: World) -> None:
    world.app("api", [f"{HOST}/v1"], SERVICE_AUTH_ANY)
    ci = world.token("ci-bot")
    assert (await world.get(HOST, "/v1/x", headers=ci.headers))[0] == 200
    status, body, _ = await world.get(HOST, "/v2/x", headers=ci.headers)
    assert (status, body) == (404, {"error": "unknown_host"})


@pytest.fixture
def open_host(world: World) -> World:
    """A public site, with its settings protected (the issue's neighbouring bypass)."""
    world.app("site", [HOST], [{"name": "open", "decision": "bypass", "include": [{"everyone": {}}]}])
    world.app("settings", [f"{HOST}/settings", f"{HOST}/admin/audit", f"{HOST}/profile"], ADMIN_ONLY)
    return world


@pytest.mark.parametrize(
    "path",
    [
        "/%C5%BFettings",  # long s: .NET, Java, Go and Python (casefold) origins read /settings
        "/%C5%BFETTINGS/x",
        "/settings/../%C5%BFettings",
        "/admin/aud%C4%B1t",  # dotless i: /admin/audit to .NET and Java
        "/admin/aud%C4%B0t",  # capital I with dot: /admin/audit to Java's equalsIgnoreCase
        "/pro%EF%AC%81le",  # the fi ligature: /profile to Python's casefold
    ],
)
async def test_a_letter_an_origin_folds_into_ascii_does_not_slip_past_an_application(
    open_host: World, path: str
) -> None:
    assert await raw_get(open_host, path, {}) == (400, {"error": "ambiguous_path"})
    authorize = "/cdn-cgi/access/authorize"
    status, body, _ = await open_host.get(HOST, authorize, headers={"X-Forwarded-Uri": path})
    assert (status, body) == (400, {"error": "ambiguous_path"})
    assert open_host.seen == []  # never reached the origin


async def test_a_non_ascii_letter_that_moves_no_request_is_routed_as_usual(open_host: World) -> None:
    assert (await raw_get(open_host, "/stra%C3%9Fe", {}))[0] == 200  # sharp s: no /strasse here
    assert (await raw_get(open_host, "/%C5%BFettings-help", {}))[0] == 200  # no application's segment
    assert (await raw_get(open_host, "/%E2%84%AAeys", {}))[0] == 200  # Kelvin sign: plain k, no /keys
    assert (await raw_get(open_host, "/%E2%84%AAEYS/../settings", {}))[0] == 401  # resolved first
