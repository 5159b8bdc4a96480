"""The API server's stores, built whole over one client."""

from __future__ import annotations

from kubernetes_asyncio import client, config

from gatepass.operator.stores.configmaps import KubeConfigMaps
from gatepass.operator.stores.custom import KubeApps, KubePolicies, KubeTokens
from gatepass.operator.stores.events import KubeEvents
from gatepass.operator.stores.protocols import Stores
from gatepass.operator.stores.routes import KubeRoutes
from gatepass.operator.stores.secrets import KubeSecrets
from gatepass.operator.stores.workloads import KubeWorkloads


async def load_config() -> None:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()


def kube_stores(api: client.ApiClient, *, http_routes: bool = True) -> Stores:
    """Every store over ``api``; closing them closes it. ``http_routes``: whether
    HTTPRoutes are read (GATEPASS_HTTP_ROUTES)."""
    return Stores(
        tokens=KubeTokens(api=api),
        apps=KubeApps(api=api),
        policies=KubePolicies(api=api),
        routes=KubeRoutes(api=api, enabled=http_routes),
        secrets=KubeSecrets(api=api),
        configmaps=KubeConfigMaps(api=api),
        workloads=KubeWorkloads(api=api),
        events=KubeEvents(api=api),
        close=api.close,
    )
