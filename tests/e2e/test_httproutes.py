"""Applications attached to Gateway API HTTPRoutes (spec.targetRefs), through the real
operator, gateway and API server, with the Gateway API's own HTTPRoute CRD (standard
channel, from its Go module: tools/ingress/traefikbuild.py, cached).

The operator of the session starts before the CRD exists: an application naming a route
then says the API is missing, and once the CRD is installed (kopf notices it) the route's
hosts are served and followed. A route of another namespace is never read, and a route's
host another namespace holds is a HostConflict, as in spec.hosts."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ROOT, ClusterInfo
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OperatorProcess
from tests.support.tenants import STAR_ON_GATEPASS, new_namespace, tenant_api
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

sys.path.insert(0, str(ROOT / "tools" / "ingress"))

import traefikbuild

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"
CRD = f"{PLURAL}.{GROUP}"


def ref(name: str, **more: str) -> dict[str, str]:
    return {"group": GROUP, "kind": "HTTPRoute", "name": name, **more}


def route_spec(*hostnames: str, paths: tuple[str, ...] = ()) -> dict[str, Any]:
    rules = [{"matches": [{"path": {"type": "PathPrefix", "value": p}} for p in paths]}] if paths else [{}]
    return {"hostnames": list(hostnames), "rules": rules}


class Routes:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns, self.custom = namespace, client.CustomObjectsApi(api)

    def put(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "HTTPRoute",
            "metadata": {"name": name},
            "spec": spec,
        }
        try:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body)
        except ApiException as e:
            if e.status != 409:
                raise
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, {"spec": spec})

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)


def install_route_crd(cluster: ClusterInfo) -> None:
    """Only the HTTPRoute CRD of the standard channel (all that is read here)."""
    docs = yaml.safe_load_all(traefikbuild.gateway_api_crds().read_text())
    (crd,) = [
        d for d in docs if d and d.get("kind") == "CustomResourceDefinition" and d["metadata"]["name"] == CRD
    ]
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(crd))
    cluster.kubectl("wait", "--for=condition=established", "--timeout=60s", f"crd/{CRD}")


def has_route_crd(cluster: ClusterInfo) -> bool:
    return cluster.kubectl("get", f"crd/{CRD}", check=False).returncode == 0


@pytest.fixture
def route_crd(cluster: ClusterInfo, running_operator: OperatorProcess) -> None:
    if not has_route_crd(cluster):
        install_route_crd(cluster)


def call(gateway: GatewayProcess, host: str, path: str, creds: Creds | None) -> int:
    headers = {"Host": host}
    if creds is not None:
        headers.update(
            {"CF-Access-Client-Id": creds.client_id, "CF-Access-Client-Secret": creds.client_secret}
        )
    return requests.get(gateway.url + path, headers=headers, timeout=10).status_code


def condition(apps: Apps, name: str, kind: str, reason: str) -> dict[str, Any]:
    def reached() -> dict[str, Any]:
        found = apps.condition(name, kind)
        assert found is not None, f"no {kind} yet"
        assert found["reason"] == reason, found
        return found

    found = wait_for(reached, timeout=15, what=f"{kind} {reason} on {name}")
    return dict(found)


def test_without_the_route_api_an_application_says_so_and_follows_once_it_appears(
    api: client.ApiClient,
    cluster: ClusterInfo,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    if has_route_crd(cluster):
        pytest.skip("the HTTPRoute CRD is installed already (a cluster this session did not start)")
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    tokens.create("a")
    apps.create("web", {"targetRefs": [ref("web")], "upstream": upstream.url + "/w", "policies": ANY_TOKEN})
    said = condition(apps, "web", "RoutesResolved", "RouteAPIUnavailable")
    assert "Gateway API" in said["message"]
    assert apps.status("web")["routes"] == [{"name": "web", "hosts": []}]

    install_route_crd(cluster)  # the operator was started without it: kopf picks it up
    host = f"web.{namespace}.test"
    Routes(api, namespace).put("web", route_spec(host))
    tokens.wait_ready("a")
    a = tokens.creds("a")
    wait_for(lambda: call(gateway, host, "/x", a) == 200, timeout=20, what="the route's host served")
    assert call(gateway, host, "/x", None) == 401


def test_an_application_guards_what_its_routes_serve_and_follows_their_edits(
    api: client.ApiClient,
    namespace: str,
    route_crd: None,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    tokens, apps, routes = Tokens(api, namespace), Apps(api, namespace), Routes(api, namespace)
    web, docs, moved = (f"{n}.{namespace}.test" for n in ("web", "docs", "moved"))
    routes.put("web", route_spec(web, paths=("/app", "/api/")))
    routes.put("docs", route_spec(docs))  # no path match: the whole host
    tokens.create("a")
    spec = {"targetRefs": [ref("web"), ref("docs")], "upstream": upstream.url + "/w", "policies": ANY_TOKEN}
    apps.create("site", spec)
    tokens.wait_ready("a")
    a = tokens.creds("a")
    wait_for(lambda: call(gateway, web, "/app/x", a) == 200, timeout=15, what="the route's path served")
    assert call(gateway, web, "/app/x", None) == 401
    assert call(gateway, web, "/api", a) == 200
    assert call(gateway, web, "/other", a) == 404  # not what the route serves
    assert call(gateway, docs, "/anything", a) == 200
    assert apps.status("site")["routes"] == [
        {"name": "web", "hosts": [f"{web}/api", f"{web}/app"]},
        {"name": "docs", "hosts": [docs]},
    ]
    resolved = apps.condition("site", "RoutesResolved")
    assert resolved is not None
    assert resolved["status"] == "True"

    # The route's hostnames edited: the protection moves with them within seconds.
    routes.put("web", route_spec(moved, paths=("/app",)))
    wait_for(lambda: call(gateway, moved, "/app", a) == 200, timeout=10, what="the moved host served")
    assert call(gateway, moved, "/app", None) == 401
    assert call(gateway, web, "/app/x", a) == 404

    # Deleted: said, and nothing more served for it.
    routes.delete("web")
    wait_for(lambda: call(gateway, moved, "/app", a) == 404, timeout=10, what="the deleted route's host gone")
    said = condition(apps, "site", "RoutesResolved", "RouteNotFound")
    assert "web" in said["message"]
    assert call(gateway, docs, "/", a) == 200


@pytest.fixture
def routing_tenant(api: client.ApiClient, cluster: ClusterInfo) -> Iterator[tuple[str, client.ApiClient]]:
    """A hostile tenant that may also write HTTPRoutes of its own namespace."""
    ns = new_namespace(api, "router")
    rules = [*STAR_ON_GATEPASS, client.V1PolicyRule(api_groups=[GROUP], resources=[PLURAL], verbs=["*"])]
    yield ns, tenant_api(cluster, api, ns, rules)
    client.CoreV1Api(api).delete_namespace(ns)


def test_a_tenant_takes_nothing_through_routes_that_spec_hosts_would_not_give(
    api: client.ApiClient,
    namespace: str,
    routing_tenant: tuple[str, client.ApiClient],
    route_crd: None,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    ns, tenant = routing_tenant
    victim_host = f"v.{namespace}.test"
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    Routes(api, namespace).put("web", route_spec(victim_host))
    tokens.create("a")
    apps.create("app", {"targetRefs": [ref("web")], "upstream": upstream.url + "/v", "policies": ANY_TOKEN})
    tokens.wait_ready("a")
    a = tokens.creds("a")
    wait_for(lambda: call(gateway, victim_host, "/", a) == 200, timeout=15, what="the victim's route served")

    # Ownership goes by creationTimestamp (whole seconds; a tie by namespace name, and the
    # tenant's may sort first): the victim's application is a second older, whatever the names.
    time.sleep(1.1)
    mine = Apps(tenant, ns)
    # Another namespace's route: refused by the CRD when named...
    with pytest.raises(ApiException) as refused:
        mine.create("x", {"targetRefs": [ref("web", namespace=namespace)], "upstream": upstream.url + "/i"})
    assert refused.value.status == 422
    assert "cannot name another namespace" in str(refused.value.body)
    # ...and by name alone it is looked for in the tenant's own namespace only.
    mine.create("x", {"targetRefs": [ref("web")], "upstream": upstream.url + "/i", "policies": ANY_TOKEN})
    condition(mine, "x", "RoutesResolved", "RouteNotFound")
    assert Apps(api, ns).status("x")["routes"] == [{"name": "web", "hosts": []}]

    # Its own route naming the victim's host: a HostConflict, as in spec.hosts.
    Routes(tenant, ns).put("grab", route_spec(victim_host, f"own.{ns}.test"))
    mine.patch("x", {"spec": {"targetRefs": [ref("grab")]}})
    ready = condition(mine, "x", "Ready", "HostConflict")
    assert victim_host in ready["message"]
    assert namespace in ready["message"]
    Tokens(tenant, ns).create("x")
    Tokens(api, ns).wait_ready("x")
    x = Tokens(api, ns).creds("x")  # Secrets read as admin (the tenant role cannot)
    wait_for(lambda: call(gateway, f"own.{ns}.test", "/", x) == 200, timeout=10, what="its own host served")

    # Its status written by hand with the victim's host (status is the tenant's too): nothing
    # spec.hosts would not give, and the operator puts it right.
    mine.patch_status("x", {"routes": [{"name": "grab", "hosts": [victim_host, f"{victim_host}/admin"]}]})
    for path in ("/", "/admin"):
        assert call(gateway, victim_host, path, x) in (401, 403)
        assert call(gateway, victim_host, path, a) == 200
    wait_for(
        lambda: mine.status("x")["routes"] == [{"name": "grab", "hosts": [victim_host, f"own.{ns}.test"]}],
        timeout=10,
        what="the operator's status back",
    )
