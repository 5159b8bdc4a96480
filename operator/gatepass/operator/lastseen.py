"""The gateway's reports of token use, as the operator reads and tidies them.

The gateway writes them (gateway/lastseen.py) into sixteen ConfigMaps, a token's entries
always in the same one (contract.last_seen_shard). The operator keeps the newest use of
each token in memory (reconcile copies it to status) and only ever removes entries: a
deleted token's, a finished grace's, and those gatepass 0.2 wrote into its single
ConfigMap (named like the shards' prefix), which it moves into the shards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from gatepass.contract import (
    LAST_SEEN_LABEL,
    MANAGED_BY,
    LastUse,
    ObjectKey,
    Report,
    last_seen_key,
    last_seen_shard,
    last_seen_shards,
    parse_last_seen,
)
from gatepass.decisions.servicetoken import LAST_SEEN_STEP
from gatepass.operator.kube import Conflict, Kube

log = logging.getLogger(__name__)

LABELS = {**MANAGED_BY, LAST_SEEN_LABEL: "true"}
# A shard written by the gateway between our read and our write: read again, this often.
MERGE_ATTEMPTS = 5

Exists = Callable[[ObjectKey], bool]


class Reports:
    def __init__(self, namespace: str, prefix: str, serves: Callable[[str], bool]) -> None:
        self.namespace = namespace
        self.prefix = prefix  # also the name of gatepass 0.2's single ConfigMap
        self.shards = last_seen_shards(prefix)
        self.serves = serves  # whether a namespace's tokens are ours to prune
        self.current: dict[ObjectKey, LastUse] = {}
        self.previous: dict[ObjectKey, LastUse] = {}  # of the previous secret, in a grace
        self.kube: Kube | None = None
        self._moving = asyncio.Lock()
        self._nudged: dict[ObjectKey, datetime] = {}  # the last use a reconcile was asked for

    def is_shard(self, namespace: str, name: str) -> bool:
        return namespace == self.namespace and name in self.shards

    def is_legacy(self, namespace: str, name: str) -> bool:
        return namespace == self.namespace and name == self.prefix

    def read(self, data: Mapping[str, str]) -> set[ObjectKey]:
        """Take in a ConfigMap's entries (only forward: replicas, shards and the legacy
        ConfigMap may disagree); the tokens to reconcile for it. A use of the current
        secret only once it is a status step (LAST_SEEN_STEP) past the last one that was:
        at 100k tokens in use, a reconcile per token per report would be two GETs each,
        thousands a second, to change nothing. The exact time stays here for decisions
        (a reconcile at an inactivity deadline reads it); a use of a previous secret, rare
        and what ends a grace, always."""
        due: set[ObjectKey] = set()
        for entry, value in data.items():
            report = parse_last_seen(entry, value)
            if report is None:
                continue
            known = self.previous if report.previous else self.current
            old = known.get(report.key)
            if old is not None and report.use.at <= old.at:
                continue
            known[report.key] = report.use
            if report.previous:
                due.add(report.key)
                continue
            nudged = self._nudged.get(report.key)
            if nudged is None or report.use.at >= nudged + LAST_SEEN_STEP:
                self._nudged[report.key] = report.use.at
                due.add(report.key)
        return due

    async def forget(self, key: ObjectKey, current: bool = True, previous: bool = True) -> None:
        """A token is gone (or its grace is over): its entries go from memory and its shard."""
        if current:
            self._nudged.pop(key, None)
        entries = [
            last_seen_key(key, prev)
            for prev, known, wanted in ((False, self.current, current), (True, self.previous, previous))
            if wanted and known.pop(key, None) is not None
        ]
        if entries and self.kube is not None:
            await self.kube.drop_configmap_keys(self.namespace, last_seen_shard(self.prefix, key), entries)

    async def prune(self, shards: Iterable[tuple[str, Mapping[str, str]]], exists: Exists) -> int:
        """Drop the entries of tokens deleted while no operator watched (served namespaces
        only: another operator's gateway may report into the same ConfigMaps)."""
        assert self.kube is not None
        dropped = 0
        for name, data in shards:
            stale: dict[str, Report] = {}
            for entry, value in data.items():
                report = parse_last_seen(entry, value)
                if report is not None and self.serves(report.key[0]) and not exists(report.key):
                    stale[entry] = report
            for report in stale.values():
                (self.previous if report.previous else self.current).pop(report.key, None)
                if not report.previous:
                    self._nudged.pop(report.key, None)
            if stale:
                await self.kube.drop_configmap_keys(self.namespace, name, list(stale))
                dropped += len(stale)
        return dropped

    async def move_legacy(self, version: str, data: Mapping[str, str], exists: Exists) -> None:
        """Move what gatepass 0.2's single ConfigMap holds into the shards, then empty it.
        Again on each of its changes: a 0.2 gateway may still write it during an upgrade."""
        assert self.kube is not None
        async with self._moving:
            by_shard: dict[str, dict[str, str]] = {}
            for entry, value in data.items():
                report = parse_last_seen(entry, value)
                if report is not None and exists(report.key):
                    by_shard.setdefault(last_seen_shard(self.prefix, report.key), {})[entry] = value
            await self.kube.ensure_configmaps(self.namespace, self.shards, LABELS)
            failed: set[str] = set()
            for shard, entries in by_shard.items():
                if not await self._merge(shard, entries):
                    failed |= entries.keys()
            gone = [e for e in data if e not in failed]  # moved, unreadable, or of a deleted token
            try:
                await self.kube.patch_configmap_data(
                    self.namespace, self.prefix, dict.fromkeys(gone), version
                )
            except Conflict:
                return  # written meanwhile: that change's event moves the rest
            log.info(
                "moved %d last-use entries from %s/%s into its shards", len(gone), self.namespace, self.prefix
            )

    async def _merge(self, shard: str, entries: Mapping[str, str]) -> bool:
        """Write the entries newer than the shard's own; guarded by its resourceVersion."""
        assert self.kube is not None
        for _ in range(MERGE_ATTEMPTS):
            found = await self.kube.read_configmap(self.namespace, shard)
            if found is None:
                return False
            version, present = found
            newer = {e: v for e, v in entries.items() if _newer(e, v, present.get(e))}
            if not newer:
                return True
            try:
                await self.kube.patch_configmap_data(self.namespace, shard, newer, version)
                return True
            except Conflict:
                continue
        return False


def _newer(entry: str, value: str, present: str | None) -> bool:
    if present is None:
        return True
    ours, theirs = parse_last_seen(entry, value), parse_last_seen(entry, present)
    return theirs is None or (ours is not None and ours.use.at > theirs.use.at)
