"""When each ServiceToken was last used, reported without write access to tokens.

The gateway must not be able to write ServiceToken status (that holds the
hashes it trusts). So it records uses in memory and, once per interval,
merges them into one ConfigMap in its own namespace (RBAC: that ConfigMap, by
name). The operator watches the ConfigMap and copies the times into each
token's ``status.lastSeenAt``. No API call on the request path.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import ObjectKey as Key
from gatepass.contract import last_seen_entry

log = logging.getLogger(__name__)


class LastSeen:
    def __init__(self) -> None:
        self.pending: dict[Key, float] = {}

    def saw(self, namespace: str, name: str, now: float) -> None:
        self.pending[(namespace, name)] = now

    def take(self) -> dict[Key, float]:
        batch, self.pending = self.pending, {}
        return batch

    def give_back(self, batch: dict[Key, float]) -> None:
        for key, when in batch.items():
            self.pending[key] = max(when, self.pending.get(key, 0.0))


async def flush_forever(
    api: client.ApiClient, namespace: str, name: str, interval: float, seen: LastSeen
) -> None:
    core = client.CoreV1Api(api)
    while True:
        await asyncio.sleep(interval)
        batch = seen.take()
        if not batch:
            continue
        data = dict(last_seen_entry(key, datetime.fromtimestamp(t, UTC)) for key, t in batch.items())
        try:
            await core.patch_namespaced_config_map(name, namespace, {"data": data})
        except (ApiException, OSError) as e:
            reason = e.reason if isinstance(e, ApiException) else type(e).__name__
            log.warning(
                "could not record last use of %d tokens in %s/%s: %s", len(batch), namespace, name, reason
            )
            seen.give_back(batch)
