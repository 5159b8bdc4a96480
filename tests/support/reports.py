"""The gateway's last-seen report as tests read and write it: which shard holds a token
(keyed with the cluster's status-seal key, as the gateway picks it) and its entries."""

from __future__ import annotations

import base64

from kubernetes import client

from gatepass.contract import DEFAULT_KEY_SECRET, DEFAULT_LAST_SEEN_CONFIGMAP, SEAL_ENTRY, ObjectKey
from gatepass.trust.seal import Sealer
from tests.support.operator import OPERATOR_NAMESPACE
from tests.support.waiting import wait_for

PREFIX = DEFAULT_LAST_SEEN_CONFIGMAP


def cluster_sealer(api: client.ApiClient) -> Sealer:
    """The operator's status-seal key (waits for the operator to have made it)."""
    core = client.CoreV1Api(api)

    def key() -> bytes | None:
        try:
            secret = core.read_namespaced_secret(DEFAULT_KEY_SECRET, OPERATOR_NAMESPACE)
        except client.ApiException:
            return None
        data = secret.data or {}
        return base64.b64decode(data[SEAL_ENTRY]) if SEAL_ENTRY in data else None

    return Sealer(wait_for(key, timeout=30, what="the status-seal key"))


def shard_of(api: client.ApiClient, key: ObjectKey) -> str:
    """The shard the gateway reports the token's uses into."""
    return cluster_sealer(api).last_seen_shard(PREFIX, key)


def shard_data(core: client.CoreV1Api, name: str) -> dict[str, str]:
    return dict(core.read_namespaced_config_map(name, OPERATOR_NAMESPACE).data or {})
