"""One ServiceToken reconcile: read -> decide (pure) -> carry out the plan.

Every run starts from a fresh GET of the token and its Secret, so a timer, a
watch event and a retry all see the same truth; status writes carry the
resourceVersion read, so a stale run fails with a conflict instead of
overwriting newer state. The plan says everything that is written; this module
only writes it, in order (decisions/servicetoken.py explains the order).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import LastUse, ObjectKey
from gatepass.decisions import rollout
from gatepass.decisions.rollout import Following
from gatepass.decisions.servicetoken import Candidate, Plan, decide, view
from gatepass.models.conditions import READY, find, set_condition
from gatepass.models.events import Event
from gatepass.models.meta import ObjectMeta
from gatepass.models.servicetoken import (
    Inactivity,
    InvalidServiceToken,
    ServiceToken,
    ServiceTokenStatus,
    parse_token,
)
from gatepass.operator import failpoints, metrics
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.kube import Conflict, Kube, SecretContent, secret_view
from gatepass.operator.sealkey import SealKey
from gatepass.operator.workqueue import Retry
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash
from gatepass.trust.seal import Freshness, Sealer, token_fields, v1_fields

log = logging.getLogger(__name__)


class SecretRefused(Exception):
    """The API server would not write the token's Secret (quota, admission, RBAC...)."""

    def __init__(self, token: ServiceToken, error: ApiException) -> None:
        # Status code and reason only: an API error body may echo the request.
        super().__init__(
            f"the API server refused to write Secret {token.secret_name}: {error.status} {error.reason}; "
            "retrying with backoff"
        )
        self.token = token


def sealed(
    meta: ObjectMeta, status: ServiceTokenStatus, sealer: Sealer, now: datetime, floor: int = 0
) -> ServiceTokenStatus:
    """The status as the operator writes it: with the seals over its credential record
    (trust/seal.py). ``sealV2`` is kept if it already covers the record; else a new one,
    later than ``floor``, the newest sealed time known for the token."""
    ident = (meta.uid, meta.namespace, meta.name)
    at = int(now.timestamp() * 1_000_000)
    v2 = sealer.reseal(token_fields(*ident, status), status.seal_v2, at, floor)
    return status.model_copy(update={"seal": sealer.seal_v1(v1_fields(*ident, status)), "seal_v2": v2})


