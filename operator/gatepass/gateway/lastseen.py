"""When each ServiceToken was last used, reported without write access to tokens.

The gateway must not be able to write ServiceToken status (that holds the
hashes it trusts). So it records uses in memory and, once per interval,
merges them into the last-seen ConfigMaps in its own namespace (RBAC: those,
by name): sixteen shards, a token's entries always in the same one
(contract.last_seen_shard), so 100k used tokens fit and a flush patches only
the shards that changed. The operator watches them and copies the times into
each token's ``status.lastSeenAt``. No API call on the request path.

A use of the previous secret (during a rotation's grace period: the Client Secret, or a
session minted with it) is reported under its own key as well: the operator ends the
grace early only once the previous secret has gone unused for a while (spec.rollout).

A session JWT counts as a use of its token when it was minted (its ``iat``), not when it
is presented: the origin it was forwarded to holds it too and may replay it at its own
application, and must not keep a token its client stopped using from being deactivated
for disuse. (The client presented its credentials when the session was minted, and that
use was reported then.) A previous secret's session is reported as used now: that only
keeps the grace from ending early, never past its sealed end.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import LastUse, last_seen_entry, last_seen_shard
from gatepass.contract import ObjectKey as Key

log = logging.getLogger(__name__)


# When (epoch seconds), at which application, from which address: kept as plain values
# on the request path, made a LastUse once per flush.
Use = tuple[float, str, str | None]
# A token, and whether the use was of its previous secret.
Entry = tuple[Key, bool]


class LastSeen:
    def __init__(self) -> None:
        self.pending: dict[Entry, Use] = {}

    def saw(
        self,
        namespace: str,
        name: str,
        now: float,
        app: str,
        client: str | None,
        previous: bool = False,
        session_iat: float | None = None,
    ) -> None:
        """A use of a token now; ``session_iat``: by a session JWT minted then (see above)."""
        key = (namespace, name)
        at = now if session_iat is None else min(now, session_iat)
        held = self.pending.get((key, False))
        if held is None or held[0] <= at:  # a session's older time never hides a newer use
            self.pending[key, False] = (at, app, client)
        if previous:
            self.pending[key, True] = (now, app, client)

    def take(self) -> dict[Entry, Use]:
        batch, self.pending = self.pending, {}
        return batch

    def give_back(self, batch: dict[Entry, Use]) -> None:
        for key, use in batch.items():
            newer = self.pending.get(key)
            if newer is None or newer[0] < use[0]:
                self.pending[key] = use


def by_shard(prefix: str, batch: dict[Entry, Use]) -> dict[str, dict[Entry, Use]]:
    shards: dict[str, dict[Entry, Use]] = {}
    for entry, use in batch.items():
        shards.setdefault(last_seen_shard(prefix, entry[0]), {})[entry] = use
    return shards


async def flush(core: client.CoreV1Api, namespace: str, prefix: str, seen: LastSeen) -> int:
    """Patch what was seen since the last flush into its shards; entries written. A shard
    that fails gets its entries back for the next flush."""
    written = 0
    for name, batch in by_shard(prefix, seen.take()).items():
        data = dict(
            last_seen_entry(key, LastUse(datetime.fromtimestamp(t, UTC), app, client), previous)
            for (key, previous), (t, app, client) in batch.items()
        )
        try:
            await core.patch_namespaced_config_map(name, namespace, {"data": data})
            written += len(data)
        except (ApiException, OSError, aiohttp.ClientError, TimeoutError) as e:
            reason = e.reason if isinstance(e, ApiException) else type(e).__name__
            log.warning(
                "could not record %d last-use entries in %s/%s: %s", len(data), namespace, name, reason
            )
            seen.give_back(batch)
    return written


async def flush_forever(
    api: client.ApiClient, namespace: str, prefix: str, interval: float, seen: LastSeen
) -> None:
    core = client.CoreV1Api(api)
    while True:
        await asyncio.sleep(interval)
        try:
            await flush(core, namespace, prefix, seen)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.error("last-use flush failed: %s", type(e).__name__)
