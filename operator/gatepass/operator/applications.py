"""One AccessApplication reconcile: read -> decide (pure) -> write status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from gatepass.contract import APPS, ObjectKey
from gatepass.decisions.accessapplication import decide_app, referenced_tokens
from gatepass.decisions.policyrefs import Found, resolve
from gatepass.models.accessapplication import Policy
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.ownwrites import OwnWrites
from gatepass.operator.sealkey import SealKey
from gatepass.operator.stores.protocols import Conflict, Stores
from gatepass.operator.workqueue import Retry
from gatepass.routing.hosts import HostIndex
from gatepass.routing.upstreams import UpstreamPolicy

log = logging.getLogger(__name__)


class AppReconciler:
    def __init__(
        self,
        stores: Stores,
        seal_key: SealKey,
        token_exists: Callable[[ObjectKey], bool],
        clock: Clock = utcnow,
        hosts: HostIndex | None = None,
        upstreams: UpstreamPolicy | None = None,
        writes: OwnWrites | None = None,
    ) -> None:
        self.stores = stores
        self.writes = writes if writes is not None else OwnWrites()  # app.py: which events are ours
        self.upstreams = upstreams if upstreams is not None else UpstreamPolicy()
        self.seal_key = seal_key
        # From the operator's own token watch: an application naming thousands of
        # tokens costs no API call per token.
        self.token_exists = token_exists
        self.clock = clock
        self.hosts = hosts if hosts is not None else HostIndex()

    async def __call__(self, key: ObjectKey) -> datetime | None:
        namespace, name = key
        try:
            app = await self.stores.apps.get(namespace, name)
        except ValidationError as e:
            log.warning("%s/%s: unreadable AccessApplication: %s", namespace, name, str(e).splitlines()[0])
            return None
        if app is None:
            return None
        sealer = await self.seal_key.get()
        resolution = resolve(app.spec.policies, await self._policies(namespace, app.spec.policy_refs))
        existing = [r for r in referenced_tokens(resolution.policies, namespace) if self.token_exists(r)]
        plan = decide_app(
            app,
            existing,
            sealer.aud(app.metadata.uid),
            self.clock(),
            self.hosts.conflicts(key),
            self.upstreams.refusal(app.spec.upstream, namespace),
            resolution,
        )
        if plan.status.wire() != app.status.wire():
            try:
                app = await self.stores.apps.put_status(app, plan.status)
            except Conflict:
                raise Retry from None
            self.writes.record(APPS, app.metadata)
        for event in plan.events:
            await self.stores.events.post(app, event)
        return None

    async def _policies(self, namespace: str, names: frozenset[str]) -> Found:
        """The AccessPolicies named, of the application's own namespace (None: unreadable;
        absent: not found). One GET each, at most one per spec.policies entry."""
        found: dict[str, Policy | None] = {}
        for name in sorted(names):
            try:
                policy = await self.stores.policies.get(namespace, name)
            except ValidationError:
                found[name] = None
                continue
            if policy is not None:
                found[name] = policy.policy
        return found
