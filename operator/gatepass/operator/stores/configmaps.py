"""ConfigMaps on the API server: the gateway's last-use shards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.operator.stores.listing import ignore_404, refused_for_namespace
from gatepass.operator.stores.protocols import Conflict


class KubeConfigMaps:
    def __init__(self, *, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def labelled(self, namespace: str, label: str) -> list[tuple[str, str, dict[str, str]]]:
        """One request."""
        listing = await self.core.list_namespaced_config_map(namespace, label_selector=f"{label}=true")
        return [(cm.metadata.name, cm.metadata.resource_version, dict(cm.data or {})) for cm in listing.items]

    async def ensure(self, namespace: str, names: Iterable[str], labels: dict[str, str]) -> None:
        """One list, then one create each."""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        listing = await self.core.list_namespaced_config_map(namespace, label_selector=selector)
        present = {cm.metadata.name for cm in listing.items}
        for name in names:
            if name in present:
                continue
            meta = client.V1ObjectMeta(name=name, namespace=namespace, labels=labels)
            try:
                await self.core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=meta))
            except ApiException as e:
                if missing := refused_for_namespace(e, namespace):
                    raise missing from None
                if e.status != 409:
                    raise

    async def read(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        try:
            cm = await self.core.read_namespaced_config_map(name, namespace)
        except ApiException as e:
            ignore_404(e)
            return None
        return cm.metadata.resource_version, dict(cm.data or {})

    async def patch_data(
        self, namespace: str, name: str, data: Mapping[str, str | None], resource_version: str
    ) -> None:
        body = {"metadata": {"resourceVersion": resource_version}, "data": dict(data)}
        try:
            await self.core.patch_namespaced_config_map(name, namespace, body)
        except ApiException as e:
            if e.status == 409:
                raise Conflict(f"configmap {namespace}/{name} changed") from None
            raise

    async def drop_keys(self, namespace: str, name: str, keys: list[str]) -> None:
        """Strategic merge: a null value removes the key."""
        try:
            await self.core.patch_namespaced_config_map(name, namespace, {"data": dict.fromkeys(keys)})
        except ApiException as e:
            if e.status != 404:
                raise
