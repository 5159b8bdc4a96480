"""The operator's event routing: kopf settings, the work queues, and what each watch event
means (the kopf handlers are in handlers.py, the process in main.py)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

import kopf
from prometheus_client import start_http_server

from gatepass.contract import (
    APPS,
    KEYS_LABEL,
    LAST_SEEN_LABEL,
    MANAGED_SELECTOR,
    TOKEN_LABEL,
    ObjectKey,
)
from gatepass.contract import TOKENS as PLURAL
from gatepass.operator import metrics
from gatepass.operator.appevent import app_event, policy_of
from gatepass.operator.applications import AppReconciler
from gatepass.operator.gather import Known, Parsed, parsed
from gatepass.operator.infra import INFRA_KEY, InfraReconciler, LongestSession
from gatepass.operator.kopfstate import NoDiffBase
from gatepass.operator.kopfwatch import DeadWatches, retry_forever
from gatepass.operator.lastseen import Reports
from gatepass.operator.leader import Leadership
from gatepass.operator.manifests import metrics_service_name
from gatepass.operator.ownwrites import SECRETS, OwnWrites
from gatepass.operator.policynames import PolicyNames
from gatepass.operator.reconcile import Reconciler
from gatepass.operator.routeusers import RouteUsers
from gatepass.operator.sealkey import SealKey
from gatepass.operator.settings import OperatorSettings
from gatepass.operator.stores.protocols import Stores
from gatepass.operator.sweeper import Sweeper
from gatepass.operator.workqueue import WorkQueue
from gatepass.routing.hosts import HostIndex, reserved_hosts

log = logging.getLogger(__name__)

# Objects per page of kopf's listing of each kind before its watch. Unpaged (kopf's
# default), every ServiceToken and AccessApplication (tenants write them, up to 1.5 MiB
# each) was read at once as bytes, text and dicts: +240 MiB at start for 300 tokens of
# 200 KiB (tests/e2e/test_listing_memory.py). kopf reads a page whole (api.get() then
# response.json(): it cannot stream one), so its pages are small; 100,000 tokens are
# then 2,000 requests at start, far inside the 5 minutes a listing's snapshot lasts.
KOPF_PAGE = 50


class OperatorApp:
    """What each watch event means, and the work queues it feeds: built whole from the
    stores (operator/main.py builds them), started by kopf's startup handler."""

    def __init__(self, *, config: OperatorSettings, stores: Stores, leadership: Leadership | None) -> None:
        self.config = config
        self.stores = stores
        # None: standalone, this replica always leads; else only while it holds the lease.
        self.leadership = leadership
        self.started = False
        # Whether this replica holds the leader lease (operator/leader.py) and works its queues.
        self.leading = False
        self._leader_task: asyncio.Task[None] | None = None
        self.lost_lease = False
        self.watches = DeadWatches()  # a kopf watch that ended: the liveness probe fails
        self.exit: Callable[[], None] = lambda: None  # ends kopf (set by run())
        # Our own status writes: their watch events start no reconcile.
        self.writes = OwnWrites()
        # Removals from the shards, one patch per shard per period (never one per token),
        # written only while this replica leads (_lead).
        self.sweeper = Sweeper(functools.partial(stores.configmaps.drop_keys, config.namespace), active=False)
        # Last use of each token (and of its previous secret), as the gateway reports it.
        served = set(config.namespaces)
        self.reports = Reports(
            config.namespace,
            config.last_seen_configmap,
            lambda ns: not served or ns in served,
            configmaps=stores.configmaps,
            sweeper=self.sweeper,
            budget=config.last_seen_shard_budget,
        )
        self._background: set[asyncio.Task[None]] = set()
        # Every application's hosts, from its watch events: who owns a host, no API call.
        self.hosts = HostIndex(reserved_hosts(config.issuer))
        self.longest_session = LongestSession()
        # Which tokens each application's policies name (operator/policynames.py), from the
        # same watch: which applications a token's arrival concerns, which tokens are exempt
        # from spec.inactivity.
        self.policy_names = PolicyNames()
        # Which AccessPolicies each application names: whom a policy's change concerns.
        self.policy_users = self.policy_names.users
        # Which HTTPRoutes each application names (spec.targetRefs): whom a route's change concerns.
        self.route_users = RouteUsers()
        # Every object we have seen, so a new status-seal key can re-check them all.
        self.known_tokens: set[ObjectKey] = set()
        self.known_apps: set[ObjectKey] = set()
        # The token of the event that queued it, parsed once here, until its reconcile
        # takes it (so the backlog, never every token, is held): one GET less per new token.
        self.fresh: dict[ObjectKey, Parsed] = {}
        self.seal_key = SealKey(on_change=self._recheck_all)
        self._queues()

    def _queues(self) -> None:
        config, workers = self.config, self.config.workers
        self.apps_reconciler = AppReconciler(
            self.stores,
            self.seal_key,
            token_exists=self.known_tokens.__contains__,
            hosts=self.hosts,
            upstreams=config.upstream_policy,
            writes=self.writes,
            requeue=lambda key: self.apps.add(key),
        )
        known = Known(
            last_seen=self.reports.current.get,
            previous_seen=self.reports.previous.get,
            named_by=self.policy_names.named_by,
            fresh=lambda key: self.fresh.pop(key, None),
            forget_previous=self._forget_previous,
            inactivity=config.inactivity,
            rollout=config.rollout,
            settle=timedelta(seconds=config.rollout_settle_period),
        )
        reconciler = Reconciler(self.stores, self.seal_key, known=known, writes=self.writes)
        self.freshness = reconciler.freshness
        self.tokens = WorkQueue(reconciler, concurrency=workers)
        self.apps = WorkQueue(self.apps_reconciler, concurrency=max(1, workers // 2))
        self.infra_reconciler = InfraReconciler(
            self.stores, config, seal_key=self.seal_key, longest_session=self.longest_session.bound
        )
        # Capped at 30 s: a namespace created late is noticed soon after.
        self.infra = WorkQueue(self.infra_reconciler, concurrency=1, max_backoff=30.0)
        self.queues = [self.tokens, self.apps, self.infra]

    def configure(self, settings: kopf.OperatorSettings) -> None:
        # Ask the API server for our own Secrets, Deployments and Services only:
        # the operator never sees (or holds in memory) objects it does not manage.
        for kind in ("secrets", "services", "configmaps"):
            settings.watching.label_selectors["v1", kind] = MANAGED_SELECTOR
        settings.watching.label_selectors["apps", "v1", "deployments"] = MANAGED_SELECTOR
        # Watches end server-side every 5 min and resume from the last
        # resourceVersion; a stream silent for longer than the API server's
        # 60 s bookmarks is treated as dead (kopf's inactivity_timeout).
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 10
        settings.watching.chunk_size = KOPF_PAGE
        # No kopf peering: the leader lease decides who writes (operator/leader.py); kopf's
        # peering pauses every replica of one priority, and not our queues' timers.
        settings.peering.standalone = True
        settings.peering.mandatory = False
        # API errors retry with a short backoff, and never stop: a watch that ran out of
        # retries would end for good (operator/kopfwatch.py). Our own reconcile backoff
        # (workqueue) handles failures of reconcile logic.
        retry_forever(settings)
        self.watches.attach()
        settings.networking.request_timeout = 60
        # Only warnings become Events: the reconcilers post their own Events.
        settings.posting.level = logging.WARNING
        # No change handlers (handlers.py): kopf builds, reads and writes no diff base.
        settings.persistence.diffbase_storage = NoDiffBase()

    async def start(self) -> None:
        """Learn what exists, then lead (standalone) or stand by for the lease."""
        self.started = True
        # The gateway's last reports of use, not only what status recorded; read before the
        # tokens, so an entry of a token missing from that listing is of a deleted one.
        reported = await self.stores.configmaps.labelled(self.config.namespace, LAST_SEEN_LABEL)
        # Applications ask which tokens exist: know them all before the first answer
        # (afterwards the token watch keeps the set current).
        self.known_tokens |= await self.stores.tokens.keys(self.config.namespaces)
        # Know every application before deciding on any token or key: a replaced signing
        # key is dropped only after the longest session, and a token that a policy names
        # must never be deactivated or deleted for inactivity by a half-known index.
        async for body in self.stores.apps.bodies(self.config.namespaces):
            seen = app_event(_key(body), body)
            self.longest_session.see(seen.spec)
            self.policy_names.put(seen.key, seen.spec)
            self.route_users.put(seen.key, seen.spec)
            self.known_apps.add(seen.key)
        # A policy's own sessionDuration applies where applications name it, and the tokens
        # it names are named by those applications (the inactivity exemption).
        async for body in self.stores.policies.bodies(self.config.namespaces):
            policy = policy_of(body)
            self.longest_session.see_policy(policy)
            self.policy_names.put_policy(_key(body), policy)
        self.longest_session.complete = True
        for name, version, data in reported:
            self.on_last_seen(self.config.namespace, name, data, version)
        if pending := sum(map(len, self.sweeper.pending.values())):
            log.info("removing %d last-use entries (of deleted tokens, left over, or past a budget)", pending)
        if self.config.metrics_port:
            start_http_server(self.config.metrics_port, addr=self.config.bind_address)
        log.info("gatepass operator started (%s)", ", ".join(self.config.namespaces) or "all namespaces")
        if self.leadership is None:
            await self._lead()
            return
        # Every replica watches and queues; only the lease holder works its queues.
        run = self.leadership.run(self._lead, self._step_down)
        self._leader_task = asyncio.create_task(run, name="leader-election")

    async def _lead(self) -> None:
        """This replica writes from now: run the queues, with everything known queued once."""
        self.leading = True
        self.sweeper.activate()  # removals gathered while standing by go out now
        for q in self.queues:
            q.start()
        self.infra.add(INFRA_KEY)
        for key in self.known_tokens:
            self.tokens.add(key)
        for key in self.known_apps:
            self.apps.add(key)

    async def _step_down(self) -> None:
        """The lease is lost: stop writing now, and end the process (it comes back as a
        standby: nothing half-known is carried over)."""
        self.leading = False
        for q in self.queues:
            await q.stop()
        self.lost_lease = True
        self.exit()

    def unlive(self) -> str | None:
        """Why the operator should be restarted (a work queue lost a worker, a watch
        ended), or None."""
        dead = [q for q in self.queues if not q.alive]
        return f"{len(dead)} work queue(s) lost a worker" if dead else self.watches.problem()

    def unready(self) -> str | None:
        """Why the operator cannot do its job now, or None."""
        if not self.started:
            return "starting"
        if missing := self.infra_reconciler.missing_namespace:
            return f"namespace {missing} does not exist"
        return self.unlive()

    async def stop(self) -> None:
        self.watches.detach()
        self.leading = False
        for q in self.queues:
            await q.stop()
        self.sweeper.stop()  # what it had not removed, the next start finds again
        if self._leader_task is not None:
            self._leader_task.cancel()
        if self.leadership is not None:
            await self.leadership.release()  # after the queues: a successor starts at once

    def _recheck_all(self) -> None:
        for key in self.known_tokens:
            self.tokens.add(key)
        for key in list(self.hosts.claims):
            self.apps.add(key)

    def on_token(
        self,
        event_type: str | None,
        namespace: str,
        name: str,
        version: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        key = (namespace, name)
        if event_type == "DELETED":
            self.fresh.pop(key, None)
            self.freshness.forget(key)  # its newest-seal mark: names are the tenants' to reuse
            self.known_tokens.discard(key)
            self.writes.forget(PLURAL, namespace, name)
            self.tokens.forget(key)
            metrics.forget(namespace, name)
            self.reports.forget(key)
        else:
            self.known_tokens.add(key)

            def echo() -> bool:  # asked again when a running reconcile ends: its write may be
                return self.writes.own(PLURAL, namespace, name, version)  # recorded after this

            if not echo():
                # Only of a token this process never wrote: no body can be older than our
                # own write (a new token, or the listing at start, the mass cases). A standby
                # keeps none (its queues do not run: it would hold every token's body).
                if body is not None and self.leading and not self.writes.wrote(PLURAL, namespace, name):
                    self.fresh[key] = parsed(body)
                self.tokens.add(key, unless=echo)
        if event_type in ("ADDED", "DELETED", None):  # existence changed: re-check who names it
            for app in self.policy_names.apps_naming(key):
                self.apps.add(app)

    def on_app(self, event_type: str | None, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        key = (namespace, name)
        if event_type == "DELETED":
            self.known_apps.discard(key)
        else:
            self.known_apps.add(key)
        if event_type == "DELETED":
            self.apps.forget(key)
            self.writes.forget(APPS, namespace, name)
        seen = app_event(key, None if event_type == "DELETED" else body)  # parsed once, here
        affected = self.hosts.put(key, seen.claim)
        self.route_users.put(key, seen.spec)
        for token in self.policy_names.put(key, seen.spec):
            if token in self.known_tokens:  # named or no longer: its inactivity may change
                self.tokens.add(token)
        if self.longest_session.see(seen.spec):
            self.infra.add(INFRA_KEY)  # a replaced signing key may have to stay longer
        version = (body.get("metadata") or {}).get("resourceVersion")
        self.apps.add(key, unless=lambda: self.writes.own(APPS, namespace, name, version))
        for other in affected - {key}:  # who owns a shared host may have changed
            self.apps.add(other)

    def on_policy(self, event_type: str | None, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        """An AccessPolicy appeared, changed or went: the applications naming it say so."""
        policy = policy_of(None if event_type == "DELETED" else body)  # parsed once, here
        if self.longest_session.see_policy(policy):
            self.infra.add(INFRA_KEY)  # its sessionDuration: a replaced signing key may stay longer
        for token in self.policy_names.put_policy((namespace, name), policy):
            if token in self.known_tokens:  # named or no longer: its inactivity may change
                self.tokens.add(token)
        for app in self.policy_users.apps_using((namespace, name)):
            self.apps.add(app)

    def on_route(self, namespace: str, name: str) -> None:
        """An HTTPRoute appeared, changed or went: the applications naming it read it again
        (the route is read by their reconcile, of their own namespace only)."""
        for app in self.route_users.apps_naming((namespace, name)):
            self.apps.add(app)

    async def _forget_previous(self, key: ObjectKey) -> None:
        """A grace is over: its report of the previous secret's last use goes (one entry
        less in the last-seen ConfigMaps)."""
        self.reports.forget(key, current=False)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Last-use housekeeping, off the watch: a failure is logged, retried by the next event.
        Only the leader writes: a standby drops it (the leader does the same on the same event)."""
        if not self.leading:
            work.close()
            return

        async def run() -> None:
            try:
                await work
            except Exception as e:  # housekeeping must not end the operator
                log.warning(
                    "last-use housekeeping failed: %s", getattr(e, "reason", None) or type(e).__name__
                )

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def on_secret(
        self,
        event_type: str | None,
        namespace: str,
        name: str,
        version: str | None,
        labels: Mapping[str, str],
    ) -> None:
        if event_type == "DELETED":
            self.writes.forget(SECRETS, namespace, name)
        owner = labels.get(TOKEN_LABEL)
        if owner:  # unless it is the echo of the token's own Secret write
            self.tokens.add(
                (namespace, owner), unless=lambda: self.writes.own(SECRETS, namespace, name, version)
            )
        if labels.get(KEYS_LABEL) and (namespace, name) == (self.config.namespace, self.config.key_secret):
            self.infra.add(INFRA_KEY)

    def on_last_seen(
        self, namespace: str, name: str, data: Mapping[str, str], version: str | None = None
    ) -> None:
        legacy = self.reports.is_legacy(namespace, name)
        if not (legacy or self.reports.is_shard(namespace, name)):
            return
        if legacy:
            due = self.reports.read(data)
        else:  # and what the shard should not hold goes
            due = self.reports.read(data, name, self.known_tokens.__contains__)
        for key in due:
            self.tokens.add(key)
        if legacy and data and version:
            self._spawn(self._move_legacy(version, data))

    async def _move_legacy(self, version: str, data: Mapping[str, str]) -> None:
        sealer = await self.seal_key.get()  # names each token's shard
        await self.reports.move_legacy(version, data, self.known_tokens.__contains__, sealer)

    def on_last_seen_deleted(self, namespace: str, name: str) -> None:
        if self.reports.is_shard(namespace, name):
            self.infra.add(INFRA_KEY)  # the gateway reports into it: create it again

    def on_gateway_object(self, namespace: str, name: str) -> None:
        ours = (self.config.gateway_name, metrics_service_name(self.config))
        if namespace == self.config.namespace and name in ours:
            self.infra.add(INFRA_KEY)


def _key(body: Mapping[str, Any]) -> ObjectKey:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
