"""The API server rejects bad AccessApplications, naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.apps import ANY_TOKEN, Apps

ROUTE_REF = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "web"}
OK: dict[str, Any] = {"hosts": ["app.example.com"], "upstream": "http://svc.ns:8080", "policies": ANY_TOKEN}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no hosts", {"hosts": []}, "spec.hosts"),
    (
        "token rate limit of zero",
        {"tokenRateLimit": {"requestsPerSecond": 0}},
        "spec.tokenRateLimit.requestsPerSecond",
    ),
    ("host with port", {"hosts": ["app.example.com:443"]}, "spec.hosts[0]"),
    ("host with scheme", {"hosts": ["https://app.example.com"]}, "spec.hosts[0]"),
    ("upper-case host", {"hosts": ["App.example.com"]}, "spec.hosts[0]"),
    ("path with a trailing slash", {"hosts": ["app.example.com/admin/"]}, "spec.hosts[0]: Invalid value"),
    ("path with an empty segment", {"hosts": ["app.example.com//admin"]}, "no empty segment"),
    (
        "path with a query",
        {"hosts": ["app.example.com/admin?x=1"]},
        "no empty segment, trailing slash, query",
    ),
    ("path percent-encoded", {"hosts": ["app.example.com/%61dmin"]}, "percent-encoding"),
    ("path with parameters", {"hosts": ["app.example.com/admin;x"]}, "spec.hosts[0]"),
    ("path with a dot-segment", {"hosts": ["app.example.com/a/../admin"]}, "'.' or '..' segments"),
    ("host name too long", {"hosts": ["a" * 254 + "/x"]}, "at most 253 characters"),
    ("wildcard in an inner host label", {"hosts": ["app.*.example.com"]}, "spec.hosts[0]: Invalid value"),
    (
        "wildcard in an inner host label, named",
        {"hosts": ["ok.example.com", "a.*.example.com"]},
        "spec.hosts[1]",
    ),
    ("wildcard in two host labels", {"hosts": ["*.*.example.com"]}, "only in the leftmost label"),
    ("two wildcards in one host label", {"hosts": ["a*b*.example.com"]}, "only in the leftmost label"),
    ("wildcard over a top-level domain", {"hosts": ["*.com"]}, "at least two labels"),
    ("wildcard for every host", {"hosts": ["*"]}, "spec.hosts[0]"),
    ("two wildcards in one path segment", {"hosts": ["app.example.com/foo*bar*baz"]}, "at most one '*'"),
    ("upstream not a URL", {"upstream": "svc:8080"}, "spec.upstream"),
    ("upstream of another scheme", {"upstream": "ftp://files"}, "spec.upstream"),
    ("session too long", {"sessionDuration": "1000h"}, "spec.sessionDuration"),
    ("session not a duration", {"sessionDuration": "1 day"}, "spec.sessionDuration"),
    (
        "unknown decision",
        {"policies": [{"decision": "allow", "include": [{"everyone": {}}]}]},
        "spec.policies[0].decision",
    ),
    (
        "policy without include",
        {"policies": [{"decision": "deny"}]},
        "a policy needs decision and include, or a policyRef",
    ),
    (
        "rule naming two things",
        {"policies": [{"decision": "deny", "include": [{"everyone": {}, "anyServiceToken": {}}]}]},
        "spec.policies[0].include[0]",
    ),
    ("empty rule", {"policies": [{"decision": "deny", "include": [{}]}]}, "spec.policies[0].include[0]"),
    (
        "serviceAuth for everyone",
        {"policies": [{"decision": "serviceAuth", "include": [{"everyone": {}}]}]},
        "serviceAuth policy cannot include everyone",
    ),
    ("unknown field", {"colour": "red"}, 'unknown field "spec.colour"'),
    ("strict mode not a boolean", {"strictServiceTokenAuth": "yes"}, "spec.strictServiceTokenAuth"),
    (
        "credentials header not a header name",
        {"readServiceTokensFromHeader": "X Access"},
        "spec.readServiceTokensFromHeader",
    ),
    ("credentials header empty", {"readServiceTokensFromHeader": ""}, "spec.readServiceTokensFromHeader"),
    (
        "credentials header is the cookie",
        {"readServiceTokensFromHeader": "Cookie"},
        "spec.readServiceTokensFromHeader",
    ),
    (
        "credentials header is Cloudflare's secret header, CGI spelling",
        {"readServiceTokensFromHeader": "CF_ACCESS_CLIENT_SECRET"},
        "spec.readServiceTokensFromHeader",
    ),
    (
        "credentials header is Proxy-Authorization",
        {"readServiceTokensFromHeader": "Proxy-Authorization"},
        "spec.readServiceTokensFromHeader",
    ),
    ("basic auth not a boolean", {"allowBasicAuth": 1}, "spec.allowBasicAuth"),
    (
        "ip range not a CIDR",
        {"policies": [{"decision": "bypass", "include": [{"ip": {"ranges": ["10.0.0.0/33"]}}]}]},
        "spec.policies[0].include[0].ip.ranges[0]: Invalid value",
    ),
    (
        "ip rule without ranges",
        {"policies": [{"decision": "bypass", "include": [{"ip": {}}]}]},
        "spec.policies[0].include[0].ip.ranges",
    ),
    (
        "serviceAuth including an address range",
        {"policies": [{"decision": "serviceAuth", "include": [{"ip": {"ranges": ["10.0.0.0/8"]}}]}]},
        "a serviceAuth policy cannot include ip",
    ),
    (
        "rule naming an address range and a token",
        {"policies": [{"decision": "deny", "include": [{"ip": {"ranges": ["::1"]}, "everyone": {}}]}]},
        "exactly one of serviceToken, anyServiceToken, serviceAccount, anyServiceAccount, everyone, ip",
    ),
    (
        "rule naming a token and an account",
        {
            "policies": [
                {
                    "decision": "serviceAuth",
                    "include": [{"serviceToken": {"name": "a"}, "serviceAccount": {"name": "a"}}],
                }
            ]
        },
        "exactly one of serviceToken",
    ),
    (
        "account rule without a name",
        {"policies": [{"decision": "serviceAuth", "include": [{"serviceAccount": {}}]}]},
        "spec.policies[0].include[0].serviceAccount.name: Required",
    ),
    (
        "account name not a Kubernetes name",
        {"policies": [{"decision": "serviceAuth", "include": [{"serviceAccount": {"name": "Bad_Name"}}]}]},
        "serviceAccount.name must be a ServiceAccount name",
    ),
    (
        "account namespace not a namespace name",
        {
            "policies": [
                {
                    "decision": "serviceAuth",
                    "include": [{"serviceAccount": {"name": "a", "namespace": "x.y"}}],
                }
            ]
        },
        "serviceAccount.namespace must be a namespace name",
    ),
    (
        "token rule without a name",
        {"policies": [{"decision": "deny", "include": [{"serviceToken": {}}]}]},
        "name",
    ),
    ("session under a minute, not 0", {"sessionDuration": "30s"}, "spec.sessionDuration"),
    ("session a bare number", {"sessionDuration": "5"}, "spec.sessionDuration"),
    (
        "policy session too long",
        {"policies": [{**ANY_TOKEN[0], "sessionDuration": "1000h"}]},
        "spec.policies[0].sessionDuration",
    ),
    (
        "policy session 0",
        {"policies": [{**ANY_TOKEN[0], "sessionDuration": "0s"}]},
        "spec.policies[0].sessionDuration",
    ),
    (
        "policy session not a duration",
        {"policies": [{**ANY_TOKEN[0], "sessionDuration": "1 day"}]},
        "spec.policies[0].sessionDuration",
    ),
    (
        "policy session where the application keeps none",
        {"sessionDuration": "0", "policies": [{**ANY_TOKEN[0], "sessionDuration": "1h"}]},
        "a policy's sessionDuration cannot be set where spec.sessionDuration is 0",
    ),
    ("sameSite of another spelling", {"sameSite": "lax"}, "spec.sameSite"),
    ("httpOnly not a boolean", {"httpOnly": "no"}, "spec.httpOnly"),
    ("pathScoped not a boolean", {"pathScoped": "no"}, "spec.pathScoped"),
    (
        "target ref of another kind",
        {"targetRefs": [{**ROUTE_REF, "kind": "GRPCRoute"}]},
        "spec.targetRefs[0].kind",
    ),
    (
        "target ref of another group",
        {"targetRefs": [{**ROUTE_REF, "group": "networking.k8s.io"}]},
        "spec.targetRefs[0].group",
    ),
    (
        "target ref to another namespace",
        {"targetRefs": [{**ROUTE_REF, "namespace": "team-b"}]},
        "targetRefs cannot name another namespace",
    ),
    (
        "target ref named twice",
        {"targetRefs": [ROUTE_REF, {**ROUTE_REF}]},
        "spec.targetRefs must not name the same route (and sectionName) twice",
    ),
    (
        "target ref name not a name",
        {"targetRefs": [{**ROUTE_REF, "name": "Bad_Name"}]},
        "targetRefs name must be an HTTPRoute name",
    ),
    ("no target refs", {"targetRefs": []}, "spec.targetRefs"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD, ids=[c for c, _, _ in BAD])
def test_bad_application_is_rejected(
    api: client.ApiClient, crds: None, namespace: str, case: str, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiException) as err:
        Apps(api, namespace).create("bad", {**OK, **change})
    assert err.value.status in (400, 422)
    assert message in json.loads(err.value.body)["message"]


def test_an_application_needs_hosts_or_target_refs(api: client.ApiClient, crds: None, namespace: str) -> None:
    apps = Apps(api, namespace)
    bare = {k: v for k, v in OK.items() if k != "hosts"}
    with pytest.raises(ApiException) as err:
        apps.create("bare", bare)
    assert (
        "spec.hosts or spec.targetRefs must name at least one destination"
        in json.loads(err.value.body)["message"]
    )
    apps.create("routed", {**bare, "targetRefs": [ROUTE_REF, {**ROUTE_REF, "sectionName": "api"}]})


def test_status_route_hosts_are_checked_as_spec_hosts_are(
    api: client.ApiClient, crds: None, namespace: str
) -> None:
    """Status is often the tenant's to write: what it may write there is what spec.hosts may hold."""
    apps = Apps(api, namespace)
    apps.create("app", OK)
    for bad, message in (
        ("https://app.example.com", "status.routes hosts must be a lowercase DNS name"),
        ("a.*.example.com", "status.routes[0].hosts[0]"),
        ("app.example.com/a/../b", "status.routes hosts paths must not contain"),
        ("app.example.com/" + "a" * 800, "status.routes[0].hosts[0]"),
    ):
        with pytest.raises(ApiException) as err:
            apps.patch_status("app", {"routes": [{"name": "r", "hosts": [bad]}]})
        assert message in json.loads(err.value.body)["message"], bad
    with pytest.raises(ApiException) as err:
        apps.patch_status("app", {"routes": [{"name": f"r{i}"} for i in range(17)]})
    assert "status.routes" in json.loads(err.value.body)["message"]


