"""The operator's client-side API rate limit, on a fake clock (no timing in unit tests)."""

from __future__ import annotations

import asyncio

import pytest

from gatepass.operator.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.asyncio
async def test_a_burst_then_the_steady_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(qps=10, burst=5, clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        await bucket.acquire()
    assert t.slept == []  # the burst goes at once
    for _ in range(20):
        await bucket.acquire()
    assert t.now == pytest.approx(2.0)  # then 10 a second: 20 more take two seconds
    t.now += 100  # a quiet spell refills the burst, never more
    for _ in range(5):
        await bucket.acquire()
    assert t.now == pytest.approx(102.0)
    await bucket.acquire()
    assert t.now == pytest.approx(102.1)


@pytest.mark.asyncio
async def test_concurrent_callers_share_the_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(qps=4, burst=1, clock=t.clock, sleep=t.sleep)
    await asyncio.gather(*(bucket.acquire() for _ in range(9)))
    assert t.now == pytest.approx(2.0)


@pytest.mark.asyncio
async def test_each_caller_learns_how_long_it_waited() -> None:
    t = FakeTime()
    bucket = TokenBucket(qps=2, burst=2, clock=t.clock, sleep=t.sleep)
    waits = [await bucket.acquire() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.5, 0.5])