def never_issued(status: ServiceTokenStatus) -> bool:
    """No credentials were ever recorded (a status that did not parse may have had some)."""
    return (
        status.unreadable is None
        and status.client_id is None
        and status.secret_hash is None
        and status.pending_secret_hash is None
    )


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        seal_key: SealKey,
        clock: Clock = utcnow,
        last_seen: Callable[[ObjectKey], LastUse | None] = lambda _: None,
        inactivity: Inactivity | None = None,
        named_by: Callable[[ObjectKey], str | None] = lambda _: None,
        rollout: bool = False,
        settle: timedelta = timedelta(minutes=10),
        previous_seen: Callable[[ObjectKey], LastUse | None] = lambda _: None,
        forget_previous: Callable[[ObjectKey], Awaitable[None]] | None = None,
        fresh: Callable[[ObjectKey], Mapping[str, Any] | None] = lambda _: None,
    ) -> None:
        self.kube = kube
        # The body of the watch event that queued the token, if any (taken once): no GET.
        # If it is stale, the status write (always first) meets a conflict, and the retry
        # reads the token from the API server.
        self.fresh = fresh
        self.seal_key = seal_key
        self.clock = clock
        self.last_seen = last_seen
        # spec.inactivity: the operator's default rule, and which application of the
        # token's namespace names it in a policy (which exempts it).
        self.inactivity = inactivity
        self.named_by = named_by
        self.rollout = rollout  # the cluster admin lets spec.rollout restart workloads
        self.settle = settle  # ...and end a grace early once the previous secret is unused this long
        self.previous_seen = previous_seen
        self.forget_previous = forget_previous  # drops a report of a grace that is over
        # The newest seal written or verified per token: an older sealed record written
        # back (a replay) is read as untrusted (trust/seal.py).
        self.freshness = Freshness()

    async def __call__(self, key: ObjectKey) -> datetime | None:
        namespace, name = key
        sealer = await self.seal_key.get()
        try:
            token = await self._read(key, sealer)
        except InvalidServiceToken as e:  # reported in status, not crashed on later
            await self._invalid(e)
            return None
        if token is None or token.metadata.deletion_timestamp:
            metrics.forget(namespace, name)
            self.freshness.forget(key)
            return None
        # A token never issued has no Secret of ours: no GET. Should one of that name exist
        # (someone else's), creating it fails after the pending status write, and the retry
        # reads it (that status says an issuance began: it is never trusted).
        existing = (
            None if never_issued(token.status) else await self.kube.get_secret(namespace, token.secret_name)
        )
        # Generated every time (microseconds), used only if the plan issues it: the secret
        # stays here, decide() sees its hash.
        client_secret = new_client_secret()
        candidate = Candidate(new_client_id(), secret_hash(client_secret))
        following = await self._following(token)
        plan = decide(
            view(
                token,
                sealer,
                self.last_seen(key),
                self.inactivity,
                self.named_by(key),
                self.previous_seen(key),
                following,
                newest=self.freshness.newest(key),
            ),
            secret_view(existing, token.metadata.uid, token.spec.secret_template),
            candidate,
            self.clock(),
        )
        if plan.delete:
            await self._delete(token, plan)
            return None
        try:
            token = await self._carry_out(token, plan, existing, client_secret, sealer)
            token = await self._roll_out(token, sealer)
            if token.status.previous_secret_hash is None and self.previous_seen(key) and self.forget_previous:
                await self.forget_previous(key)
        except Conflict as e:
            log.info("%s; reconciling again", e)
            raise Retry from None
        except SecretRefused as e:
            await self._refused(e.token, sealer, str(e))
            raise  # the work queue backs off (to minutes); our own status write does not wake it
        if plan.reason:
            log.info("%s/%s: %s (%s)", namespace, name, plan.action.value, plan.reason)
        for event in plan.events:
            await self.kube.post_event(token, event)
        metrics.observe(namespace, name, token.status)
        return plan.wake_at

    async def _delete(self, token: ServiceToken, plan: Plan) -> None:
        """spec.inactivity action delete: say why on the token, then delete it as read."""
        for event in plan.events:  # first: they outlive the token (an Event lives an hour)
            await self.kube.post_event(token, event)
        try:
            deleted = await self.kube.delete_token(token)
        except Conflict as e:
            log.info("%s; reconciling again", e)
            raise Retry from None
        if not deleted:
            return
        metrics.DELETED_INACTIVE.inc()
        log.info("%s/%s: deleted (%s)", token.metadata.namespace, token.metadata.name, plan.reason)

    async def _carry_out(
        self,
        token: ServiceToken,
        plan: Plan,
        existing: client.V1Secret | None,
        client_secret: str,
        sealer: Sealer,
    ) -> ServiceToken:
        """Pending status, Secret, final status: each only if the plan has it."""
        if plan.pending is not None:
            token = await self._put_sealed(token, plan.pending, sealer)
            failpoints.hit("after-pending-status")
        if plan.secret is not None:
            write = plan.secret
            new = None if write.client_id is None else SecretContent(write.client_id, client_secret)
            try:
                await self.kube.write_secret(token, write.metadata, existing, new, write.rerender)
            except ApiException as e:
                raise SecretRefused(token, e) from None
            if new is not None:
                failpoints.hit("after-secret-write")
                metrics.CREDENTIALS.labels(action=plan.action.value).inc()
        status = self._seal(token, plan.status, sealer)
        if status.wire() != token.status.wire():
            token = await self._put(token, status)
        return token

    async def _read(self, key: ObjectKey, sealer: Sealer) -> ServiceToken | None:
        """The token: the watch event's body when it has one we trust, else a GET."""
        body = self.fresh(key)
        token = parse_token(body) if body is not None else await self.kube.get_token(*key)
        if token is not None and body is not None and not self._trusted(token, sealer):
            # The event may predate our own last write: only a fresh read can tell a
            # record written back by someone else from one we have since replaced.
            token = await self.kube.get_token(*key)
        if token is not None and self._trusted(token, sealer):
            self.freshness.see(key, token.status.seal_v2)
        return token

    def _trusted(self, token: ServiceToken, sealer: Sealer) -> bool:
        key = (token.metadata.namespace, token.metadata.name)
        return not view(token, sealer, newest=self.freshness.newest(key)).tampered

    def _seal(self, token: ServiceToken, status: ServiceTokenStatus, sealer: Sealer) -> ServiceTokenStatus:
        meta = token.metadata
        return sealed(meta, status, sealer, self.clock(), self.freshness.newest((meta.namespace, meta.name)))

    async def _put(self, token: ServiceToken, status: ServiceTokenStatus) -> ServiceToken:
        """Write a sealed status; its seal is then the newest known for the token."""
        written = await self.kube.put_token_status(token, status)
        self.freshness.see((written.metadata.namespace, written.metadata.name), written.status.seal_v2)
        return written

    async def _put_sealed(
        self, token: ServiceToken, status: ServiceTokenStatus, sealer: Sealer
    ) -> ServiceToken:
        return await self._put(token, self._seal(token, status, sealer))

    async def _following(self, token: ServiceToken) -> Following | None:
        """spec.rollout Auto, allowed: how the consumers restarted for the rotation in its
        grace are doing (listed only until they have all rolled out)."""
        if not self.rollout or token.spec.rollout != "Auto":
            return None
        st, rotation = token.status, rollout.current(token.status)
        open_ = st.previous_secret_hash is not None and st.consumers_rolled_out_at is None
        if not open_ or rotation is None or st.rolled_out_for != rotation:
            return Following(self.settle)
        try:
            found = await self.kube.workloads(token.metadata.namespace, token.secret_name)
        except ApiException as e:
            if e.status != 403:
                raise
            return None  # may not look (RolloutNotAllowed said so): the grace runs its course
        listed, _ = rollout.consumers(found, token.spec.consumers)
        return Following(self.settle, rotation, rollout.pending(listed, rotation))

    async def _roll_out(self, token: ServiceToken, sealer: Sealer) -> ServiceToken:
        """spec.rollout Auto: once per new secret, restart the namespace's workloads that
        read the Secret from their environment (decisions/rollout.py), then record it."""
        rotation = rollout.due(token.spec, token.status)
        if rotation is None:
            return token
        meta = token.metadata
        if not self.rollout:
            event = Event("Warning", "RolloutNotAllowed", rollout.NOT_ALLOWED)
        else:
            try:
                event = await self._restart(token, rotation)
            except ApiException as e:
                if e.status != 403:
                    raise
                # Once, not retried: the cluster admin has to act (the chart grants it).
                event = Event("Warning", "RolloutNotAllowed", rollout.forbidden(meta.namespace, e.reason))
        status = token.status.model_copy(update={"rolled_out_for": rotation})
        token = await self._put_sealed(token, status, sealer)
        await self.kube.post_event(token, event)
        return token

    async def _restart(self, token: ServiceToken, rotation: str) -> Event:
        namespace = token.metadata.namespace
        found = await self.kube.workloads(namespace, token.secret_name)
        listed, missing = rollout.consumers(found, token.spec.consumers)
        restarted = []
        for c in rollout.to_restart(listed, rotation):
            if await self.kube.restart(c.kind, namespace, c.name, rollout.restart_patch(rotation)):
                restarted.append(c)
        metrics.ROLLOUTS.inc(len(restarted))
        mounted = [c for c in listed if not c.env]
        return Event("Normal", "RolledOut", rollout.summary(restarted, mounted, missing))

    async def _refused(self, token: ServiceToken, sealer: Sealer, message: str) -> None:
        """Say in status, and once in an Event, that the Secret cannot be written."""
        status = token.status.model_copy(deep=True)
        old = find(status.conditions, READY)
        gen = token.metadata.generation
        status.conditions = set_condition(
            status.conditions, READY, "False", "SecretRefused", message, self.clock(), gen
        )
        try:
            token = await self._put_sealed(token, status, sealer)
        except Conflict:
            return  # someone changed the token: the next run reports afresh
        if old is None or (old.reason, old.message) != ("SecretRefused", message):
            await self.kube.post_event(token, Event("Warning", "SecretRefused", message))

    async def _invalid(self, error: InvalidServiceToken) -> None:  # status as read: no new seal
        """A spec the CRD should have rejected (e.g. an older CRD): say so in status."""
        status = error.status.model_copy(deep=True)
        gen = error.metadata.generation
        status.conditions = set_condition(
            status.conditions, READY, "False", "InvalidSpec", str(error), self.clock(), gen
        )
        status.observed_generation = gen
        token = ServiceToken(metadata=error.metadata, status=error.status)
        try:
            await self.kube.put_token_status(token, status)
        except Conflict:
            raise Retry from None
