"""One ServiceToken reconcile: read -> decide (pure) -> write.

Every run starts from a fresh GET of the token and its Secret, so a timer, a
watch event and a retry all see the same truth; status writes carry the
resourceVersion read, so a stale run fails with a conflict instead of
overwriting newer state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from gatepass.contract import REFRESH_ANNOTATION, ROTATE_ANNOTATION, ROTATE_GRACE_ANNOTATION
from gatepass.decisions.servicetoken import Action, Plan, TokenView, decide, distrust
from gatepass.models.conditions import READY, find, set_condition
from gatepass.models.durations import parse
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus
from gatepass.operator import failpoints, metrics
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.kube import Body, Conflict, Kube, SecretContent, secret_view
from gatepass.operator.sealkey import SealKey
from gatepass.operator.workqueue import Key, Retry
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash
from gatepass.trust.seal import Sealer, token_fields

log = logging.getLogger(__name__)


def token_view(body: Body, sealer: Sealer, last_seen: datetime | None = None) -> TokenView:
    meta = body["metadata"]
    spec = ServiceTokenSpec.model_validate(body.get("spec") or {})
    if spec.secret_name is None:
        spec.secret_name = meta["name"]
    annotations = meta.get("annotations") or {}
    status = ServiceTokenStatus.model_validate(body.get("status") or {})
    trusted = sealer.trusts(meta["uid"], meta["namespace"], meta["name"], status)
    return TokenView(
        spec=spec,
        status=status if trusted else distrust(status),
        tampered=not trusted,
        generation=meta.get("generation"),
        refresh_request=annotations.get(REFRESH_ANNOTATION),
        rotate_request=annotations.get(ROTATE_ANNOTATION),
        rotate_grace=_duration_or_none(annotations.get(ROTATE_GRACE_ANNOTATION)),
        last_seen=last_seen,
    )


def _duration_or_none(text: str | None) -> timedelta | None:
    """An annotation is not validated by the API server: a bad value is ignored (and logged)."""
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError:
        log.warning("ignoring %s=%r: not a duration", ROTATE_GRACE_ANNOTATION, text)
        return None


class SecretRefused(Exception):
    """The API server would not write the token's Secret (quota, admission, RBAC...)."""

    def __init__(self, body: Body, secret_name: str, error: ApiException) -> None:
        # Status code and reason only: an API error body may echo the request.
        super().__init__(
            f"the API server refused to write Secret {secret_name}: {error.status} {error.reason}; "
            "retrying with backoff"
        )
        self.body = body


def sealed(body: Body, status: ServiceTokenStatus, sealer: Sealer) -> ServiceTokenStatus:
    """The status as the operator writes it: with the seal over its credential record."""
    meta = body["metadata"]
    fields = token_fields(meta["uid"], meta["namespace"], meta["name"], status)
    return status.model_copy(update={"seal": sealer.seal(fields)})


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        seal_key: SealKey,
        clock: Clock = utcnow,
        last_seen: Callable[[Key], datetime | None] = lambda _: None,
    ) -> None:
        self.kube = kube
        self.seal_key = seal_key
        self.clock = clock
        self.last_seen = last_seen

    async def __call__(self, key: Key) -> datetime | None:
        namespace, name = key
        body = await self.kube.get_token(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            metrics.forget(namespace, name)
            return None
        sealer = await self.seal_key.get()
        try:
            token = token_view(body, sealer, self.last_seen(key))
            token.spec.check()  # a bad spec is reported in status, not crashed on later
        except (ValidationError, ValueError) as e:
            await self._invalid(body, str(e).splitlines()[0])
            return None
        secret = await self.kube.get_secret(namespace, token.spec.secret_name or name)
        now = self.clock()
        plan = decide(token, secret_view(secret, body["metadata"]["uid"]), now)
        status = plan.status
        try:
            if plan.action.generates:
                body, status = await self._issue(body, token, plan, secret, sealer)
            status = sealed(body, status, sealer)
            if status.wire() != ServiceTokenStatus.model_validate(body.get("status") or {}).wire():
                body = await self.kube.put_token_status(body, status.wire())
        except Conflict as e:
            log.info("%s; reconciling again", e)
            raise Retry from None
        except SecretRefused as e:
            await self._refused(e.body, sealer, str(e))
            raise  # the work queue backs off (to minutes); our own status write does not wake it
        if plan.action is not Action.NONE:
            log.info("%s/%s: %s (%s)", namespace, name, plan.action.value, plan.reason)
        for event in plan.events:
            await self.kube.post_event(body, event)
        metrics.observe(namespace, name, status)
        return plan.wake_at

    async def _issue(
        self, body: Body, token: TokenView, plan: Plan, secret: Any, sealer: Sealer
    ) -> tuple[Body, ServiceTokenStatus]:
        """Write a new secret crash-safely: pending hash in status, then Secret, then status."""
        client_id = token.status.client_id if plan.action is not Action.ISSUE else None
        content = SecretContent(client_id=client_id or new_client_id(), client_secret=new_client_secret())
        digest = secret_hash(content.client_secret)
        pending = token.status.model_copy(
            update={
                "pending_secret_hash": digest,
                "pending_client_id": content.client_id,
                "pending_action": plan.action.value,
            }
        )
        body = await self.kube.put_token_status(body, sealed(body, pending, sealer).wire())
        failpoints.hit("after-pending-status")
        template = token.spec.secret_template
        try:
            await self.kube.write_secret(
                body, token.spec.secret_name or "", content, template.labels, template.annotations, secret
            )
        except ApiException as e:
            raise SecretRefused(body, token.spec.secret_name or "", e) from None
        failpoints.hit("after-secret-write")
        metrics.CREDENTIALS.labels(action=plan.action.value).inc()
        return body, plan.status.model_copy(update={"client_id": content.client_id, "secret_hash": digest})

    async def _refused(self, body: Body, sealer: Sealer, message: str) -> None:
        """Say in status, and once in an Event, that the Secret cannot be written."""
        status = ServiceTokenStatus.model_validate(body.get("status") or {})
        old = find(status.conditions, READY)
        gen = body["metadata"].get("generation")
        status.conditions = set_condition(
            status.conditions, READY, "False", "SecretRefused", message, self.clock(), gen
        )
        try:
            body = await self.kube.put_token_status(body, sealed(body, status, sealer).wire())
        except Conflict:
            return  # someone changed the token: the next run reports afresh
        if old is None or (old.reason, old.message) != ("SecretRefused", message):
            await self.kube.post_event(body, Event("Warning", "SecretRefused", message))

    async def _invalid(self, body: Body, message: str) -> None:  # status as read: no new seal
        """A spec the CRD should have rejected (e.g. an older CRD): say so in status."""
        status = ServiceTokenStatus.model_validate(body.get("status") or {})
        gen = body["metadata"].get("generation")
        status.conditions = set_condition(
            status.conditions, READY, "False", "InvalidSpec", message, self.clock(), gen
        )
        status.observed_generation = gen
        try:
            await self.kube.put_token_status(body, status.wire())
        except Conflict:
            raise Retry from None
