"""The gateway lists page by page (gateway/watch.py), on a real API server: every object
arrives, a page at a time, converted as it comes (at 100k tokens one unpaged list would be
gigabytes of dicts in the gateway)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig

from gatepass.contract import GROUP, TOKENS, VERSION
from gatepass.gateway import watch
from gatepass.gateway.kube import metadata_lister
from tests.support.cluster import ClusterInfo
from tests.support.tokens import Tokens


@pytest.mark.asyncio
async def test_a_listing_of_seven_in_pages_of_two_has_all_seven(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = Tokens(api, namespace)
    for i in range(7):
        tokens.create(f"t{i}")
    monkeypatch.setattr(watch, "PAGE", 2)
    cfg = aclient.Configuration()
    await aconfig.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    async with aclient.ApiClient(cfg) as aapi:
        custom = aclient.CustomObjectsApi(aapi)
        calls: list[dict[str, Any]] = []

        def list_tokens(**kw: Any) -> Any:
            calls.append(kw)
            return custom.list_namespaced_custom_object(GROUP, VERSION, namespace, TOKENS, **kw)

        def name_of(obj: dict[str, Any]) -> str:
            return str(obj["metadata"]["name"])

        informer = watch.Informer("t", list_tokens, lambda _: None, lambda *_: None, name_of)
        names, version = await informer._list()
        assert sorted(names) == [f"t{i}" for i in range(7)]
        assert len(calls) == 4  # 2 + 2 + 2 + 1
        assert all(c["limit"] == 2 for c in calls)
        assert version

        # The metadata-only lister (pods, ServiceAccounts) pages the same way.
        for i in range(3):
            client.CoreV1Api(api).create_namespaced_service_account(
                namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=f"sa{i}"))
            )
        accounts = watch.Informer(
            "sa",
            metadata_lister(aapi, f"/api/v1/namespaces/{namespace}/serviceaccounts"),
            lambda _: None,
            lambda *_: None,
            name_of,
        )
        listed, _ = await accounts._list()
        assert {"sa0", "sa1", "sa2", "default"} <= set(listed)
