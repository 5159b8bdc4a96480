"""The gateway's connection to the Kubernetes API (it only lists and watches, and
patches its last-seen ConfigMap)."""

from __future__ import annotations

from kubernetes_asyncio import client, config


async def connect() -> client.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()
    return client.ApiClient()
