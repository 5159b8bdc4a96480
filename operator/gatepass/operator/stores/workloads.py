"""Deployments, StatefulSets, DaemonSets and Services on the API server: the consumers a
rollout restarts, and the gateway's own objects."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.decisions import rollout
from gatepass.operator.stores.listing import ignore_404, pages, refused_for_namespace
from gatepass.operator.stores.protocols import Body

COMPONENT = "gatepass-operator"


class KubeWorkloads:
    def __init__(self, *, api: client.ApiClient) -> None:
        self.api = api

    async def list(self, namespace: str, secret: str) -> list[rollout.Workload]:
        """The only place spec.rollout restarts anything is the token's namespace. Tenants
        write these objects (up to 1.5 MiB each): each is read alone, page by page, and
        kept only as its few fields (gatepass/liststream.py)."""
        apps = client.AppsV1Api(self.api)
        listings = (
            ("Deployment", apps.list_namespaced_deployment),
            ("StatefulSet", apps.list_namespaced_stateful_set),
            ("DaemonSet", apps.list_namespaced_daemon_set),
        )
        return [
            rollout.workload(kind, obj, secret) for kind, fn in listings async for obj in pages(fn, namespace)
        ]

    async def restart(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        apps = client.AppsV1Api(self.api)
        patch_fn = {
            "Deployment": apps.patch_namespaced_deployment,
            "StatefulSet": apps.patch_namespaced_stateful_set,
            "DaemonSet": apps.patch_namespaced_daemon_set,
        }[kind]
        try:
            await patch_fn(name, namespace, patch)
        except ApiException as e:
            ignore_404(e)
            return False
        return True

    async def deployment_uid(self, namespace: str, name: str) -> str | None:
        try:
            found = await client.AppsV1Api(self.api).read_namespaced_deployment(name, namespace)
        except ApiException as e:
            ignore_404(e)
            return None
        return str(found.metadata.uid)

    async def apply(self, obj: Body) -> None:
        """As the operator, forced: puts back what someone deleted or edited."""
        meta = obj["metadata"]
        kw: dict[str, Any] = {
            "field_manager": COMPONENT,
            "force": True,
            "_content_type": "application/apply-patch+yaml",
        }
        try:
            if obj["kind"] == "Deployment":
                await client.AppsV1Api(self.api).patch_namespaced_deployment(
                    meta["name"], meta["namespace"], obj, **kw
                )
            elif obj["kind"] == "Service":
                await client.CoreV1Api(self.api).patch_namespaced_service(
                    meta["name"], meta["namespace"], obj, **kw
                )
            else:
                raise ValueError(f"cannot apply {obj['kind']}")
        except ApiException as e:
            if missing := refused_for_namespace(e, meta["namespace"]):
                raise missing from None
            raise
