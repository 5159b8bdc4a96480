"""The operator's own objects: the signing-key Secret (JWT keys and the status-seal
key) and the gateway Deployment + Services."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from kubernetes_asyncio import client

from gatepass.contract import (
    KEYS_FINALIZER,
    KEYS_LABEL,
    KEYS_REPLACED_FOR_ANNOTATION,
    LAST_SEEN_LABEL,
    MANAGED_BY,
    REPLACE_KEYS_ANNOTATION,
    ROTATE_SIGNING_KEY_ANNOTATION,
    SEAL_ENTRY,
    SIGNING_KEY_ROTATED_FOR_ANNOTATION,
    ObjectKey,
    last_seen_shards,
)
from gatepass.models.accessapplication import AccessApplicationSpec, Policy
from gatepass.models.durations import parse
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.manifests import deployment, metrics_service, owned_by, service
from gatepass.operator.sealkey import SealKey
from gatepass.operator.settings import OperatorSettings
from gatepass.operator.stores.protocols import Conflict, NamespaceMissing, Stores
from gatepass.operator.workqueue import Backoff, Retry
from gatepass.trust import signing
from gatepass.trust.seal import generate_key

log = logging.getLogger(__name__)
INFRA_KEY: ObjectKey = ("", "gatepass-infrastructure")


class LongestSession:
    """The longest sessionDuration of any application this process has seen: a high-water
    mark, since shortening an application's sessions does not shorten those minted before.
    A replaced signing key keeps verifying at least this long (trust/signing.py)."""

    def __init__(self) -> None:
        self.value = timedelta(0)
        self.complete = False  # set once every application has been listed

    def bound(self) -> timedelta:
        """What a replaced key must outlive; the CRD's cap until every application is known."""
        return self.value if self.complete else signing.LONGEST_SESSION

    def see(self, spec: AccessApplicationSpec | None) -> bool:
        """Take one application into account, its inline policies' own sessionDuration too
        (a policy's overrides the application's); True if the mark rose."""
        if spec is None:
            return False
        durations = [spec.session_duration, *(p.session_duration for p in spec.inline_policies)]
        return self._raise(max(_duration(text) for text in durations))

    def see_policy(self, policy: Policy | None) -> bool:
        """An AccessPolicy: its sessionDuration applies where applications name it."""
        return policy is not None and self._raise(_duration(policy.session_duration))

    def _raise(self, longest: timedelta) -> bool:
        if longest <= self.value:
            return False
        self.value = longest
        return True


def _duration(text: str | None) -> timedelta:
    """A sessionDuration as the model holds it (the CRD's default already applied); the API
    server rejects unreadable ones, so an older CRD's leftovers count as nothing, and one past
    the CRD's cap as the cap: every tenant's keys stay bounded by it (a longer session ends
    early, its writer's alone)."""
    if text is None:
        return timedelta(0)
    try:
        return min(parse(text), signing.LONGEST_SESSION)
    except ValueError:
        return timedelta(0)


