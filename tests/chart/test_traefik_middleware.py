"""The chart's Traefik Middleware (traefik.middleware.*): gatepass as Traefik's forward-auth.
tests/e2e/test_traefik.py proves it in pods; these pin what it renders."""

from __future__ import annotations

from typing import Any

from tests.support.chart import NAMESPACE, objects, template

ON = ["--set", "traefik.middleware.enabled=true"]


def middlewares(helm: str, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]
        for d in objects(helm, *args)
        if d["kind"] == "Middleware"
    }


def test_off_by_default(helm: str) -> None:
    assert middlewares(helm) == {}


def test_one_middleware_chains_the_gateways_authorize_then_drops_the_credentials(helm: str) -> None:
    got = middlewares(helm, *ON)
    assert set(got) == {(NAMESPACE, n) for n in ("gatepass", "gatepass-authorize", "gatepass-strip")}
    chain = got[(NAMESPACE, "gatepass")]["chain"]["middlewares"]
    assert [m["name"] for m in chain] == ["gatepass-authorize", "gatepass-strip"]  # ask, then strip
    auth = got[(NAMESPACE, "gatepass-authorize")]["forwardAuth"]
    assert auth["address"] == f"http://gp-gateway.{NAMESPACE}.svc.cluster.local/cdn-cgi/access/authorize"
    assert auth["trustForwardHeader"] is False  # the client never chooses X-Forwarded-For
    assert auth["authResponseHeaders"] == ["Cf-Access-Jwt-Assertion"]
    assert auth["addAuthCookiesToResponse"] == ["CF_Authorization"]
    strip = got[(NAMESPACE, "gatepass-strip")]["headers"]["customRequestHeaders"]
    assert strip == {"CF-Access-Client-Id": "", "CF-Access-Client-Secret": "", "Cf-Access-Token": ""}


def test_rendered_in_each_namespace_routes_use_with_their_own_names(helm: str) -> None:
    got = middlewares(
        helm,
        *ON,
        "--set", "traefik.middleware.namespaces={team-a,team-b}",
        "--set", "traefik.middleware.name=access",
        "--set", "traefik.middleware.stripRequestHeaders={CF-Access-Client-Secret,Authorization}",
        "--set", "gateway.clusterDomain=corp.internal",
    )  # fmt: skip
    assert {ns for ns, _ in got} == {"team-a", "team-b"}
    assert [m["name"] for m in got[("team-b", "access")]["chain"]["middlewares"]] == [
        "access-authorize",
        "access-strip",
    ]
    address = got[("team-a", "access-authorize")]["forwardAuth"]["address"]
    assert address == f"http://gp-gateway.{NAMESPACE}.svc.corp.internal/cdn-cgi/access/authorize"
    assert got[("team-a", "access-strip")]["headers"]["customRequestHeaders"] == {
        "CF-Access-Client-Secret": "",
        "Authorization": "",
    }


def test_the_schema_refuses_a_header_name_that_is_no_header(helm: str) -> None:
    bad = template(helm, *ON, "--set", "traefik.middleware.stripRequestHeaders={a b}", check=False)
    assert bad.returncode != 0
    assert "stripRequestHeaders" in bad.stderr
