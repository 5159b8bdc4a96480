"""Per-token rate limits: a token bucket per token and application, in this gateway
replica's memory. The limit is the token's spec.rateLimit, else the application's
tokenRateLimit.

Per application because every origin a token reaches receives a session JWT that the
gateway accepts again at that origin's application: with one bucket for the token, an
origin replaying it would spend the token's requests at every other application. Per
application, a replay spends only what the token has at the replayer's own application.
A token's owner may still ask for one bucket across applications (scope Token).

Limits are per replica, as with most proxies' local limiters: N replicas admit up to
N times the rate in total (the README says so). No API call, no lock (one event loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gatepass.models.servicetoken import RateLimit

# Buckets that have filled up again are forgotten now and then: an idle bucket is the same
# as none, so memory follows the tokens in use, not every token ever limited.
SWEEP_EVERY = 4096


@dataclass(frozen=True)
class Limit:
    rate: float  # requests per second, on average
    burst: int  # requests at once after a quiet spell
    shared: bool = False  # one bucket across applications (the token's scope: Token)

    @classmethod
    def of(cls, spec: RateLimit | None) -> Limit | None:
        return None if spec is None else cls(*spec.bucket, shared=spec.shared)


class Limited(Protocol):
    """A token as the limiter reads it (state.TokenRecord): state.py holds Limit in its
    records, so this module names only what it reads, not the records."""

    @property
    def client_id(self) -> str: ...
    @property
    def rate_limit(self) -> Limit | None: ...


class Application(Protocol):
    """An application as the limiter reads it (state.AppRecord)."""

    @property
    def uid(self) -> str: ...
    @property
    def token_rate_limit(self) -> Limit | None: ...


@dataclass
class _Bucket:
    level: float
    updated: float
    limit: Limit

    def refilled(self, now: float) -> float:
        return min(float(self.limit.burst), self.level + max(0.0, now - self.updated) * self.limit.rate)


def applying(token: Limited, app: Application) -> Limit | None:
    """The limit a token has at an application: its own spec.rateLimit, else the
    application's tokenRateLimit (also what makes a forward-auth answer not reusable)."""
    return token.rate_limit or app.token_rate_limit


class Limits:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._takes = 0

    def take(self, token: Limited, app: Application, now: float) -> float:
        """Take one request from the token's bucket at ``app``: 0 if allowed, else the
        seconds until one would be (for Retry-After)."""
        limit = applying(token, app)
        if limit is None:
            return 0.0
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:
            self._sweep(now)
        key = (token.client_id, "" if limit.shared else app.uid)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.burst), now, limit)
        bucket.level, bucket.updated, bucket.limit = bucket.refilled(now), now, limit
        if bucket.level >= 1.0:
            bucket.level -= 1.0
            return 0.0
        return (1.0 - bucket.level) / limit.rate

    def _sweep(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.refilled(now) >= b.limit.burst]
        for k in full:
            del self._buckets[k]

    def __len__(self) -> int:
        return len(self._buckets)
