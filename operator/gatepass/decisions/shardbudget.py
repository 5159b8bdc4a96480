"""How much of one last-seen shard each namespace may hold.

A shard is one ConfigMap: past ~1.5 MiB (etcd's limit on an object; ~1 MiB of values) the
API server refuses every write that grows it, and the gateway's new reports into it are
lost. Tenants choose how many tokens they use and how long their names are, so the
operator keeps each shard under a budget: past it, the entries of the namespaces that
hold the most bytes go, oldest first, until every namespace holds at most one cap that
brings the shard down to its target (water-filling). A namespace with few entries keeps
them all, whoever else writes into the shard. An evicted entry's time is already known
(the operator read it before evicting it) and its token's status holds it within a
status step; the gateway reports the token again at its next use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from gatepass.contract import entry_namespace, parse_ts

_UNREADABLE = datetime.min.replace(tzinfo=UTC)

# What a shard's entries may cost in etcd, in bytes (entry_cost): etcd refuses an
# object past 1.5 MiB, and at the budget a shard of any mix of entries is ~1 MiB there,
# the gap taking a flush's growth until the operator evicts. 100k tokens in use with
# realistic names cost ~0.5 MiB a shard.
SHARD_BUDGET = 1024 * 1024


def entry_cost(key: str, value: str) -> int:
    """An entry's bytes in etcd, at most: its key twice (the API server's managedFields
    name every key), its value, and the framing of both."""
    return 2 * len(key) + len(value) + 16


def target(budget: int) -> int:
    """Where an eviction brings a shard: a sixth below its budget, so that the next
    flushes' growth does not make every one of them evict again."""
    return budget * 5 // 6


def evictions(data: Mapping[str, str], budget: int = SHARD_BUDGET) -> list[str]:
    """The keys to remove from a shard holding ``data`` (none while within ``budget``)."""
    if sum(entry_cost(k, v) for k, v in data.items()) <= budget:
        return []
    by_ns: dict[str, list[tuple[datetime, str, int]]] = {}
    for key, value in data.items():
        when = parse_ts(value.split(" ", 1)[0]) or _UNREADABLE
        by_ns.setdefault(entry_namespace(key), []).append((when, key, entry_cost(key, value)))
    held = {ns: sum(cost for _, _, cost in entries) for ns, entries in by_ns.items()}
    cap = _cap(sorted(held.values()), target(budget))
    out = []
    for ns, entries in by_ns.items():
        over = held[ns] - cap
        for _, key, cost in sorted(entries):  # oldest first, unreadable before any
            if over <= 0:
                break
            out.append(key)
            over -= cost
    return out


def _cap(held: list[int], room: int) -> int:
    """The largest cap c with sum(min(h, c) for h in held) <= room; ``held`` ascending."""
    for i, h in enumerate(held):
        left = len(held) - i
        if h * left > room:
            return room // left
        room -= h
    return held[-1] if held else 0
