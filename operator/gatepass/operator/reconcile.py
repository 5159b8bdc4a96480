"""One ServiceToken reconcile: gather (operator/gather.py) -> decide (decisions/token/,
pure) -> carry out the plan (here).

Every run starts from a fresh read of the token and its Secret, so a timer, a watch
event and a retry all see the same truth; status writes carry the resourceVersion read,
so a stale run fails with a conflict instead of overwriting newer state. The plan says
everything that is written; this module only writes it, in order (decisions/token/
explains the order), and asks decisions/token/refusals.py what a refusal means.

Status writes per pass: one (the final status), except
* a new secret: the pending record first, before the Secret (crash safety);
* spec.rollout restarting consumers: ``rolledOutFor`` after the restarts. The restarts
  must follow the final status (the gateway accepts the new secret only from it), and
  the record must follow the restarts: recorded first, a crash in between would leave
  the consumers on the old secret with nothing left to restart them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import TOKENS, ObjectKey
from gatepass.decisions import rollout
from gatepass.decisions.token import refusals, restarts
from gatepass.decisions.token.inputs import Candidate
from gatepass.decisions.token.plan import Plan, plan
from gatepass.models.events import Event
from gatepass.models.meta import ObjectMeta
from gatepass.models.servicetoken import InvalidServiceToken, ServiceToken, ServiceTokenStatus
from gatepass.operator import failpoints, metrics
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.gather import Gatherer, Known
from gatepass.operator.ownwrites import SECRETS, OwnWrites
from gatepass.operator.sealkey import SealKey
from gatepass.operator.stores.protocols import Conflict, Stores
from gatepass.operator.tokensecret import SecretContent, built
from gatepass.operator.workqueue import Retry
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash
from gatepass.trust.seal import Sealer, token_fields, v1_fields

log = logging.getLogger(__name__)


class SecretRefused(Exception):
    """The API server would not write the token's Secret (quota, admission, RBAC...)."""

    def __init__(self, token: ServiceToken, error: ApiException) -> None:
        super().__init__(refusals.refusal_message(token.secret_name, error.status, error.reason))
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


