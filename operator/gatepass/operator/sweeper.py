"""Removing entries from the last-seen shards: gathered per shard, written together.

Each write of a shard rewrites all of it in etcd (up to ~1.5 MiB). One write per deleted
token, as gatepass did, made 600 deletions of tokens whose uses sat in one large shard
600 concurrent patches of it, which conflicted and retried inside the API server: ~2 GB
written to etcd and minutes of 504s for every client of the cluster. So removals wait a
short period, then each shard gets one merge patch (null values remove keys; no
resourceVersion, so it never conflicts) of at most MAX_KEYS keys, at most CONCURRENCY
shards at a time: N deletions cost O(shards) writes, not O(N).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

# Removals gathered this long before the shards are written (and again after a failure,
# doubling up to MAX_BACKOFF).
PERIOD = 2.0
MAX_BACKOFF = 60.0
CONCURRENCY = 2
# Keys per patch: ~0.5 MiB of request at the longest keys (253 bytes), well within the
# API server's 3 MiB.
MAX_KEYS = 2000

Drop = Callable[[str, list[str]], Awaitable[None]]


class Sweeper:
    def __init__(
        self,
        drop: Drop,
        period: float = PERIOD,
        concurrency: int = CONCURRENCY,
        max_keys: int = MAX_KEYS,
        active: bool = True,
    ) -> None:
        self._drop = drop  # (shard, keys): one patch
        self.active = active  # writes only once active (an operator standing by gathers, never writes)
        self.period = period
        self.concurrency = concurrency
        self.max_keys = max_keys
        self.pending: dict[str, set[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    def drop(self, shard: str, keys: Iterable[str]) -> None:
        """Remove these keys from the shard, with the others due in the next period."""
        self.pending.setdefault(shard, set()).update(keys)
        if not self.pending[shard]:
            del self.pending[shard]
        elif self.active and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="last-seen-sweeper")

    def activate(self) -> None:
        """Write from now on (this operator leads): what was gathered goes out in a period."""
        self.active = True
        if self.pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="last-seen-sweeper")

    async def _run(self) -> None:
        while self.pending:
            await asyncio.sleep(min(self.period * 2**self._failures, MAX_BACKOFF))
            due, self.pending = self.pending, {}
            limit = asyncio.Semaphore(self.concurrency)
            done = await asyncio.gather(*(self._sweep(limit, shard, keys) for shard, keys in due.items()))
            self._failures = 0 if all(done) else min(self._failures + 1, 10)

    async def _sweep(self, limit: asyncio.Semaphore, shard: str, keys: set[str]) -> bool:
        ordered = sorted(keys)
        async with limit:
            for start in range(0, len(ordered), self.max_keys):
                chunk = ordered[start : start + self.max_keys]
                try:
                    await self._drop(shard, chunk)
                except Exception as e:  # the API server's trouble: try again, later
                    reason = getattr(e, "reason", None) or type(e).__name__
                    log.warning("could not remove %d last-use entries from %s: %s", len(keys), shard, reason)
                    self.pending.setdefault(shard, set()).update(ordered[start:])
                    return False
        return True

    async def idle(self) -> None:
        """Until nothing is pending (tests, and a clean stop)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