def test_good_application_gets_defaults(api: client.ApiClient, crds: None, namespace: str) -> None:
    created = Apps(api, namespace).create("good", OK)
    assert created["spec"]["sessionDuration"] == "24h"
    # Unset: the cluster's default (gateway.strictServiceTokenAuth), not a value of its own.
    assert "strictServiceTokenAuth" not in created["spec"]
    assert created["spec"]["allowBasicAuth"] is False
    assert "readServiceTokensFromHeader" not in created["spec"]
    # The cookie as before these settings: path-scoped, HttpOnly, SameSite=Lax.
    assert (created["spec"]["sameSite"], created["spec"]["httpOnly"], created["spec"]["pathScoped"]) == (
        "Lax",
        True,
        True,
    )


@pytest.mark.parametrize("zero", ["0", "0s", "0h0m"])
def test_no_session_is_accepted(api: client.ApiClient, crds: None, namespace: str, zero: str) -> None:
    created = Apps(api, namespace).create("nosession", {**OK, "sessionDuration": zero})
    assert created["spec"]["sessionDuration"] == zero


def test_session_settings_are_accepted(api: client.ApiClient, crds: None, namespace: str) -> None:
    policies = [{**ANY_TOKEN[0], "sessionDuration": "15m"}]
    spec = {**OK, "policies": policies, "sameSite": "None", "httpOnly": False, "pathScoped": False}
    created = Apps(api, namespace).create("cookies", spec)
    assert created["spec"]["policies"][0]["sessionDuration"] == "15m"
    assert (created["spec"]["sameSite"], created["spec"]["httpOnly"], created["spec"]["pathScoped"]) == (
        "None",
        False,
        False,
    )


