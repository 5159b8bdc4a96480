"""Exactly one operator writes: the holder of a Lease in the operator's namespace.

Every replica watches and queues (cheap, and a standby is warm); only the holder runs its
work queues. The holder renews every RENEW_EVERY seconds and steps down by itself when it
could not renew for RENEW_DEADLINE, before anyone may take the lease (DURATION), so two
operators never write at once. A standby takes an expired lease; expiry is judged by its own
clock, from when it last saw the lease change (as client-go does: no trust in clocks agreeing
across machines). A holder that stops releases the lease: its successor starts at once.

kopf's own peering is not used: replicas of one priority pause each other (all of them), and
a paused kopf would not stop the work queues' own timers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

log = logging.getLogger(__name__)

DURATION = 15.0  # a lease not renewed this long may be taken
RENEW_DEADLINE = 10.0  # the holder steps down if it could not renew this long
RENEW_EVERY = 2.0
RETRY_EVERY = 2.0  # a standby looks again this often


def _micro(t: datetime) -> str:
    """MicroTime as the API server wants it (RFC 3339 with exactly six decimals)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Leadership:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases = client.CoordinationV1Api(api)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.clock = clock
        self.leading = False
        self._seen: tuple[Any, float] | None = None  # (the lease's record, when it last changed)
        self._where = f"{namespace}/{name}"

    async def run(self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
        """Acquire, then ``start``; renew until the lease is lost, then ``stop`` and return
        (the caller exits)."""
        while not self.leading:
            try:
                self.leading = await self._try()
            except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
                log.warning("leader lease %s/%s: %s", self.namespace, self.name, _why(e))
            if not self.leading:
                await asyncio.sleep(RETRY_EVERY)
        log.info("leading (lease %s/%s, as %s)", self.namespace, self.name, self.identity)
        await start()
        renewed = self.clock()
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                if await self._try():
                    renewed = self.clock()
                    continue
                log.error(
                    "leader lease %s/%s taken by another operator: stepping down", self.namespace, self.name
                )
            except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
                if self.clock() - renewed < RENEW_DEADLINE:
                    log.warning("leader lease %s not renewed: %s", self._where, _why(e))
                    continue
                log.error(
                    "leader lease %s/%s not renewed for %.0fs: stepping down",
                    self.namespace,
                    self.name,
                    RENEW_DEADLINE,
                )
            self.leading = False
            await stop()
            return

    async def release(self) -> None:
        """Give the lease up (at shutdown, after the work has stopped): a standby takes over now."""
        if not self.leading:
            return
        self.leading = False
        try:
            lease = await self.leases.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity == self.identity:
                body = self._body(lease.metadata.resource_version, lease, holder="", duration=1)
                await self.leases.replace_namespaced_lease(self.name, self.namespace, body)
                log.info("leader lease %s/%s released", self.namespace, self.name)
        except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
            log.warning(
                "leader lease %s/%s not released (it expires by itself): %s",
                self.namespace,
                self.name,
                _why(e),
            )

    async def _try(self) -> bool:
        """One look: True if this replica holds the lease afterwards."""
        try:
            lease = await self.leases.read_namespaced_lease(self.name, self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            body = self._body(None, None, holder=self.identity)
            try:
                await self.leases.create_namespaced_lease(self.namespace, body)
            except ApiException as e2:
                if e2.status == 409:
                    return False  # someone else created it first
                raise
            return True
        spec = lease.spec
        record = (spec.holder_identity, spec.renew_time, spec.lease_transitions)
        now = self.clock()
        if self._seen is None or self._seen[0] != record:
            self._seen = (record, now)
        ours = spec.holder_identity == self.identity
        free = not spec.holder_identity or now - self._seen[1] >= (spec.lease_duration_seconds or DURATION)
        if not (ours or free):
            return False
        body = self._body(lease.metadata.resource_version, lease, holder=self.identity)
        try:
            await self.leases.replace_namespaced_lease(self.name, self.namespace, body)
        except ApiException as e:
            if e.status == 409:
                return False  # written meanwhile: look again next time
            raise
        return True

    def _body(self, version: str | None, lease: Any, holder: str, duration: float = DURATION) -> Any:
        """The Lease to write (a dict: the client's model would format MicroTime wrongly)."""
        now = datetime.now(UTC)
        spec = lease.spec if lease is not None else None
        same = spec is not None and spec.holder_identity == holder
        transitions = (spec.lease_transitions or 0) if spec is not None else 0
        acquired = spec.acquire_time if spec is not None and same and spec.acquire_time else now
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if version is not None:
            meta["resourceVersion"] = version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": int(duration),
                "acquireTime": _micro(acquired),
                "renewTime": _micro(now),
                "leaseTransitions": transitions if same or not holder else transitions + 1,
            },
        }


def _why(e: BaseException) -> str:
    return f"{e.status} {e.reason}" if isinstance(e, ApiException) else type(e).__name__
