"""The status-seal key as the operator last read it (see trust/seal.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gatepass.operator.workqueue import Backoff
from gatepass.trust.seal import Sealer

log = logging.getLogger(__name__)
WAIT_SECONDS = 30.0  # then the reconcile fails and backs off like any other error


class SealKey:
    """The status-seal key as last read from the signing-key Secret; reconcilers wait for it."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.sealer: Sealer | None = None
        self._loaded = asyncio.Event()
        self._on_change = on_change

    def set(self, key: bytes) -> None:
        sealer = Sealer(key)
        if self.sealer is not None and self.sealer.key_id == sealer.key_id:
            return
        changed = self.sealer is not None
        self.sealer = sealer
        self._loaded.set()
        log.info("status-seal key %s loaded", sealer.key_id)
        if changed:  # every seal written with the old key is void: look at everything again
            log.warning("the status-seal key changed: every ServiceToken is re-checked (and reissued)")
            self._on_change()

    async def get(self) -> Sealer:
        """The key, waiting for the first load (Backoff if it does not come: the infra
        reconcile says why)."""
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await self._loaded.wait()
        except TimeoutError:
            raise Backoff("no status-seal key yet") from None
        assert self.sealer is not None
        return self.sealer