def test_destinations_with_paths_are_accepted(api: client.ApiClient, crds: None, namespace: str) -> None:
    hosts = ["app.example.com", "app.example.com/admin", "app.example.com/API/v1.2/~team"]
    created = Apps(api, namespace).create("paths", {**OK, "hosts": hosts})
    assert created["spec"]["hosts"] == hosts


def test_wildcards_are_accepted_where_cloudflare_has_them(
    api: client.ApiClient, crds: None, namespace: str
) -> None:
    hosts = [
        "*.example.com",
        "*test.example.com",
        "api-*.example.com/v1",
        "app.example.com/*",
        "app.example.com/admin/*",
        "app.example.com/foo*/bar/*",
    ]
    created = Apps(api, namespace).create("wild", {**OK, "hosts": hosts})
    assert created["spec"]["hosts"] == hosts


def test_a_custom_credentials_header_is_accepted(api: client.ApiClient, crds: None, namespace: str) -> None:
    created = Apps(api, namespace).create("header", {**OK, "readServiceTokensFromHeader": "X-Access_Token"})
    assert created["spec"]["readServiceTokensFromHeader"] == "X-Access_Token"


@pytest.mark.parametrize("name", ["Authorization", "authorization"])
def test_authorization_is_accepted_as_cloudflare_documents_it(
    api: client.ApiClient, crds: None, namespace: str, name: str
) -> None:
    created = Apps(api, namespace).create(name.lower() + "-json", {**OK, "readServiceTokensFromHeader": name})
    assert created["spec"]["readServiceTokensFromHeader"] == name


@pytest.mark.parametrize("strict", [True, False])
def test_strict_mode_said_either_way_is_kept(
    api: client.ApiClient, crds: None, namespace: str, strict: bool
) -> None:
    created = Apps(api, namespace).create(
        f"strict-{str(strict).lower()}", {**OK, "strictServiceTokenAuth": strict}
    )
    assert created["spec"]["strictServiceTokenAuth"] is strict
