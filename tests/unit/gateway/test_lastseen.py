"""The gateway's side of the last-seen report: batches, their shards, and a shard that
refuses (its size limit) splitting them, against a fake patch that refuses like the API
server. The real API server: tests/e2e/test_last_seen.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from gatepass.contract import ENTRY_MAX, LastUse, last_seen_entry, last_seen_shards
from gatepass.gateway.lastseen import (
    MAX_PATCHES,
    Entry,
    LastSeen,
    Refused,
    Unavailable,
    Use,
    by_shard,
    split,
    write_split,
)
from gatepass.trust.seal import Sealer, generate_key

A = ("ns", "a")
PREFIX = "gp-last-seen"


def test_batches_keep_the_latest_use_and_survive_a_failed_flush() -> None:
    seen = LastSeen()
    seen.saw("ns", "a", 10.0, "ns/app", "10.0.0.1")
    seen.saw("ns", "a", 20.0, "ns/other", "10.0.0.2")
    batch = seen.take()
    assert batch == {(A, False): (20.0, "ns/other", "10.0.0.2")}
    assert seen.take() == {}
    seen.saw("ns", "a", 15.0, "ns/app", None)  # used again while the failed flush was in flight
    seen.give_back(batch)
    assert seen.take() == {(A, False): (20.0, "ns/other", "10.0.0.2")}
    seen.saw("ns", "a", 30.0, "ns/app", None)  # newer than the batch given back: kept
    seen.give_back(batch)
    assert seen.take() == {(A, False): (30.0, "ns/app", None)}


def test_a_use_of_the_previous_secret_is_reported_apart_and_is_a_use_too() -> None:
    seen = LastSeen()
    seen.saw("ns", "a", 10.0, "ns/app", "10.0.0.1", previous=True)
    seen.saw("ns", "a", 20.0, "ns/app", "10.0.0.2")  # the new secret, from elsewhere
    assert seen.take() == {
        (A, False): (20.0, "ns/app", "10.0.0.2"),
        (A, True): (10.0, "ns/app", "10.0.0.1"),  # not overwritten by the current secret's use
    }


def test_a_flush_is_one_patch_per_shard_used_with_a_tokens_entries_together() -> None:
    sealer = Sealer(generate_key())
    seen = LastSeen()
    tokens = [("ns", f"t{i}") for i in range(400)]
    for ns, name in tokens:
        seen.saw(ns, name, 10.0, "ns/app", None, previous=name == "t7")

    def shard_of(key: tuple[str, str]) -> str:
        return sealer.last_seen_shard(PREFIX, key)

    shards = by_shard(shard_of, seen.take())
    assert set(shards) == set(last_seen_shards(PREFIX))  # 400 tokens touch all of them
    assert sum(len(batch) for batch in shards.values()) == 401
    home = shard_of(("ns", "t7"))
    assert {(("ns", "t7"), False), (("ns", "t7"), True)} <= shards[home].keys()
    one = LastSeen()
    one.saw("ns", "t1", 10.0, "ns/app", None)
    assert list(by_shard(shard_of, one.take())) == [shard_of(("ns", "t1"))]


def test_a_session_counts_as_used_when_it_was_minted_never_later() -> None:
    seen = LastSeen()
    seen.saw("ns", "a", 100.0, "ns/app", "10.0.0.1", session_iat=40.0)  # a session minted at 40
    assert seen.take() == {(A, False): (40.0, "ns/app", "10.0.0.1")}
    seen.saw("ns", "a", 100.0, "ns/app", "10.0.0.1")  # the credentials themselves
    seen.saw("ns", "a", 110.0, "ns/origin", "10.9.9.9", session_iat=40.0)  # replayed later
    assert seen.take() == {(A, False): (100.0, "ns/app", "10.0.0.1")}  # not hidden by the older time
    # A previous secret's session keeps its grace from ending early: reported as used now.
    seen.saw("ns", "a", 120.0, "ns/app", None, previous=True, session_iat=40.0)
    assert seen.take() == {(A, False): (40.0, "ns/app", None), (A, True): (120.0, "ns/app", None)}


class Shard:
    """A ConfigMap as the API server keeps it: a patch that would take it past ``limit``
    bytes is refused whole (as etcd's "request is too large" or a 422), else merged."""

    def __init__(self, limit: int, data: dict[str, str] | None = None) -> None:
        self.limit = limit
        self.data = dict(data or {})
        self.patches = 0
        self.down = False

    def size(self, data: dict[str, str]) -> int:
        return sum(len(k) + len(v) for k, v in data.items())

    async def patch(self, data: dict[str, str]) -> None:
        self.patches += 1
        if self.down:
            raise Unavailable("Service Unavailable")
        merged = {**self.data, **data}
        if self.size(merged) > self.limit:
            raise Refused("Internal Server Error")
        self.data = merged


def entries_of(uses: dict[tuple[str, str], str]) -> dict[Entry, tuple[str, str]]:
    """Each token used at an application: its entry, as the flush formats it."""
    return formatted({(key, False): (0.0, app, "10.0.0.1") for key, app in uses.items()})


def formatted(batch: Mapping[Entry, Use]) -> dict[Entry, tuple[str, str]]:
    return {
        e: last_seen_entry(e[0], LastUse(datetime.fromtimestamp(t, UTC), app, client), e[1])
        for e, (t, app, client) in batch.items()
    }


def hostile(count: int) -> dict[tuple[str, str], str]:
    """A tenant's tokens with the longest names, used at its longest-named application."""
    ns = "a" * 63
    return {(ns, f"{i:06d}" + "x" * 247): f"{ns}/" + "b" * 253 for i in range(count)}


@pytest.mark.asyncio
async def test_a_batch_the_shard_refuses_is_split_and_the_small_writers_entries_are_written() -> None:
    """One tenant's entries take the shard past its limit: without the split the victim's
    entry, in the same batch, was refused with them at every flush."""
    victims = {("victim", "payments-bot"): "victim/api", ("other", "ci"): "other/web"}
    entries = entries_of({**hostile(400), **victims})
    shard = Shard(limit=100 * ENTRY_MAX)
    result = await write_split(shard.patch, entries)
    assert {(k, False) for k in victims} <= set(result.written)
    assert {"victim.payments-bot", "other.ci"} <= shard.data.keys()
    assert shard.patches <= MAX_PATCHES
    assert set(result.written) | set(result.refused) == set(entries)  # each accounted for
    assert not result.unsent
    assert shard.size(shard.data) <= shard.limit
    # Without refusals: one patch, whatever the batch.
    roomy = Shard(limit=10**9)
    assert len((await write_split(roomy.patch, entries)).written) == len(entries)
    assert roomy.patches == 1


@pytest.mark.asyncio
async def test_an_entry_refused_twice_is_dropped_never_retried_forever() -> None:
    seen = LastSeen()
    for (ns, name), app in hostile(50).items():
        seen.saw(ns, name, 10.0, app, None)
    seen.saw("victim", "bot", 10.0, "victim/api", None)
    full = Shard(limit=1)  # nothing fits
    dropped = []
    for _ in range(2):
        batch = seen.take()
        result = await write_split(full.patch, formatted(batch))
        dropped.append(seen.settle(batch, result))
    assert dropped[0] == 0  # refused once: tried at the next flush
    assert dropped[1] == 51  # refused again: gone
    assert seen.take() == {}
    assert seen.struck == set()
    # A use after that reports again.
    seen.saw("victim", "bot", 20.0, "victim/api", None)
    assert list(seen.take()) == [(("victim", "bot"), False)]


@pytest.mark.asyncio
async def test_an_unavailable_api_server_costs_one_patch_and_keeps_everything() -> None:
    seen = LastSeen()
    for (ns, name), app in hostile(20).items():
        seen.saw(ns, name, 10.0, app, None)
    batch = seen.take()
    shard = Shard(limit=10**9)
    shard.down = True
    result = await write_split(shard.patch, formatted(batch))
    assert shard.patches == 1
    assert sorted(result.unsent) == sorted(batch)
    assert seen.settle(batch, result) == 0
    assert seen.take() == batch
    assert not seen.struck


def test_a_refused_batch_splits_by_namespace_smaller_writers_first() -> None:
    entries = entries_of({**hostile(10), ("small", "one"): "small/app", ("mid", "a"): "mid/app"})
    keys = list(entries)

    def size(e: Entry) -> int:
        return sum(map(len, entries[e]))

    first, second = split(keys, size)
    assert {e[0][0] for e in first} == {"small", "mid"}
    assert {e[0][0] for e in second} == {"a" * 63}
    assert sorted(first + second) == sorted(keys)
    # One namespace: halves.
    alone = [e for e in keys if e[0][0] == "a" * 63]
    a, b = split(alone, size)
    assert (len(a), len(b)) == (5, 5)
    assert not set(a) & set(b)
