"""How much of a last-seen shard each namespace may hold (water-filling)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gatepass.contract import LastUse, last_seen_entry
from gatepass.decisions.shardbudget import SHARD_BUDGET, entry_cost, evictions, target

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def entries(ns: str, count: int, name_len: int = 20, start: int = 0) -> dict[str, str]:
    return dict(
        last_seen_entry((ns, f"{i:05d}" + "x" * name_len), LastUse(T0 + timedelta(minutes=i), f"{ns}/app"))
        for i in range(start, start + count)
    )


def size(data: dict[str, str]) -> int:
    return sum(entry_cost(k, v) for k, v in data.items())


def test_within_its_budget_a_shard_keeps_everything() -> None:
    data = {**entries("a", 50), **entries("b", 50)}
    assert evictions(data, budget=size(data)) == []
    assert evictions({}, budget=1) == []


def test_past_its_budget_only_the_namespaces_above_an_equal_cap_lose_entries_oldest_first() -> None:
    small, mid, big = entries("small", 5), entries("mid", 40), entries("big", 400, name_len=200)
    data = {**small, **mid, **big}
    budget = size(data) // 2
    gone = evictions(data, budget)
    assert not set(gone) & (small.keys() | mid.keys())  # below the cap: untouched
    assert gone == sorted(big)[: len(gone)]  # the big writer's oldest (names sort by time here)
    left = {k: v for k, v in data.items() if k not in gone}
    assert size(left) <= target(budget) < budget
    assert size(left) > target(budget) - 600  # no more than needed


def test_two_large_writers_are_brought_to_the_same_cap() -> None:
    a, b, c = entries("a", 300), entries("b", 200), entries("c", 10)
    data = {**a, **b, **c}
    gone = set(evictions(data, budget=size(data) // 2))
    kept_a, kept_b = size({k: a[k] for k in a if k not in gone}), size({k: b[k] for k in b if k not in gone})
    assert abs(kept_a - kept_b) < 2 * 120  # within an entry or two of each other
    assert not gone & c.keys()


def test_unreadable_entries_count_too() -> None:
    readable = entries("a", 100)
    data = {**readable, "junk-without-namespace": "x" * 50_000}
    assert evictions(data, budget=size(data) - 100) == ["junk-without-namespace"]
    # Within a namespace, one whose time does not read goes before the oldest readable one.
    data = {**readable, "a.broken": "not a time"}
    assert evictions(data, budget=size(data) - 100)[0] == "a.broken"


def test_an_entrys_cost_bounds_what_it_takes_in_etcd() -> None:
    """etcd refuses an object past 1.5 MiB; the API server's managedFields repeat each key
    (``"f:<key>":{},``) and protobuf frames each key and value. At the budget, whatever
    the entries, a shard stays well under that limit."""
    for key, value in (("n" * 253, "2026-12-07T00:00:00Z n/a -"), ("n.t", "2026-12-07T00:00:00Z - -")):
        in_etcd = (len(key) + len(value) + 6) + (len(f'"f:{key}":{{}},'))
        assert in_etcd <= entry_cost(key, value)
    assert SHARD_BUDGET + 4096 < 0.7 * 1.5 * 1024 * 1024
