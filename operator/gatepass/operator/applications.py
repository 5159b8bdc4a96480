"""One AccessApplication reconcile: read -> decide (pure) -> write status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError

from gatepass.contract import APPS, ObjectKey
from gatepass.decisions.accessapplication import decide_app, referenced_tokens
from gatepass.decisions.httproute import RoutesTaken, take_all
from gatepass.decisions.policyrefs import Found, resolve
from gatepass.models.accessapplication import AccessApplication, Policy
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.ownwrites import OwnWrites
from gatepass.operator.sealkey import SealKey
from gatepass.operator.stores.protocols import Conflict, Stores
from gatepass.operator.workqueue import Retry
from gatepass.routing.hosts import Claim, HostIndex, destination
from gatepass.routing.upstreams import UpstreamPolicy

log = logging.getLogger(__name__)
# Routes that cannot be read because their API (the Gateway API CRDs) or the right to read
# them is missing: looked at again this often (seconds), as kopf tells nothing of a new CRD
# until a route of it changes.
ROUTE_API_RECHECK = 300.0
RETRY_LATER = frozenset({"RouteAPIUnavailable", "RouteUnreadable"})


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
        requeue: Callable[[ObjectKey], None] = lambda _key: None,
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
        # Another application whose hosts' owners may have changed (app.py: its queue).
        self.requeue = requeue

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
        routes = take_all([await self.stores.routes.read(namespace, ref) for ref in app.spec.target_refs])
        self._claim(app, routes)
        plan = decide_app(
            app,
            existing,
            sealer.aud(app.metadata.uid),
            self.clock(),
            self.hosts.conflicts(key),
            self.upstreams.refusal(app.spec.upstream, namespace),
            resolution,
            routes,
        )
        if plan.status.wire() != app.status.wire():
            try:
                app = await self.stores.apps.put_status(app, plan.status)
            except Conflict:
                raise Retry from None
            self.writes.record(APPS, app.metadata)
        for event in plan.events:
            await self.stores.events.post(app, event)
        if any(t.problem in RETRY_LATER for t in routes.taken):
            return self.clock() + timedelta(seconds=ROUTE_API_RECHECK)  # the CRD may come
        return None

    def _claim(self, app: AccessApplication, routes: RoutesTaken) -> None:
        """The hosts index takes the claim this status is about to make (spec.hosts and
        the routes' hosts), so its conflicts are this claim's; the echo of the write then
        changes nothing. The other claimants of a host it touched look again."""
        meta = app.metadata
        hosts = tuple(
            destination(h) for h in [*app.spec.hosts, *(routes.hosts if app.spec.target_refs else ())]
        )
        claim = Claim(meta.namespace, meta.name, meta.creation_timestamp or "", hosts)
        key = (meta.namespace, meta.name)
        if self.hosts.claims.get(key) != claim:
            for other in self.hosts.put(key, claim) - {key}:
                self.requeue(other)

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
