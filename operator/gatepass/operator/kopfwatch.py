"""kopf's watches, kept alive through an API server outage of any length.

kopf retries a failed API request once per item of ``settings.networking.error_backoffs``
and then gives up; a watch that gives up is never started again: kopf logs "Watcher for
... has failed" and carries on, deaf to that kind, while the process looks healthy. An
outage a little longer than the sum of the delays (an API server restarted slowly after a
minute away) left the operator hearing of no new token at all. So the delays here never
run out (kopf asks an iterable without a length for as many as it needs, afresh for each
request), and should a watch end anyway (an error event kopf treats as fatal), the
liveness probe fails and the kubelet restarts the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import kopf

# Seconds between kopf's attempts at a failed API request: 10 s at most, so a watch is back
# within seconds of the API server (one refused connection per watch per 10 s meanwhile).
DELAYS = (1.0, 2.0, 5.0, 10.0)

# kopf's guard for a watcher task logs this (capitalised task name) when the task raised.
_FAILED_WATCHER = "Watcher for "
_FAILED = " has failed"


class RetryForever:
    """The given delays, then the last one for ever: an iterable kopf cannot count."""

    def __init__(self, *delays: float) -> None:
        if not delays:
            raise ValueError("at least one delay")
        self.delays = delays

    def __iter__(self) -> Iterator[float]:
        yield from self.delays
        while True:
            yield self.delays[-1]


def retry_forever(settings: kopf.OperatorSettings, delays: tuple[float, ...] = DELAYS) -> None:
    """kopf retries every failed request (watches, listings) after ``delays``, for ever."""
    settings.networking.error_backoffs = RetryForever(*delays)


class DeadWatches(logging.Handler):
    """Notes each kopf watch that ended by an error (kopf never restarts one)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.dead: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(_FAILED_WATCHER) and _FAILED in message:
            self.dead.append(message[len("Watcher for ") :].partition(_FAILED)[0])

    def problem(self) -> str | None:
        """For the liveness probe: None while every watch runs."""
        if not self.dead:
            return None
        return f"kopf's watch of {', '.join(sorted(set(self.dead)))} ended: restart to watch again"

    def attach(self) -> DeadWatches:
        logging.getLogger("kopf").addHandler(self)
        return self

    def detach(self) -> None:
        logging.getLogger("kopf").removeHandler(self)
