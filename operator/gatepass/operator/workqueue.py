"""A keyed work queue with deduplication, timers and per-key backoff.

The same contract as client-go's workqueue: a key is processed by at most one
worker at a time; adding a key that is being processed runs it once more
afterwards; many adds before a worker picks it up collapse into one run.
Timers (the next expiry, alert or renewal) add the key when they fire, so an
idle operator sleeps instead of polling.

One addition to that contract: an add may say ``unless`` (it is only the echo of our
own write). A watch event can arrive before the write that caused it has returned, so
whether it is ours is asked again when the run ends; an echo then starts no run, and a
failed run waits out its backoff instead of running again at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from gatepass.contract import ObjectKey

log = logging.getLogger(__name__)

Worker = Callable[[ObjectKey], Awaitable[datetime | None]]
Echo = Callable[[], bool]

# Cap one sleep: wall-clock and monotonic clocks drift apart over months, and a
# daily look costs nothing.
MAX_SLEEP = 24 * 3600.0
# Wake slightly after a deadline so "now >= deadline" holds when deciding.
LATE_BY = 0.05
FIRST_BACKOFF = 0.5
# A conflict is retried at once this many times in a row, then backs off like a failure:
# a write the API server keeps refusing (a missing namespace, say) must not spin.
RETRIES_AT_ONCE = 3


def backoff(failures: int, cap: float) -> float:
    """0.5 s doubling per failure, capped; never overflows however many failures."""
    return min(cap, FIRST_BACKOFF * 2.0 ** min(failures, 32))


class Retry(Exception):
    """Raise from a worker to run the key again at once (e.g. a write conflict); the
    RETRIES_AT_ONCE-th retry in a row backs off instead."""


class Backoff(Exception):
    """Raise from a worker to run the key again after the usual backoff, when the worker
    has already said why (no traceback is logged)."""


class WorkQueue:
    def __init__(self, worker: Worker, concurrency: int = 4, max_backoff: float = 300.0) -> None:
        self._worker = worker
        self._concurrency = concurrency
        self._max_backoff = max_backoff
        self._queue: asyncio.Queue[ObjectKey] = asyncio.Queue()
        self._queued: set[ObjectKey] = set()
        self._running: set[ObjectKey] = set()
        self._again: set[ObjectKey] = set()
        # Adds during a run that may be echoes of its own writes: asked when the run ends.
        self._maybe_again: dict[ObjectKey, list[Echo]] = {}
        self._timers: dict[ObjectKey, asyncio.TimerHandle] = {}
        self._failures: dict[ObjectKey, int] = {}
        self._retries: dict[ObjectKey, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._dead = 0  # workers that ended other than by stop(): the liveness probe fails

    @property
    def alive(self) -> bool:
        return self._dead == 0

    def failures(self, key: ObjectKey) -> int:
        """How many reconciles of key have failed in a row (0: it is not backing off)."""
        return self._failures.get(key, 0)

    def add(self, key: ObjectKey, unless: Echo | None = None) -> None:
        """Run key (once more after its current run, if it is running). ``unless``: the
        add is void if it answers True, asked now and, during a run, when the run ends."""
        if unless is not None and unless():
            return
        if key in self._running:
            if unless is None:
                self._again.add(key)
            else:
                self._maybe_again.setdefault(key, []).append(unless)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: ObjectKey, seconds: float) -> None:
        """Add key after a delay; replaces any timer the key had."""
        self._cancel_timer(key)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(max(0.0, min(seconds, MAX_SLEEP)), self._fire, key)

    def add_at(self, key: ObjectKey, when: datetime) -> None:
        self.add_after(key, (when - datetime.now(UTC)).total_seconds() + LATE_BY)

    def forget(self, key: ObjectKey) -> None:
        """The object is gone: drop its timer and backoff state."""
        self._cancel_timer(key)
        self._failures.pop(key, None)
        self._retries.pop(key, None)

    def _fire(self, key: ObjectKey) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _cancel_timer(self, key: ObjectKey) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"gatepass-worker-{i}") for i in range(self._concurrency)
        ]
        for task in self._tasks:
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() and task not in self._tasks:
            return  # stopped on purpose
        self._dead += 1
        error = None if task.cancelled() else task.exception()
        log.critical(
            "work-queue worker %s ended (%r): the operator is no longer live", task.get_name(), error
        )

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _back_off(self, key: ObjectKey) -> float:
        """Count one more failure of key and run it again after the backoff; the delay."""
        n = self._failures[key] = self._failures.get(key, 0) + 1
        delay = backoff(n, self._max_backoff)
        self.add_after(key, delay)
        return delay

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._running.add(key)
            try:
                wake = await self._worker(key)
            except Retry:
                retries = self._retries[key] = self._retries.get(key, 0) + 1
                if retries < RETRIES_AT_ONCE:
                    self._again.add(key)
                else:
                    delay = self._back_off(key)
                    log.info("%s/%s: %d conflicts in a row; retrying in %.1fs", *key, retries, delay)
            except Backoff as e:
                delay = self._back_off(key)
                log.debug("%s/%s: %s; retrying in %.1fs", *key, e, delay)
            except asyncio.CancelledError:
                raise
            except Exception:
                n = self._failures.get(key, 0) + 1
                delay = self._back_off(key)
                log.exception("reconcile of %s/%s failed (attempt %d); retrying in %.1fs", *key, n, delay)
            else:
                self._failures.pop(key, None)
                self._retries.pop(key, None)
                if wake is not None:
                    self.add_at(key, wake)
                else:
                    self._cancel_timer(key)
            finally:
                self._running.discard(key)
                echoes = self._maybe_again.pop(key, [])
                if key in self._again or not all(echo() for echo in echoes):
                    self._again.discard(key)
                    self.add(key)
