"""The API server's stores' listings: workloads for rollouts (paged, each workload kept as
its few fields), tokens and applications (each handed over as it arrives). The API
server's side is tested in tests/e2e."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import TOKENS
from gatepass.decisions.rollout import Workload
from gatepass.operator.stores.custom import KubeApps, KubeTokens
from gatepass.operator.stores.listing import CHUNK, PAGE
from gatepass.operator.stores.workloads import KubeWorkloads
from tests.support.responses import Response


class Workloads:
    """Stands in for AppsV1Api's lists: Deployments in two pages, one StatefulSet, no DaemonSet."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        big = {"x.example/blob": "a" * 100_000}  # what a tenant may hang on any workload
        env = {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "ci-bot"}}]}]}

        def workload(name: str, pod: dict[str, Any]) -> dict[str, Any]:
            return {"metadata": {"name": name, "annotations": big}, "spec": {"template": {"spec": pod}}}

        self.pages = {
            ("deployments", None): Response(
                {"metadata": {"continue": "more"}, "items": [workload("a", env), workload("b", {})]}
            ),
            ("deployments", "more"): Response({"metadata": {}, "items": [workload("c", env)]}),
            ("statefulsets", None): Response({"metadata": {}, "items": [workload("db", env)]}),
            ("daemonsets", None): Response({"metadata": {}, "items": []}),
        }

    def _list(self, plural: str) -> Any:
        async def list_fn(namespace: str, **kw: Any) -> Response:
            self.calls.append((plural, namespace, kw))
            return self.pages[plural, kw.get("_continue")]

        return list_fn

    def __getattr__(self, name: str) -> Any:
        return self._list(name.removeprefix("list_namespaced_").replace("_", "") + "s")


@pytest.mark.asyncio
async def test_workloads_are_listed_page_by_page_and_kept_as_their_few_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Workloads()
    monkeypatch.setattr(client, "AppsV1Api", lambda _api: fake)
    async with client.ApiClient() as api:
        found = await KubeWorkloads(api=api).list("team-a", "ci-bot")
    assert [(w.consumer.label, w.consumer.env, w.uses) for w in found] == [
        ("Deployment/a", True, True),
        ("Deployment/b", False, False),
        ("Deployment/c", True, True),
        ("StatefulSet/db", True, True),
    ]
    assert all(isinstance(w, Workload) for w in found)  # never the objects
    assert [(plural, kw) for plural, _, kw in fake.calls] == [
        ("deployments", {"_preload_content": False, "limit": PAGE}),
        ("deployments", {"_preload_content": False, "limit": PAGE, "_continue": "more"}),
        ("statefulsets", {"_preload_content": False, "limit": PAGE}),
        ("daemonsets", {"_preload_content": False, "limit": PAGE}),
    ]
    assert {ns for _, ns, _ in fake.calls} == {"team-a"}


@pytest.mark.asyncio
async def test_a_refused_workload_listing_raises_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Workloads()
    fake.pages["deployments", None] = Response({"kind": "Status", "code": 403}, status=403)
    monkeypatch.setattr(client, "AppsV1Api", lambda _api: fake)
    async with client.ApiClient() as api:
        with pytest.raises(ApiException) as refused:
            await KubeWorkloads(api=api).list("team-a", "ci-bot")
    assert refused.value.status == 403  # RolloutNotAllowed (decisions/token/restarts.py)


class Custom:
    """Stands in for CustomObjectsApi's lists: tokens in two pages per scope."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        big = {"x.example/blob": "a" * 100_000}  # what a tenant may hang on any object

        def token(ns: str, name: str) -> dict[str, Any]:
            return {"metadata": {"namespace": ns, "name": name, "annotations": big}}

        self.pages: dict[tuple[str | None, str | None], Response] = {
            ("a", None): Response(
                {"metadata": {"continue": "more"}, "items": [token("a", "t1"), token("a", "t2")]}
            ),
            ("a", "more"): Response({"metadata": {}, "items": [token("a", "t3")]}),
            (None, None): Response({"metadata": {}, "items": [token("b", "t4")]}),
        }

    async def list_namespaced_custom_object(self, *args: str, **kw: Any) -> Response:
        self.calls.append((args, kw))
        return self.pages[args[2], kw.get("_continue")]

    async def list_cluster_custom_object(self, *args: str, **kw: Any) -> Response:
        self.calls.append((args, kw))
        return self.pages[None, kw.get("_continue")]


@pytest.mark.asyncio
async def test_the_operators_listings_hand_over_each_object_as_it_arrives() -> None:
    api = client.ApiClient()
    apps, tokens, fake = KubeApps(api=api), KubeTokens(api=api), Custom()
    apps.custom = tokens.custom = fake  # type: ignore[assignment]
    first = fake.pages["a", None]
    seen: list[tuple[str, int]] = []
    async for o in apps.bodies(["a"]):
        seen.append((o["metadata"]["name"], first.read))
    assert seen[0][1] < first.chunks(CHUNK)  # before the rest of its page was read
    assert [name for name, _ in seen] == ["t1", "t2", "t3"]
    assert [kw for _, kw in fake.calls] == [
        {"_preload_content": False, "limit": PAGE},
        {"_preload_content": False, "limit": PAGE, "_continue": "more"},
    ]
    fake.calls.clear()
    assert await tokens.keys([]) == {("b", "t4")}  # every namespace: one cluster listing
    assert fake.calls == [(("gatepass.dev", "v1alpha1", TOKENS), {"_preload_content": False, "limit": PAGE})]
    await api.close()
