"""When each ServiceToken was last used, reported without write access to tokens.

The gateway must not be able to write ServiceToken status (that holds the
hashes it trusts). So it records uses in memory and, once per interval,
merges them into the last-seen ConfigMaps in its own namespace (RBAC: those,
by name): thirty-two shards, a token's entries in the one its keyed hash names
(Sealer.last_seen_shard), so 100k used tokens fit and a flush patches only
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

Tenants choose what the entries say (token and application names), so one tenant's
entries must never keep another's from being written. Each entry is bounded
(contract.last_seen_entry), a tenant cannot aim at a shard, and a batch the API server
refuses (a shard at its size limit) is split, smaller writers first, so theirs are written
while the largest writer's are not. A refused entry gets one more flush, then is dropped
(its token's next use reports it again); it is never retried forever.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import LastUse, ObjectKey, last_seen_entry
from gatepass.gateway import metrics
from gatepass.trust.seal import Sealer

log = logging.getLogger(__name__)


# When (epoch seconds), at which application, from which address: kept as plain values
# on the request path, made a LastUse once per flush.
Use = tuple[float, str, str | None]
# A token, and whether the use was of its previous secret.
Entry = tuple[ObjectKey, bool]
# What a flush writes into one shard: the ConfigMap key and value of each entry.
Patch = Callable[[dict[str, str]], Awaitable[None]]

# Patches to one shard per flush, at most: a refused batch is split (halves, smaller
# writers first), and three levels set a few small writers apart from thousands of one
# large writer's entries. More would let one tenant's entries cost the API server a
# write of the whole shard each.
MAX_PATCHES = 8


class Refused(Exception):
    """The API server refused what the patch holds (too large, invalid): split it."""


class Unavailable(Exception):
    """The API server did not take the patch for another reason: try again next flush."""


@dataclass
class Written:
    """What became of one shard's batch."""

    written: list[Entry] = field(default_factory=list)
    refused: list[Entry] = field(default_factory=list)  # alone, or when the patches ran out
    unsent: list[Entry] = field(default_factory=list)  # the API server was unavailable
    why_unsent: str = ""


class LastSeen:
    def __init__(self) -> None:
        self.pending: dict[Entry, Use] = {}
        self.struck: set[Entry] = set()  # refused once: dropped if refused again

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

    def give_back(self, batch: Mapping[Entry, Use]) -> None:
        for key, use in batch.items():
            newer = self.pending.get(key)
            if newer is None or newer[0] < use[0]:
                self.pending[key] = use

    def settle(self, batch: Mapping[Entry, Use], result: Written) -> int:
        """Take back what was not written: unsent as it is, refused once more; entries
        dropped."""
        self.struck.difference_update(result.written)
        again = [e for e in result.refused if e not in self.struck]
        dropped = len(result.refused) - len(again)
        self.struck.difference_update(result.refused)
        self.struck.update(again)
        self.give_back({e: batch[e] for e in (*again, *result.unsent)})
        return dropped


def by_shard(shard_of: Callable[[ObjectKey], str], batch: Mapping[Entry, Use]) -> dict[str, dict[Entry, Use]]:
    shards: dict[str, dict[Entry, Use]] = {}
    for entry, use in batch.items():
        shards.setdefault(shard_of(entry[0]), {})[entry] = use
    return shards


