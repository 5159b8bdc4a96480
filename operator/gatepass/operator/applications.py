"""One AccessApplication reconcile: read -> decide (pure) -> write status."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from gatepass.contract import APPS as PLURAL
from gatepass.contract import REVOKE_SESSIONS_ANNOTATION
from gatepass.decisions.accessapplication import decide_app, referenced_tokens
from gatepass.models.accessapplication import AccessApplicationSpec, AccessApplicationStatus
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.kube import Conflict, Kube
from gatepass.operator.sealkey import SealKey
from gatepass.operator.workqueue import Key, Retry
from gatepass.routing.hosts import HostIndex
from gatepass.routing.upstreams import UpstreamPolicy

log = logging.getLogger(__name__)


class AppReconciler:
    def __init__(
        self,
        kube: Kube,
        seal_key: SealKey,
        token_exists: Callable[[Key], bool],
        clock: Clock = utcnow,
        hosts: HostIndex | None = None,
        upstreams: UpstreamPolicy | None = None,
    ) -> None:
        self.kube = kube
        self.upstreams = upstreams if upstreams is not None else UpstreamPolicy()
        self.seal_key = seal_key
        # From the operator's own token watch: an application naming thousands of
        # tokens costs no API call per token.
        self.token_exists = token_exists
        self.clock = clock
        self.hosts = hosts if hosts is not None else HostIndex()
        # Which applications name which tokens, so a token's arrival or
        # deletion re-checks exactly the applications that care.
        self.watchers: dict[Key, set[Key]] = defaultdict(set)

    def apps_naming(self, token: Key) -> set[Key]:
        return set(self.watchers.get(token, ()))

    def _index(self, app: Key, tokens: frozenset[Key]) -> None:
        for watchers in self.watchers.values():
            watchers.discard(app)
        for token in tokens:
            self.watchers[token].add(app)

    async def __call__(self, key: Key) -> datetime | None:
        namespace, name = key
        body = await self.kube.get_custom(PLURAL, namespace, name)
        if body is None:
            self._index(key, frozenset())
            return None
        meta = body["metadata"]
        sealer = await self.seal_key.get()
        try:
            spec = AccessApplicationSpec.model_validate(body.get("spec") or {})
            status = AccessApplicationStatus.model_validate(body.get("status") or {})
        except ValidationError as e:
            log.warning("%s/%s: unreadable AccessApplication: %s", namespace, name, str(e).splitlines()[0])
            return None
        existing = [r for r in referenced_tokens(spec, namespace) if self.token_exists(r)]
        plan = decide_app(
            spec,
            status,
            namespace,
            meta.get("generation"),
            (meta.get("annotations") or {}).get(REVOKE_SESSIONS_ANNOTATION),
            existing,
            sealer.aud(meta["uid"]),
            self.clock(),
            self.hosts.conflicts(key),
            self.upstreams.refusal(spec.upstream, namespace),
        )
        self._index(key, plan.referenced)
        if plan.status.wire() != status.wire():
            try:
                body = await self.kube.put_status(PLURAL, body, plan.status.wire())
            except Conflict:
                raise Retry from None
        for event in plan.events:
            await self.kube.post_event(body, event)
        return None
