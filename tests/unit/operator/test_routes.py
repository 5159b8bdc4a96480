"""Applications attached to HTTPRoutes (spec.targetRefs), in the operator: the reconcile
reads each route of the application's own namespace, writes what it gave into status,
claims it like spec.hosts; a route's event re-queues only the applications naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gatepass.models.conditions import READY, ROUTES_RESOLVED
from gatepass.operator.app import OperatorApp
from gatepass.operator.applications import ROUTE_API_RECHECK, AppReconciler
from gatepass.operator.handlers import build_registry
from gatepass.operator.sealkey import SealKey
from gatepass.operator.settings import OperatorSettings
from gatepass.routing.hosts import HostIndex, claim_of
from gatepass.trust.seal import generate_key
from tests.support.fakestores import FakeStores, fake_stores

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEY = ("team-a", "web")
SPEC: dict[str, Any] = {
    "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "web"}],
    "upstream": "http://web.team-a:80",
    "policies": [{"decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}],
}
ROUTE: dict[str, Any] = {
    "hostnames": ["web.example.com"],
    "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/app"}}]}],
}


def reconciler(
    stores: FakeStores, hosts: HostIndex | None = None, requeued: list[Any] | None = None
) -> AppReconciler:
    seal = SealKey()
    seal.set(generate_key())
    return AppReconciler(
        stores,
        seal,
        token_exists=lambda _: True,
        clock=lambda: NOW,
        hosts=hosts,
        requeue=(requeued if requeued is not None else []).append,
    )


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == kind)


def create(stores: FakeStores, key: tuple[str, str], spec: dict[str, Any], created: str) -> None:
    stores.apps.create(*key, spec)
    stores.apps.cluster.objects[("AccessApplication", *key)]["metadata"]["creationTimestamp"] = created


@pytest.mark.asyncio
async def test_a_routes_hostnames_and_paths_are_written_into_status_and_claimed() -> None:
    stores, hosts = fake_stores(), HostIndex()
    stores.routes.put("team-a", "web", ROUTE)
    create(stores, KEY, SPEC, "2026-01-01T00:00:00Z")
    await reconciler(stores, hosts)(KEY)
    body = stores.apps.body(*KEY)
    assert body["status"]["routes"] == [{"name": "web", "hosts": ["web.example.com/app"]}]
    assert condition(body, ROUTES_RESOLVED)["status"] == "True"
    assert condition(body, READY)["reason"] == "Serving"
    assert hosts.claims[KEY].hosts == ("web.example.com/app",)
    # The gateway and the operator's watch read the same claim from the object.
    assert claim_of(body) == hosts.claims[KEY]
    assert stores.routes.reads == [("team-a", "web")]  # its own namespace only


@pytest.mark.asyncio
async def test_a_route_of_the_same_name_in_another_namespace_gives_nothing() -> None:
    stores = fake_stores()
    stores.routes.put("team-b", "web", ROUTE)  # someone else's
    create(stores, KEY, SPEC, "2026-01-01T00:00:00Z")
    await reconciler(stores)(KEY)
    body = stores.apps.body(*KEY)
    assert body["status"]["routes"] == [{"name": "web", "hosts": []}]
    assert condition(body, ROUTES_RESOLVED)["reason"] == "RouteNotFound"
    assert condition(body, READY)["status"] == "False"
    assert "web" in condition(body, ROUTES_RESOLVED)["message"]
    assert stores.events.reasons() == ["RouteNotFound"]


@pytest.mark.asyncio
async def test_a_route_host_another_namespace_holds_is_a_host_conflict() -> None:
    stores, hosts = fake_stores(), HostIndex()
    create(
        stores,
        ("team-b", "first"),
        {**SPEC, "targetRefs": None, "hosts": ["web.example.com"]},
        "2026-01-01T00:00:00Z",
    )
    del stores.apps.cluster.objects[("AccessApplication", "team-b", "first")]["spec"]["targetRefs"]
    stores.routes.put("team-a", "web", ROUTE)
    create(stores, KEY, SPEC, "2026-01-02T00:00:00Z")
    requeued: list[Any] = []
    reconcile = reconciler(stores, hosts, requeued)
    await reconcile(("team-b", "first"))
    await reconcile(KEY)
    body = stores.apps.body(*KEY)
    ready = condition(body, READY)
    assert (ready["status"], ready["reason"]) == ("False", "HostConflict")
    assert "web.example.com/app" in ready["message"]
    assert "team-b" in ready["message"]
    assert ("team-b", "first") in requeued  # the holder's ownership was looked at again


@pytest.mark.asyncio
async def test_a_routes_change_moves_the_claim_and_its_deletion_ends_it() -> None:
    stores, hosts = fake_stores(), HostIndex()
    stores.routes.put("team-a", "web", ROUTE)
    create(stores, KEY, SPEC, "2026-01-01T00:00:00Z")
    reconcile = reconciler(stores, hosts)
    await reconcile(KEY)
    stores.routes.put("team-a", "web", {**ROUTE, "hostnames": ["moved.example.com"]})
    await reconcile(KEY)
    assert stores.apps.body(*KEY)["status"]["routes"][0]["hosts"] == ["moved.example.com/app"]
    assert hosts.claims[KEY].hosts == ("moved.example.com/app",)
    stores.routes.delete("team-a", "web")
    await reconcile(KEY)
    assert hosts.claims[KEY].hosts == ()
    assert condition(stores.apps.body(*KEY), ROUTES_RESOLVED)["reason"] == "RouteNotFound"


@pytest.mark.asyncio
async def test_without_the_route_api_it_says_so_and_looks_again_later() -> None:
    stores = fake_stores()
    stores.routes.problem = "RouteAPIUnavailable"
    create(stores, KEY, SPEC, "2026-01-01T00:00:00Z")
    again = await reconciler(stores)(KEY)
    assert again == NOW + timedelta(seconds=ROUTE_API_RECHECK)
    resolved = condition(stores.apps.body(*KEY), ROUTES_RESOLVED)
    assert resolved["reason"] == "RouteAPIUnavailable"
    assert "Gateway API" in resolved["message"]


@pytest.mark.asyncio
async def test_status_route_hosts_of_an_application_without_target_refs_are_dropped() -> None:
    """A tenant's own write of status.routes is put right by the next reconcile."""
    stores, hosts = fake_stores(), HostIndex()
    create(stores, KEY, {**SPEC, "hosts": ["a.example.com"]}, "2026-01-01T00:00:00Z")
    obj = stores.apps.cluster.objects[("AccessApplication", *KEY)]
    del obj["spec"]["targetRefs"]
    obj["status"] = {"routes": [{"name": "x", "hosts": ["b.example.com"]}]}
    await reconciler(stores, hosts)(KEY)
    assert "routes" not in stores.apps.body(*KEY)["status"]
    assert hosts.claims[KEY].hosts == ("a.example.com",)


