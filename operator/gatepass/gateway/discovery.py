"""The cluster's service-account issuer and its keys, for gateway/workload.py.

Read from the API server's own discovery endpoints (``/.well-known/openid-configuration``
and ``/openid/v1/jwks``, which Kubernetes grants every ServiceAccount by default) at
start, every ``interval`` after, and on demand when a token names a key not seen yet:
at most once per ``min_gap`` however many such tokens arrive, so a client sending
made-up key ids cannot make the gateway hammer the API server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.gateway.workload import WorkloadTokens

log = logging.getLogger(__name__)
CONFIGURATION = "/.well-known/openid-configuration"
JWKS = "/openid/v1/jwks"
Fetch = Callable[[str], Awaitable[Any]]  # GET a path, as JSON


class Discovery:
    def __init__(
        self,
        fetch: Fetch,
        tokens: WorkloadTokens,
        interval: float = 300.0,
        min_gap: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.tokens = tokens
        self.interval = interval
        self.min_gap = min_gap
        self.clock = clock
        self.loaded = asyncio.Event()  # once, the first time keys arrived
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> bool:
        """Fetch both documents now; False (logged) when the API server did not give them."""
        self._last = self.clock()
        try:
            config = await self.fetch(CONFIGURATION)
            jwks = await self.fetch(JWKS)
            issuer = config.get("issuer") if isinstance(config, dict) else None
            if not isinstance(issuer, str) or not isinstance(jwks, dict):
                raise ValueError("unexpected discovery documents")
        except (ApiException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            log.warning("service-account issuer keys unavailable: %s", _why(e))
            return False
        before = set(self.tokens.keys)
        self.tokens.set_issuer(issuer, jwks)
        if set(self.tokens.keys) != before:
            kids = ", ".join(k[:12] for k in self.tokens.keys) or "none usable"
            log.info("service-account issuer %s, keys: %s", issuer, kids)
        if self.tokens.ready:
            self.loaded.set()
        return True

    async def refresh(self) -> bool:
        """On a key id not seen yet: fetch again unless that was done within ``min_gap``
        (concurrent callers share one fetch). True if a fetch was made for this call."""
        async with self._lock:
            if self._last is not None and self.clock() - self._last < self.min_gap:
                return False
            return await self.load()

    async def run(self) -> None:
        backoff = 1.0
        while True:
            async with self._lock:
                ok = await self.load()
            await asyncio.sleep(self.interval if ok else backoff)
            backoff = 1.0 if ok else min(backoff * 2, 60.0)


def _why(e: Exception) -> str:
    if isinstance(e, ApiException):
        return f"API error {e.status} {e.reason}"
    return type(e).__name__ if not isinstance(e, ValueError) else str(e)