class Reconciler:
    def __init__(
        self,
        stores: Stores,
        seal_key: SealKey,
        *,
        known: Known | None = None,
        clock: Clock = utcnow,
        writes: OwnWrites | None = None,
    ) -> None:
        self.stores = stores
        self.seal_key = seal_key
        self.clock = clock
        self.known = known or Known()
        self.writes = writes if writes is not None else OwnWrites()  # app.py: which events are ours
        self.gather = Gatherer(stores, self.known, clock)
        self.freshness = self.gather.freshness

    async def __call__(self, key: ObjectKey) -> datetime | None:
        namespace, name = key
        sealer = await self.seal_key.get()
        try:
            gathered = await self.gather(key, sealer)
        except InvalidServiceToken as e:  # reported in status, not crashed on later
            await self._invalid(e)
            return None
        if gathered is None:
            metrics.forget(namespace, name)
            self.freshness.forget(key)
            return None
        # Generated every time (microseconds), used only if the plan issues it: the secret
        # stays here, the decision sees its hash.
        client_secret = new_client_secret()
        todo = plan(gathered.observed, Candidate(new_client_id(), secret_hash(client_secret)))
        token = gathered.observed.token
        if todo.delete:
            await self._delete(token, todo)
            return None
        try:
            token = await self._carry_out(token, todo, gathered.secret, client_secret, sealer)
            if todo.restart is not None:
                token = await self._roll_out(token, todo.restart, sealer)
            if todo.forget_previous:
                await self.known.forget_previous(key)
        except Conflict as e:
            log.info("%s; reconciling again", e)
            raise Retry from None
        except SecretRefused as e:
            await self._refused(e.token, sealer, str(e))
            raise  # the work queue backs off (to minutes); our own status write does not wake it
        if todo.reason:
            log.info("%s/%s: %s (%s)", namespace, name, todo.action.value, todo.reason)
        for event in todo.events:
            await self.stores.events.post(token, event)
        metrics.observe(namespace, name, token.status)
        return todo.wake_at

    async def _delete(self, token: ServiceToken, todo: Plan) -> None:
        """spec.inactivity action delete: say why on the token, then delete it as read."""
        for event in todo.events:  # first: they outlive the token (an Event lives an hour)
            await self.stores.events.post(token, event)
        try:
            deleted = await self.stores.tokens.delete(token)
        except Conflict as e:
            log.info("%s; reconciling again", e)
            raise Retry from None
        if not deleted:
            return
        metrics.DELETED_INACTIVE.inc()
        log.info("%s/%s: deleted (%s)", token.metadata.namespace, token.metadata.name, todo.reason)

    async def _carry_out(
        self,
        token: ServiceToken,
        todo: Plan,
        existing: client.V1Secret | None,
        client_secret: str,
        sealer: Sealer,
    ) -> ServiceToken:
        """Pending status, Secret, final status: each only if the plan has it."""
        if todo.pending is not None:
            token = await self._put(token, self._seal(token, todo.pending, sealer))
            failpoints.hit("after-pending-status")
        if todo.secret is not None:
            write = todo.secret
            new = None if write.client_id is None else SecretContent(write.client_id, client_secret)
            try:
                secret = built(token, write.metadata, existing, new, write.rerender)
                version = await self.stores.secrets.put(secret, existing)
            except ApiException as e:
                raise SecretRefused(token, e) from None
            # Its watch event is ours: no second run for it (two GETs per new token).
            self.writes.record_version(SECRETS, token.metadata.namespace, token.secret_name, version)
            if new is not None:
                failpoints.hit("after-secret-write")
                metrics.CREDENTIALS.labels(action=todo.action.value).inc()
        status = self._seal(token, todo.status, sealer)
        if status.wire() != token.status.wire():  # nothing changed: no write
            token = await self._put(token, status)
        return token

    def _seal(self, token: ServiceToken, status: ServiceTokenStatus, sealer: Sealer) -> ServiceTokenStatus:
        meta = token.metadata
        return sealed(meta, status, sealer, self.clock(), self.freshness.newest((meta.namespace, meta.name)))

    async def _put(self, token: ServiceToken, status: ServiceTokenStatus) -> ServiceToken:
        """Write a sealed status; its seal is then the newest known for the token."""
        written = await self.stores.tokens.put_status(token, status)
        self.writes.record(TOKENS, written.metadata)
        self.freshness.see((written.metadata.namespace, written.metadata.name), written.status.seal_v2)
        return written

    async def _roll_out(self, token: ServiceToken, rotation: str, sealer: Sealer) -> ServiceToken:
        """Restart the consumers for ``rotation`` (decisions/rollout.py), then record it."""
        try:
            event = await self._restart(token, rotation)
        except ApiException as e:
            if e.status != 403:
                raise
            event = restarts.forbidden(token.metadata.namespace, e.reason)
        token = await self._put(token, self._seal(token, restarts.recorded(token.status, rotation), sealer))
        await self.stores.events.post(token, event)
        return token

    async def _restart(self, token: ServiceToken, rotation: str) -> Event:
        namespace = token.metadata.namespace
        found = await self.stores.workloads.list(namespace, token.secret_name)
        listed, missing = rollout.consumers(found, token.spec.consumers)
        restarted = []
        for c in rollout.to_restart(listed, rotation):
            if await self.stores.workloads.restart(
                c.kind, namespace, c.name, rollout.restart_patch(rotation)
            ):
                restarted.append(c)  # else gone meanwhile
        metrics.ROLLOUTS.inc(len(restarted))
        return restarts.rolled_out(restarted, listed, missing)

    async def _refused(self, token: ServiceToken, sealer: Sealer, message: str) -> None:
        """Say in status, and once in an Event, that the Secret cannot be written."""
        said = refusals.refused(token.status, token.metadata.generation, message, self.clock())
        try:
            token = await self._put(token, self._seal(token, said.status, sealer))
        except Conflict:
            return  # someone changed the token: the next run reports afresh
        if said.event is not None:
            await self.stores.events.post(token, said.event)

    async def _invalid(self, error: InvalidServiceToken) -> None:  # status as read: no new seal
        """A spec the CRD should have rejected (e.g. an older CRD): say so in status."""
        said = refusals.invalid(error.status, error.metadata.generation, str(error), self.clock())
        token = ServiceToken(metadata=error.metadata, status=error.status)
        try:
            written = await self.stores.tokens.put_status(token, said.status)
        except Conflict:
            raise Retry from None
        self.writes.record(TOKENS, written.metadata)