def split(part: list[Entry], size: Callable[[Entry], int]) -> tuple[list[Entry], list[Entry]]:
    """Two halves of a refused batch, by bytes: the smaller namespaces' entries first, so a
    few entries of small writers are never tried only together with a large writer's;
    one namespace's entries in two halves."""
    by_ns: dict[str, list[Entry]] = {}
    for entry in part:
        by_ns.setdefault(entry[0][0], []).append(entry)
    if len(by_ns) == 1:
        ordered = sorted(part)
        return ordered[: len(ordered) // 2], ordered[len(ordered) // 2 :]
    groups = sorted(by_ns.values(), key=lambda g: (sum(map(size, g)), g[0][0][0]))
    half, first, taken = sum(map(size, part)) / 2, list[Entry](), 0
    for group in groups[:-1]:
        if first and taken + sum(map(size, group)) > half:
            break
        first += group
        taken += sum(map(size, group))
    chosen = set(first)
    return first, [e for g in groups for e in g if e not in chosen]


async def write_split(
    patch: Patch, entries: Mapping[Entry, tuple[str, str]], max_patches: int = MAX_PATCHES
) -> Written:
    """Patch ``entries`` (ConfigMap key and value each) into one shard; a part the API
    server refuses is split and its halves tried, up to ``max_patches`` patches."""
    result = Written()
    stack, patches = [list(entries)], 0

    def size(entry: Entry) -> int:
        return sum(map(len, entries[entry]))

    while stack:
        part = stack.pop()
        if patches == max_patches:
            result.refused += part
            continue
        patches += 1
        try:
            await patch(dict(entries[e] for e in part))
        except Refused:
            if len(part) == 1:
                result.refused += part
            else:
                first, second = split(part, size)
                stack += [second, first]  # the smaller writers' half next
            continue
        except Unavailable as e:
            result.why_unsent = str(e)
            result.unsent += part
            for rest in stack:
                result.unsent += rest
            break
        result.written += part
    return result


def _refused(e: ApiException) -> bool:
    """Does the API server refuse the content? 422: invalid (a value too large for a
    ConfigMap), 413: request too large, 500 "request is too large": past etcd's limit."""
    if e.status in (400, 413, 422):
        return True
    body = e.body.decode(errors="replace") if isinstance(e.body, bytes) else str(e.body or "")
    return e.status == 500 and "too large" in body


async def _patch(core: client.CoreV1Api, namespace: str, name: str, data: dict[str, str]) -> None:
    try:
        await core.patch_namespaced_config_map(name, namespace, {"data": data})
    except ApiException as e:
        if _refused(e):
            raise Refused(e.reason) from None
        raise Unavailable(e.reason) from None
    except (OSError, aiohttp.ClientError, TimeoutError) as e:
        raise Unavailable(type(e).__name__) from None


async def flush(
    core: client.CoreV1Api, namespace: str, prefix: str, seen: LastSeen, sealer: Sealer | None
) -> int:
    """Patch what was seen since the last flush into its shards; entries written. Without
    the seal key (which names the shards) nothing is taken: nothing is served then either."""
    if sealer is None:
        return 0
    written = 0
    for name, batch in by_shard(lambda key: sealer.last_seen_shard(prefix, key), seen.take()).items():
        entries = {
            entry: last_seen_entry(entry[0], LastUse(datetime.fromtimestamp(t, UTC), app, client), entry[1])
            for entry, (t, app, client) in batch.items()
        }
        result = await write_split(functools.partial(_patch, core, namespace, name), entries)
        dropped = seen.settle(batch, result)
        written += len(result.written)
        metrics.LAST_SEEN_DROPPED.inc(dropped)
        if result.refused:
            log.warning(
                "%s/%s refused %d of %d last-use entries (too large for it): %d dropped, the rest "
                "tried once more",
                namespace,
                name,
                len(result.refused),
                len(entries),
                dropped,
            )
        if result.unsent:
            log.warning(
                "could not record %d last-use entries in %s/%s: %s",
                len(result.unsent),
                namespace,
                name,
                result.why_unsent,
            )
    return written


async def flush_forever(
    api: client.ApiClient,
    namespace: str,
    prefix: str,
    interval: float,
    seen: LastSeen,
    sealer: Callable[[], Sealer | None],
) -> None:
    core = client.CoreV1Api(api)
    while True:
        await asyncio.sleep(interval)
        try:
            await flush(core, namespace, prefix, seen, sealer())
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.error("last-use flush failed: %s", type(e).__name__)