class InfraReconciler:
    def __init__(
        self,
        stores: Stores,
        settings: OperatorSettings,
        clock: Clock = utcnow,
        seal_key: SealKey | None = None,
        longest_session: Callable[[], timedelta] = lambda: signing.LONGEST_SESSION,
    ) -> None:
        self.stores = stores
        self.settings = settings
        self.clock = clock
        self.seal_key = seal_key if seal_key is not None else SealKey()
        self.longest_session = longest_session
        # Set while the operator's namespace is missing: said once, and the probe fails.
        self.missing_namespace: str | None = None
        # The key material last read or written: put back if the Secret is deleted outright.
        self._last: dict[str, bytes] | None = None

    async def __call__(self, key: ObjectKey) -> datetime | None:
        try:
            wake = await self.reconcile()
        except NamespaceMissing as e:
            if self.missing_namespace is None:
                log.error(
                    "the operator's namespace %s does not exist: no signing keys, gateway or tokens "
                    "until it does (create it, or set GATEPASS_NAMESPACE)",
                    e.namespace,
                )
            self.missing_namespace = e.namespace
            raise Backoff(str(e)) from None
        if self.missing_namespace is not None:
            log.info("namespace %s exists now: signing keys and gateway are in place", self.missing_namespace)
            self.missing_namespace = None
        return wake

    async def reconcile(self) -> datetime | None:
        try:
            wake = await self.keys()
        except Conflict as e:
            log.info("%s; reconciling again", e)
            raise Retry from None
        await self.stores.configmaps.ensure(
            self.settings.namespace,
            last_seen_shards(self.settings.last_seen_configmap),
            {**MANAGED_BY, LAST_SEEN_LABEL: "true"},
        )
        if self.settings.manage_gateway:
            s = self.settings
            owner = s.owner_deployment
            uid = await self.stores.workloads.deployment_uid(s.namespace, owner) if owner else None
            for obj in (deployment(s), service(s), metrics_service(s)):
                await self.stores.workloads.apply(owned_by(obj, owner, uid))
        return wake

    async def keys(self) -> datetime:
        s = self.settings
        existing = await self.stores.secrets.get(s.namespace, s.key_secret)
        if existing is not None and existing.metadata.deletion_timestamp:
            # Deleted (by accident: an apply --prune, a script): our finalizer kept it and its
            # keys. Let it go and write the same keys again, so no token is reissued.
            data, notes = _decoded(existing), dict(existing.metadata.annotations or {})
            await self.stores.secrets.release(existing, KEYS_FINALIZER)
            log.warning(
                "signing-key Secret %s/%s was deleted: restored with the same keys "
                "(new keys: kubectl gatepass rotate-signing-key; a leak: kubectl gatepass replace-keys)",
                s.namespace,
                s.key_secret,
            )
            existing = None
        elif existing is None and self._last is not None:
            data, notes = dict(self._last), {}  # deleted outright: the keys this process holds
            log.warning(
                "signing-key Secret %s/%s is gone: written again with the keys in memory",
                s.namespace,
                s.key_secret,
            )
        else:
            data = _decoded(existing) if existing is not None else {}
            notes = dict((existing.metadata.annotations or {}) if existing else {})
        now = self.clock()
        replace = _asked(notes, REPLACE_KEYS_ANNOTATION, KEYS_REPLACED_FOR_ANNOTATION)
        if replace:
            log.warning("new signing and seal keys requested (%s): every token is reissued", replace)
            data = {}
        current = signing.materials(data)
        rotate = _asked(notes, ROTATE_SIGNING_KEY_ANNOTATION, SIGNING_KEY_ROTATED_FOR_ANNOTATION)
        plan = signing.plan_rotation(
            {m.kid: signing.cert_not_before(m.cert_pem) for m in current},
            now,
            parse(s.key_rotation),
            signing.keep_after_successor(self.longest_session()),
            rotate_now=bool(rotate),
        )
        if rotate:
            log.info("new signing key requested (%s=%s)", ROTATE_SIGNING_KEY_ANNOTATION, rotate)
            notes[SIGNING_KEY_ROTATED_FOR_ANNOTATION] = rotate
        if replace:
            notes[KEYS_REPLACED_FOR_ANNOTATION] = replace
        seal = data.get(SEAL_ENTRY)
        if seal is not None and len(seal) < 32:
            log.error("%s in Secret %s/%s is too short: replacing it", SEAL_ENTRY, s.namespace, s.key_secret)
            seal = None
        held = existing is not None and KEYS_FINALIZER in (existing.metadata.finalizers or [])
        if existing is not None and seal is not None and held and not plan.generate and not plan.drop:
            self.seal_key.set(seal)
            self._last = data
            return plan.wake_at
        keep = [m for m in current if m.kid not in plan.drop]
        if plan.generate:
            keep.append(signing.generate(now, s.issuer))
        if seal is None and not replace:
            log.warning("no status-seal key in Secret %s/%s: generating one", s.namespace, s.key_secret)
        seal = seal or generate_key()
        written = {**signing.to_secret_data(keep), SEAL_ENTRY: seal}
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=s.key_secret,
                namespace=s.namespace,
                labels={**MANAGED_BY, KEYS_LABEL: "true"},
                annotations=notes or None,
                finalizers=[KEYS_FINALIZER],
            ),
            type="Opaque",
            data={k: base64.b64encode(v).decode() for k, v in written.items()},
        )
        await self.stores.secrets.put(secret, existing)
        self.seal_key.set(seal)
        self._last = written
        log.info(
            "signing keys: %s; dropped %s",
            ", ".join(m.kid[:12] for m in keep),
            ", ".join(k[:12] for k in plan.drop) or "none",
        )
        return now + parse(s.key_rotation) if plan.generate else plan.wake_at


def _decoded(secret: client.V1Secret) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def _asked(notes: Mapping[str, str], ask: str, handled: str) -> str | None:
    """The value of an ask-once annotation, if it has not been handled yet."""
    value = notes.get(ask)
    return value if value and value != notes.get(handled) else None
