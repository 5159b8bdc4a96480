"""Gather: everything one ServiceToken reconcile decides over, read into one
:class:`~gatepass.decisions.token.inputs.Observed` (decisions/token/ decides, reconcile.py
carries the plan out).

What the API server says (the token, its Secret, the workloads of a rollout in progress)
and what the operator holds beside it (the gateway's reports of use, which application
names the token, the body of the watch event that queued it, its settings) are asked
here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import LastUse, ObjectKey
from gatepass.decisions.rollout import Following, Workload
from gatepass.decisions.token import restarts
from gatepass.decisions.token.inputs import Observed, never_issued, trusted
from gatepass.models.servicetoken import Inactivity, InvalidServiceToken, ServiceToken, parse_token
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.stores.protocols import Stores
from gatepass.operator.tokensecret import secret_view
from gatepass.trust.seal import Freshness, Sealer, has_credentials

# A watch event's token, validated where it arrived (operator/app.py): the model, or
# what can be said of one whose spec does not parse.
Parsed = ServiceToken | InvalidServiceToken


def parsed(body: Mapping[str, Any]) -> Parsed:
    """A watch event's token validated into its model, once, at the edge."""
    try:
        return parse_token(body)
    except InvalidServiceToken as e:
        return e


def _unknown(_: ObjectKey) -> None:
    return None


async def _keep(_: ObjectKey) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class Known:
    """What the operator knows of tokens beside the API server, and its settings for them."""

    last_seen: Callable[[ObjectKey], LastUse | None] = _unknown  # the gateway's last report of use
    previous_seen: Callable[[ObjectKey], LastUse | None] = _unknown  # ...of the previous secret
    named_by: Callable[[ObjectKey], str | None] = _unknown  # an application whose policy names it
    # The token of the watch event that queued it, if any (taken once): no GET. If it is
    # stale, the status write (always first) meets a conflict, and the retry reads it again.
    fresh: Callable[[ObjectKey], Parsed | None] = _unknown
    forget_previous: Callable[[ObjectKey], Awaitable[None]] = _keep  # drops a report of a grace that is over
    inactivity: Inactivity | None = None  # the operator's default spec.inactivity
    rollout: bool = False  # the cluster admin lets spec.rollout restart workloads
    settle: timedelta = timedelta(
        minutes=10
    )  # ...and end a grace once the previous secret is unused this long


@dataclass(frozen=True)
class Gathered:
    observed: Observed
    secret: client.V1Secret | None  # as read: the Secret write replaces exactly this


@dataclass
class Gatherer:
    stores: Stores
    known: Known = field(default_factory=Known)
    clock: Clock = utcnow
    # The newest seal written or verified per token: an older sealed record written back
    # (a replay) is read as untrusted (trust/seal.py). Reconciler.put moves it on.
    freshness: Freshness = field(default_factory=Freshness)

    async def __call__(self, key: ObjectKey, sealer: Sealer) -> Gathered | None:
        """None when the token is gone or going (its Secret goes by garbage collection).
        Raises InvalidServiceToken for a spec that does not parse."""
        read = await self._read(key, sealer)
        if read is None or read[0].metadata.deletion_timestamp:
            return None
        token, ok = read
        namespace = token.metadata.namespace
        # A token never issued has no Secret of ours: no GET. Should one of that name exist
        # (someone else's), creating it fails after the pending status write, and the retry
        # reads it (that status says an issuance began: it is never trusted).
        existing = (
            None
            if never_issued(token.status)
            else await self.stores.secrets.get(namespace, token.secret_name)
        )
        observed = Observed(
            token=token,
            now=self.clock(),
            trusted=ok,
            secret=secret_view(existing, token.metadata.uid, token.spec.secret_template),
            last_seen=self.known.last_seen(key),
            previous_seen=self.known.previous_seen(key),
            named_by=self.known.named_by(key),
            following=await self._following(token),
            default_inactivity=self.known.inactivity,
            rollout_allowed=self.known.rollout,
        )
        return Gathered(observed, existing)

    async def _read(self, key: ObjectKey, sealer: Sealer) -> tuple[ServiceToken, bool] | None:
        """The token (the watch event's when we trust it, else a GET), and whether its seal
        vouches for its status."""
        fresh = self.known.fresh(key)
        if isinstance(fresh, InvalidServiceToken):
            raise fresh
        token = fresh if fresh is not None else await self.stores.tokens.get(*key)
        ok = token is not None and trusted(token, sealer, self.freshness.newest(key))
        if fresh is not None and not ok:
            # The event may predate our own last write: only a fresh read can tell a
            # record written back by someone else from one we have since replaced.
            token = await self.stores.tokens.get(*key)
            ok = token is not None and trusted(token, sealer, self.freshness.newest(key))
        if token is None:
            return None
        if ok and has_credentials(token.status):  # then its seal verified (one without
            self.freshness.see(key, token.status.seal_v2)  # credentials is not checked)
        return token, ok

    async def _following(self, token: ServiceToken) -> Following | None:
        """How the consumers restarted for the rotation in its grace are doing."""
        ask = restarts.follow(token.spec, token.status, self.known.rollout, self.known.settle)
        if not isinstance(ask, restarts.Look):
            return ask
        found = await self._workloads(token)
        return restarts.looked(ask, self.known.settle, found, token.spec.consumers)

    async def _workloads(self, token: ServiceToken) -> list[Workload] | None:
        """The namespace's workloads; None when the API server refuses them (403)."""
        try:
            return await self.stores.workloads.list(token.metadata.namespace, token.secret_name)
        except ApiException as e:
            if e.status != 403:
                raise
            return None
