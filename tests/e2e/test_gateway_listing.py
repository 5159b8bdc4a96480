"""The gateway lists page by page (gateway/watch.py), on a real API server: every object
arrives, a page at a time, converted as it comes (at 100k tokens one unpaged list would be
gigabytes of dicts in the gateway)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig

from gatepass.contract import GROUP, TOKENS, VERSION
from gatepass.gateway import watch
from gatepass.gateway.kube import metadata_lister
from gatepass.gateway.settings import GatewaySettings
from gatepass.gateway.state import State
from gatepass.gateway.workload import WorkloadTokens
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


def _escaped(length: int, i: int) -> str:
    """Control characters, written by JSON as six bytes each (\\u0001): what makes a stored
    object of ~1.3 MB a watch event of ~8 MB."""
    return f"{i:04d}" + "\x01" * length


def _grow(core: client.CoreV1Api, namespace: str) -> tuple[str, str, int]:
    """Create the ServiceAccount, then grow it to ~1.3 MB by patches (a request body is
    limited to 3 MiB); its uid, last resourceVersion, and the size of its metadata's JSON."""
    meta = client.V1ObjectMeta(name="huge", annotations={"x.example/blob": _escaped(250_000, 0)})
    sa = core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=meta))
    for i in range(3):  # owner references: their names are not checked; a kind no one serves
        ref = {"apiVersion": "x.example/v1", "kind": "Blob", "name": _escaped(350_000, i), "uid": f"u{i}"}
        add = {"op": "add", "path": "/metadata/ownerReferences/-", "value": ref}
        first = {"op": "add", "path": "/metadata/ownerReferences", "value": [ref]}
        grown = core.patch_namespaced_service_account("huge", namespace, [add if i else first])
    wire = json.dumps(core.api_client.sanitize_for_serialization(grown.metadata))  # escaped as Go does
    return sa.metadata.uid, grown.metadata.resource_version, len(wire)


@pytest.mark.asyncio
async def test_a_service_account_too_large_for_a_line_of_the_watch_is_applied_without_a_relist(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str
) -> None:
    """A tenant's ServiceAccount of ~1.3 MB stored, ~8 MB of JSON per watch event:
    kubernetes_asyncio's Watch read an event as one line of at most 4 MiB and raised
    LineTooLong, and every gateway replica listed every ServiceAccount of the cluster
    again, at each write of that one object."""
    core = client.CoreV1Api(api)
    cfg = aclient.Configuration()
    await aconfig.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    async with aclient.ApiClient(cfg) as aapi:
        workloads = WorkloadTokens(("aud",))
        watches = watch.Watches(aapi, GatewaySettings(namespaces=[namespace]), State(), workloads=workloads)
        accounts = next(i for i in watches.informers if i.name == "serviceaccounts")
        lists: list[dict[str, Any]] = []
        applied: list[tuple[str, str]] = []
        changed = asyncio.Event()
        list_fn, apply = accounts.list_fn, accounts.apply

        def counted(**kw: Any) -> Any:
            if not kw.get("watch"):
                lists.append(kw)
            return list_fn(**kw)

        def recorded(kind: str, obj: dict[str, Any]) -> None:
            applied.append((kind, obj["metadata"]["resourceVersion"]))
            apply(kind, obj)
            changed.set()

        async def until(check: Callable[[], bool]) -> None:
            async with asyncio.timeout(30):
                while not check():
                    changed.clear()
                    await changed.wait()

        accounts.list_fn, accounts.apply = counted, recorded
        task = asyncio.create_task(accounts.run())
        try:
            async with asyncio.timeout(30):
                await accounts.synced.wait()
            uid, version, size = await asyncio.to_thread(_grow, core, namespace)
            assert size > 7_000_000  # what the last event carries, and more
            await until(lambda: ("MODIFIED", version) in applied)
            assert workloads.accounts[namespace, "huge"] == uid
            await asyncio.to_thread(core.delete_namespaced_service_account, "huge", namespace)
            await until(lambda: (namespace, "huge") not in workloads.accounts)
            assert [kind for kind, _ in applied] == ["ADDED", *["MODIFIED"] * 3, "DELETED"]
            assert len(lists) == 1  # the listing at start, none since
        finally:
            task.cancel()
