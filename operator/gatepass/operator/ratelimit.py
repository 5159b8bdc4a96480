"""A client-side limit on the operator's API requests (client-go's QPS/burst).

However many objects change at once, the operator never sends the API server
more than ``qps`` requests a second on average (``burst`` at once after a quiet
spell): a mass change slows the operator down, never the control plane.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client

from gatepass.operator import metrics


class TokenBucket:
    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._at = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        """Wait for one token; waiters are served in arrival order. The seconds waited."""
        start = self._clock()
        async with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.qps)
            self._at = now
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.qps)
                self._tokens = 1.0
                self._at = self._clock()
            self._tokens -= 1
        return self._clock() - start


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class LimitedApiClient(client.ApiClient):
    """An ApiClient whose every request first takes a token from the bucket, and is counted."""

    def __init__(self, bucket: TokenBucket | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bucket = bucket  # None: no client-side limit (counted all the same)
        # kubernetes_asyncio's aiohttp session trusts the environment: every request then
        # reads ~/.netrc and looks for a proxy, each in a thread (a third of the operator's
        # CPU when issuing thousands of tokens). Without proxy variables there is nothing
        # to find: don't look.
        if not any(os.environ.get(v) for v in PROXY_VARIABLES):
            self.rest_client.pool_manager._trust_env = False  # aiohttp has no public setter

    async def request(self, method: str, *args: Any, **kwargs: Any) -> Any:
        waited = await self.bucket.acquire() if self.bucket is not None else 0.0
        if waited > 0:
            metrics.API_THROTTLED.inc(waited)
        metrics.API_REQUESTS.labels(method).inc()
        return await super().request(method, *args, **kwargs)
