"""Removals from the last-seen shards: one patch per shard per period, bounded."""

from __future__ import annotations

import asyncio

import pytest

from gatepass.operator.sweeper import Sweeper


class Shards:
    """The API server as the sweeper sees it: each patch recorded, some slow or failing."""

    def __init__(self, failures: int = 0) -> None:
        self.patches: list[tuple[str, list[str]]] = []
        self.running = self.most = 0
        self.failures = failures

    async def drop(self, shard: str, keys: list[str]) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.01)
            if self.failures:
                self.failures -= 1
                raise OSError("connection reset")
            self.patches.append((shard, keys))
        finally:
            self.running -= 1


@pytest.mark.asyncio
async def test_six_hundred_removals_over_three_shards_are_three_patches() -> None:
    """Before: one patch (and a rewrite of the whole shard in etcd) per deleted token."""
    shards = Shards()
    sweeper = Sweeper(shards.drop, period=0.05)
    for i in range(600):
        sweeper.drop(f"s-{i % 3}", [f"ns.t{i}", f"previous_ns.t{i}"])
        if i % 100 == 0:
            await asyncio.sleep(0)  # deletions arrive over time, within the period
    await sweeper.idle()
    assert sorted(shard for shard, _ in shards.patches) == ["s-0", "s-1", "s-2"]
    assert sum(len(keys) for _, keys in shards.patches) == 1200


@pytest.mark.asyncio
async def test_patches_are_bounded_in_size_and_concurrency() -> None:
    shards = Shards()
    sweeper = Sweeper(shards.drop, period=0.01, concurrency=2, max_keys=100)
    for s in range(8):
        sweeper.drop(f"s-{s}", [f"ns.t{i}" for i in range(250)])
    await sweeper.idle()
    assert len(shards.patches) == 8 * 3  # 100 + 100 + 50 a shard
    assert max(len(keys) for _, keys in shards.patches) == 100
    assert shards.most == 2


@pytest.mark.asyncio
async def test_a_failed_patch_is_tried_again_later_with_what_came_meanwhile() -> None:
    shards = Shards(failures=1)
    sweeper = Sweeper(shards.drop, period=0.01)
    sweeper.drop("s-0", ["ns.a"])
    await asyncio.sleep(0.015)  # the first attempt is under way
    sweeper.drop("s-0", ["ns.b"])
    await sweeper.idle()
    assert shards.patches == [("s-0", ["ns.a", "ns.b"])]


@pytest.mark.asyncio
async def test_nothing_to_remove_starts_nothing() -> None:
    shards = Shards()
    sweeper = Sweeper(shards.drop, period=0.01)
    sweeper.drop("s-0", [])
    await sweeper.idle()
    assert shards.patches == []
    assert sweeper.pending == {}