def operator() -> OperatorApp:
    config = OperatorSettings(
        namespace="gatepass-system", standalone=True, manage_gateway=False, metrics_port=0
    )
    return OperatorApp(config=config, stores=fake_stores(), leadership=None)


def app_body(ns: str, name: str, refs: list[str]) -> dict[str, Any]:
    spec = {
        **SPEC,
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": r} for r in refs],
    }
    return {"metadata": {"namespace": ns, "name": name, "uid": "u", "resourceVersion": "1"}, "spec": spec}


def test_a_route_event_queues_exactly_the_applications_of_its_namespace_naming_it() -> None:
    op = operator()
    op.on_app("ADDED", "team-a", "web", app_body("team-a", "web", ["web"]))
    op.on_app("ADDED", "team-a", "other", app_body("team-a", "other", ["other"]))
    op.on_app("ADDED", "team-b", "web", app_body("team-b", "web", ["web"]))
    op.apps._queued.clear()
    op.on_route("team-a", "web")
    assert set(op.apps._queued) == {("team-a", "web")}
    op.apps._queued.clear()
    op.on_app("MODIFIED", "team-a", "web", app_body("team-a", "web", ["renamed"]))
    op.apps._queued.clear()
    op.on_route("team-a", "web")
    assert set(op.apps._queued) == set()  # no longer named
    op.on_app("DELETED", "team-a", "other", app_body("team-a", "other", ["other"]))
    op.apps._queued.clear()
    op.on_route("team-a", "other")
    assert set(op.apps._queued) == set()


def test_status_route_hosts_are_claimed_from_the_event_like_spec_hosts() -> None:
    op = operator()
    body = app_body("team-a", "web", ["web"])
    body["status"] = {"routes": [{"name": "web", "hosts": ["Web.Example.com/App/"]}]}
    op.on_app("ADDED", "team-a", "web", body)
    assert op.hosts.claims[("team-a", "web")].hosts == ("web.example.com/app",)


def test_routes_are_watched_unless_turned_off() -> None:
    def watched(**kw: bool) -> set[str]:
        registry = build_registry(operator(), manage_gateway=False, **kw)
        return {str(h.selector.any_name) for h in registry._watching.get_all_handlers() if h.selector}

    assert OperatorSettings(namespace="x").http_routes is True  # on by default: harmless without the CRD
    assert "httproutes" in watched()
    assert "httproutes" not in watched(http_routes=False)
