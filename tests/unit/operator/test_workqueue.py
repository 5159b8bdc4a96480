import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gatepass.contract import ObjectKey as Key
from gatepass.operator.workqueue import RETRIES_AT_ONCE, Backoff, Retry, WorkQueue


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Key] = []
        self.running: set[Key] = set()
        self.overlap = False
        self.gate = asyncio.Event()
        self.gate.set()
        self.result: datetime | None = None
        self.fail_times = 0

    async def __call__(self, key: Key) -> datetime | None:
        if key in self.running:
            self.overlap = True
        self.running.add(key)
        self.calls.append(key)
        await self.gate.wait()
        self.running.discard(key)
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("boom")
        return self.result


async def settle(q: WorkQueue, seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


@pytest.mark.asyncio
async def test_adds_before_processing_collapse_into_one_run() -> None:
    rec = Recorder()
    q = WorkQueue(rec, concurrency=2)
    for _ in range(5):
        q.add(("ns", "a"))
    q.start()
    await settle(q)
    await q.stop()
    assert rec.calls == [("ns", "a")]


@pytest.mark.asyncio
async def test_add_while_running_runs_once_more_never_concurrently() -> None:
    rec = Recorder()
    rec.gate.clear()
    q = WorkQueue(rec, concurrency=4)
    q.start()
    q.add(("ns", "a"))
    await settle(q)
    q.add(("ns", "a"))
    q.add(("ns", "a"))
    await settle(q)
    rec.gate.set()
    await settle(q)
    await q.stop()
    assert rec.calls == [("ns", "a"), ("ns", "a")]
    assert not rec.overlap


@pytest.mark.asyncio
async def test_wake_time_schedules_the_next_run() -> None:
    rec = Recorder()
    rec.result = datetime.now(UTC) + timedelta(milliseconds=100)
    q = WorkQueue(rec)
    q.start()
    q.add(("ns", "a"))
    await settle(q, 0.03)
    assert len(rec.calls) == 1
    rec.result = None
    await settle(q, 0.3)
    assert len(rec.calls) == 2  # the timer fired
    await settle(q, 0.3)
    await q.stop()
    assert len(rec.calls) == 2  # and nothing wakes it again: no timer is left behind


@pytest.mark.asyncio
async def test_forget_cancels_the_timer() -> None:
    rec = Recorder()
    rec.result = datetime.now(UTC) + timedelta(milliseconds=50)
    q = WorkQueue(rec)
    q.start()
    q.add(("ns", "a"))
    await settle(q, 0.02)
    q.forget(("ns", "a"))
    await settle(q, 0.15)
    await q.stop()
    assert len(rec.calls) == 1


@pytest.mark.asyncio
async def test_failures_back_off_then_recover(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    rec.fail_times = 1
    q = WorkQueue(rec)
    q.start()
    q.add(("ns", "a"))
    await settle(q, 0.02)
    assert len(rec.calls) == 1
    await settle(q, 1.2)  # first backoff is 1 s
    await q.stop()
    assert len(rec.calls) == 2
    assert "retrying in 1.0s" in caplog.text


@pytest.mark.asyncio
async def test_retry_runs_again_at_once() -> None:
    calls: list[Key] = []

    async def worker(key: Key) -> datetime | None:
        calls.append(key)
        if len(calls) == 1:
            raise Retry
        return None

    q = WorkQueue(worker)
    q.start()
    q.add(("ns", "a"))
    await settle(q)
    await q.stop()
    assert calls == [("ns", "a"), ("ns", "a")]


@pytest.mark.asyncio
async def test_a_write_refused_again_and_again_backs_off_instead_of_spinning() -> None:
    calls: list[Key] = []

    async def worker(key: Key) -> datetime | None:
        calls.append(key)
        raise Retry  # e.g. every write answered 404/409

    q = WorkQueue(worker)
    q.start()
    q.add(("ns", "a"))
    await settle(q, 0.3)
    await q.stop()
    # A few immediate retries, then the first backoff (1 s): not hundreds of runs.
    assert len(calls) == RETRIES_AT_ONCE
    assert q.failures(("ns", "a")) == 1


@pytest.mark.asyncio
async def test_backoff_asked_by_the_worker_waits_and_logs_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[Key] = []

    async def worker(key: Key) -> datetime | None:
        calls.append(key)
        if len(calls) == 1:
            raise Backoff("namespace x does not exist")
        return None

    q = WorkQueue(worker)
    q.start()
    q.add(("ns", "a"))
    await settle(q, 0.3)
    assert len(calls) == 1  # waiting out the backoff
    await settle(q, 1.0)
    await q.stop()
    assert len(calls) == 2
    assert q.failures(("ns", "a")) == 0  # recovered
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_backoff_is_capped_and_never_overflows() -> None:
    from gatepass.operator.workqueue import backoff

    assert backoff(1, 300) == 1.0
    assert backoff(5, 300) == 16.0
    assert backoff(10_000, 300) == 300.0  # 0.5 * 2**10000 would overflow a float


@pytest.mark.asyncio
async def test_a_lost_worker_is_reported_and_a_stopped_one_is_not() -> None:
    rec = Recorder()
    q = WorkQueue(rec, concurrency=2)
    q.start()
    assert q.alive
    q._tasks[0].cancel()  # as if something killed it
    await asyncio.sleep(0.01)
    assert not q.alive
    await q.stop()
    q2 = WorkQueue(rec, concurrency=2)
    q2.start()
    await q2.stop()
    assert q2.alive


class EchoingWorker:
    """A worker whose run writes (a new version, recorded when the write returns) and
    whose watch event for that write arrives before the write has returned."""

    def __init__(self, q: "list[WorkQueue]", fail: bool = False) -> None:
        self.q, self.fail = q, fail
        self.calls = 0
        self.recorded: set[int] = set()

    async def __call__(self, key: Key) -> datetime | None:
        self.calls += 1
        version = self.calls
        # The echo of this run's write, queued while the write is still in flight...
        self.q[0].add(key, unless=lambda: version in self.recorded)
        await asyncio.sleep(0)
        self.recorded.add(version)  # ...then the write returns and is recorded as ours
        if self.fail:
            raise RuntimeError("the Secret was refused")
        return None


@pytest.mark.asyncio
async def test_the_echo_of_a_runs_own_write_starts_no_run_though_it_came_first() -> None:
    holder: list[WorkQueue] = []
    worker = EchoingWorker(holder)
    q = WorkQueue(worker)
    holder.append(q)
    q.start()
    q.add(("ns", "a"))
    await settle(q, 0.1)
    await q.stop()
    assert worker.calls == 1


@pytest.mark.asyncio
async def test_a_failed_run_waits_out_its_backoff_though_its_own_echo_came_during_it() -> None:
    holder: list[WorkQueue] = []
    worker = EchoingWorker(holder, fail=True)
    q = WorkQueue(worker)
    holder.append(q)
    q.start()
    q.add(("ns", "a"))
    await settle(q, 0.3)  # the first backoff is 1 s: an echo must not cut it short
    await q.stop()
    assert worker.calls == 1
    assert q.failures(("ns", "a")) == 1


@pytest.mark.asyncio
async def test_a_change_that_is_not_ours_during_a_run_runs_it_again() -> None:
    rec = Recorder()
    rec.gate.clear()
    q = WorkQueue(rec)
    q.start()
    q.add(("ns", "a"))
    await settle(q)
    q.add(("ns", "a"), unless=lambda: False)  # someone else's write: never recorded as ours
    rec.gate.set()
    await settle(q)
    await q.stop()
    assert rec.calls == [("ns", "a"), ("ns", "a")]


@pytest.mark.asyncio
async def test_an_add_known_to_be_an_echo_is_dropped() -> None:
    rec = Recorder()
    q = WorkQueue(rec)
    q.start()
    q.add(("ns", "a"), unless=lambda: True)
    await settle(q)
    await q.stop()
    assert rec.calls == []
