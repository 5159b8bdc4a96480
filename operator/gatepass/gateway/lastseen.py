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

from gatepass.contract import LastUse, last_seen_entry
from gatepass.contract import ObjectKey as Key

log = logging.getLogger(__name__)


# When (epoch seconds), at which application, from which address: kept as plain values
# on the request path, made a LastUse once per flush.
Use = tuple[float, str, str | None]


class LastSeen:
    def __init__(self) -> None:
        self.pending: dict[Key, Use] = {}

    def saw(self, namespace: str, name: str, now: float, app: str, client: str | None) -> None:
        self.pending[(namespace, name)] = (now, app, client)

    def take(self) -> dict[Key, Use]:
        batch, self.pending = self.pending, {}
        return batch

    def give_back(self, batch: dict[Key, Use]) -> None:
        for key, use in batch.items():
            newer = self.pending.get(key)
            if newer is None or newer[0] < use[0]:
                self.pending[key] = use


async def flush_forever(
    api: client.ApiClient, namespace: str, name: str, interval: float, seen: LastSeen
) -> None:
    core = client.CoreV1Api(api)
    while True:
        await asyncio.sleep(interval)
        batch = seen.take()
        if not batch:
            continue
        data = dict(
            last_seen_entry(key, LastUse(datetime.fromtimestamp(t, UTC), app, client))
            for key, (t, app, client) in batch.items()
        )
        try:
            await core.patch_namespaced_config_map(name, namespace, {"data": data})
        except (ApiException, OSError) as e:
            reason = e.reason if isinstance(e, ApiException) else type(e).__name__
            log.warning(
                "could not record last use of %d tokens in %s/%s: %s", len(batch), namespace, name, reason
            )
            seen.give_back(batch)
