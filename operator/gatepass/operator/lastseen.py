"""The gateway's reports of token use, as the operator reads and tidies them.

The gateway writes them (gateway/lastseen.py) into thirty-two ConfigMaps, a token's entries
in the one its keyed hash names. The operator never computes that: it reads every shard
and takes each entry by its key wherever it sits (a new seal key, or a gateway of another
release, writes a token's entries elsewhere). It keeps the newest use of each token in
memory (reconcile copies it to status) and only ever removes entries, through the
sweeper (operator/sweeper.py: one patch per shard per period, never one per token): a
deleted token's (where it was last read, and wherever else it shows up), a finished
grace's, a copy older than one elsewhere (left by a seal key that changed), those
gatepass 0.2 wrote into its single ConfigMap (named like the shards' prefix), which it
moves into the shards, and the largest writers' past a shard's budget
(decisions/shardbudget.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from gatepass.contract import (
    LAST_SEEN_LABEL,
    MANAGED_BY,
    LastUse,
    ObjectKey,
    Report,
    last_seen_entry,
    last_seen_key,
    last_seen_shards,
    parse_last_seen,
)
from gatepass.decisions.shardbudget import SHARD_BUDGET, evictions
from gatepass.decisions.token.lifetime import LAST_SEEN_STEP
from gatepass.operator.stores.protocols import ConfigMapStore, Conflict
from gatepass.trust.seal import Sealer

log = logging.getLogger(__name__)

LABELS = {**MANAGED_BY, LAST_SEEN_LABEL: "true"}
# A shard written by the gateway between our read and our write: read again, this often.
MERGE_ATTEMPTS = 5
# A copy of an entry this much older than the newest use known of it is left over
# (another shard holds the newer one): far longer than replicas' flushes lag each other.
STALE_COPY = timedelta(hours=1)

Exists = Callable[[ObjectKey], bool]


class Drops(Protocol):
    """Where removals go (operator/sweeper.py: batched per shard)."""

    def drop(self, shard: str, keys: Iterable[str]) -> None: ...


class Reports:
    def __init__(
        self,
        namespace: str,
        prefix: str,
        serves: Callable[[str], bool],
        *,
        configmaps: ConfigMapStore,
        sweeper: Drops,
        budget: int = SHARD_BUDGET,
    ) -> None:
        self.namespace = namespace
        self.prefix = prefix  # also the name of gatepass 0.2's single ConfigMap
        self.shards = last_seen_shards(prefix)
        self._shard_names = {name: name for name in self.shards}  # one string each, held once
        self.serves = serves  # whether a namespace's tokens are ours to prune
        self.budget = budget  # bytes a shard may hold before its largest writers' entries go
        self.current: dict[ObjectKey, LastUse] = {}
        self.previous: dict[ObjectKey, LastUse] = {}  # of the previous secret, in a grace
        self.shard_of: dict[ObjectKey, str] = {}  # where a token's newest entries were read
        self.configmaps = configmaps
        self.sweeper = sweeper
        self._moving = asyncio.Lock()
        self._nudged: dict[ObjectKey, datetime] = {}  # the last use a reconcile was asked for

    def is_shard(self, namespace: str, name: str) -> bool:
        return namespace == self.namespace and name in self.shards

    def is_legacy(self, namespace: str, name: str) -> bool:
        return namespace == self.namespace and name == self.prefix

    def read(
        self, data: Mapping[str, str], shard: str | None = None, exists: Exists | None = None
    ) -> set[ObjectKey]:
        """Take in a ConfigMap's entries (only forward: replicas, shards and the legacy
        ConfigMap may disagree); the tokens to reconcile for it. A use of the current
        secret only once it is a status step (LAST_SEEN_STEP) past the last one that was:
        at 100k tokens in use, a reconcile per token per report would be two GETs each,
        thousands a second, to change nothing. The exact time stays here for decisions
        (a reconcile at an inactivity deadline reads it); a use of a previous secret, rare
        and what ends a grace, always.

        Of a shard, with ``exists``, also what it should not hold goes to the sweeper, in
        the same pass (at 100k tokens each entry is read once a minute per gateway): the
        entries of tokens that do not exist (in served namespaces only: another operator's
        gateway may report into the same ConfigMaps), a copy an hour older than one read
        elsewhere, and past the shard's budget the largest writers' oldest."""
        due: set[ObjectKey] = set()
        where = None if shard is None else self._shard_names.get(shard, shard)
        gone: list[str] = []
        for entry, value in data.items():
            report = parse_last_seen(entry, value)
            if report is None:
                continue
            if exists is not None and self._unwanted(report, exists):
                gone.append(entry)
            elif self._take(report, where):
                due.add(report.key)
        if where is not None and exists is not None:
            dropping = set(gone)
            rest = {e: v for e, v in data.items() if e not in dropping} if dropping else data
            gone += evictions(rest, self.budget)
            if gone:
                self.sweeper.drop(where, gone)
        return due

    def _unwanted(self, report: Report, exists: Exists) -> bool:
        """Of a token that does not exist (its use forgotten too), or a left-over copy."""
        if self.serves(report.key[0]) and not exists(report.key):
            self._forget_memory(report.key, current=not report.previous, previous=report.previous)
            return True
        newest = (self.previous if report.previous else self.current).get(report.key)
        return newest is not None and report.use.at < newest.at - STALE_COPY

    def _take(self, report: Report, where: str | None) -> bool:
        """Remember a use newer than the one known; whether its token is due a reconcile."""
        key, known = report.key, self.previous if report.previous else self.current
        old = known.get(key)
        if old is not None and report.use.at <= old.at:
            return False
        known[key] = report.use
        if where is not None:
            self.shard_of[key] = where
        if report.previous:
            return True
        nudged = self._nudged.get(key)
        if nudged is None or report.use.at >= nudged + LAST_SEEN_STEP:
            self._nudged[key] = report.use.at
            return True
        return False

    def forget(self, key: ObjectKey, current: bool = True, previous: bool = True) -> None:
        """A token is gone (or its grace is over): its entries go from memory and, with
        the others due in the sweeper's period, from the shard they were read from (any
        copy elsewhere goes when that shard is next read)."""
        shard = self.shard_of.get(key)
        entries = [
            last_seen_key(key, prev)
            for prev, known, wanted in ((False, self.current, current), (True, self.previous, previous))
            if wanted and key in known
        ]
        self._forget_memory(key, current, previous)
        if entries and shard is not None:
            self.sweeper.drop(shard, entries)

    def _forget_memory(self, key: ObjectKey, current: bool, previous: bool) -> None:
        if current:
            self.current.pop(key, None)
            self._nudged.pop(key, None)
        if previous:
            self.previous.pop(key, None)
        if key not in self.current and key not in self.previous:
            self.shard_of.pop(key, None)

    async def move_legacy(
        self, version: str, data: Mapping[str, str], exists: Exists, sealer: Sealer
    ) -> None:
        """Move what gatepass 0.2's single ConfigMap holds into the shards (bounded as the
        gateway now writes them, each in its keyed shard), then empty it. Again on each of
        its changes: a 0.2 gateway may still write it during an upgrade."""
        async with self._moving:
            by_shard: dict[str, dict[str, str]] = {}
            for entry, value in data.items():
                report = parse_last_seen(entry, value)
                if report is not None and exists(report.key):
                    shard = sealer.last_seen_shard(self.prefix, report.key)
                    key, bounded = last_seen_entry(report.key, report.use, report.previous)
                    by_shard.setdefault(shard, {})[key] = bounded
            await self.configmaps.ensure(self.namespace, self.shards, LABELS)
            failed: set[str] = set()
            for shard, entries in by_shard.items():
                if not await self._merge(shard, entries):
                    failed |= entries.keys()  # 0.2's keys are within 253 bytes: the same
            gone = [e for e in data if e not in failed]  # moved, unreadable, or of a deleted token
            try:
                await self.configmaps.patch_data(self.namespace, self.prefix, dict.fromkeys(gone), version)
            except Conflict:
                return  # written meanwhile: that change's event moves the rest
            log.info(
                "moved %d last-use entries from %s/%s into its shards", len(gone), self.namespace, self.prefix
            )

    async def _merge(self, shard: str, entries: Mapping[str, str]) -> bool:
        """Write the entries newer than the shard's own; guarded by its resourceVersion."""
        for _ in range(MERGE_ATTEMPTS):
            found = await self.configmaps.read(self.namespace, shard)
            if found is None:
                return False
            version, present = found
            newer = {e: v for e, v in entries.items() if _newer(e, v, present.get(e))}
            if not newer:
                return True
            try:
                await self.configmaps.patch_data(self.namespace, shard, newer, version)
                return True
            except Conflict:
                continue
        return False


def _newer(entry: str, value: str, present: str | None) -> bool:
    if present is None:
        return True
    ours, theirs = parse_last_seen(entry, value), parse_last_seen(entry, present)
    return theirs is None or (ours is not None and ours.use.at > theirs.use.at)
