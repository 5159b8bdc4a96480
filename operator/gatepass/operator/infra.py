"""The operator's own objects: the signing-key Secret (JWT keys and the status-seal
key) and the gateway Deployment + Services."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from kubernetes_asyncio import client

from gatepass.contract import (
    KEYS_LABEL,
    LAST_SEEN_LABEL,
    MANAGED_BY,
    ROTATE_SIGNING_KEY_ANNOTATION,
    SEAL_ENTRY,
    SIGNING_KEY_ROTATED_FOR_ANNOTATION,
    last_seen_shards,
)
from gatepass.contract import ObjectKey as Key
from gatepass.models.durations import parse
from gatepass.operator.clock import Clock, utcnow
from gatepass.operator.kube import Conflict, Kube, NamespaceMissing
from gatepass.operator.manifests import deployment, metrics_service, owned_by, service
from gatepass.operator.sealkey import SealKey
from gatepass.operator.settings import OperatorSettings
from gatepass.operator.workqueue import Backoff, Retry
from gatepass.trust import signing
from gatepass.trust.seal import generate_key

log = logging.getLogger(__name__)
INFRA_KEY: Key = ("", "gatepass-infrastructure")
DEFAULT_SESSION = timedelta(hours=24)  # the CRD's default sessionDuration


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

    def see(self, app: Mapping[str, Any]) -> bool:
        """Take one AccessApplication into account; True if the mark rose."""
        spec = app.get("spec")
        text = spec.get("sessionDuration") if isinstance(spec, Mapping) else None
        try:
            session = parse(text) if isinstance(text, str) else DEFAULT_SESSION
        except ValueError:
            return False  # the API server rejects these; an older CRD's leftovers are ignored
        if session <= self.value:
            return False
        self.value = session
        return True


class InfraReconciler:
    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        clock: Clock = utcnow,
        seal_key: SealKey | None = None,
        longest_session: Callable[[], timedelta] = lambda: signing.LONGEST_SESSION,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.clock = clock
        self.seal_key = seal_key if seal_key is not None else SealKey()
        self.longest_session = longest_session
        # Set while the operator's namespace is missing: said once, and the probe fails.
        self.missing_namespace: str | None = None

    async def __call__(self, key: Key) -> datetime | None:
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
        await self.kube.ensure_configmaps(
            self.settings.namespace,
            last_seen_shards(self.settings.last_seen_configmap),
            {**MANAGED_BY, LAST_SEEN_LABEL: "true"},
        )
        if self.settings.manage_gateway:
            s = self.settings
            owner = s.owner_deployment
            uid = await self.kube.deployment_uid(s.namespace, owner) if owner else None
            for obj in (deployment(s), service(s), metrics_service(s)):
                await self.kube.apply(owned_by(obj, owner, uid))
        return wake

    async def keys(self) -> datetime:
        s = self.settings
        existing = await self.kube.get_secret(s.namespace, s.key_secret)
        data = {k: base64.b64decode(v) for k, v in ((existing.data or {}) if existing else {}).items()}
        current = signing.materials(data)
        now = self.clock()
        notes = dict((existing.metadata.annotations or {}) if existing else {})
        asked = notes.get(ROTATE_SIGNING_KEY_ANNOTATION)
        rotate_now = bool(asked) and asked != notes.get(SIGNING_KEY_ROTATED_FOR_ANNOTATION)
        plan = signing.plan_rotation(
            {m.kid: signing.cert_not_before(m.cert_pem) for m in current},
            now,
            parse(s.key_rotation),
            signing.keep_after_successor(self.longest_session()),
            rotate_now=rotate_now,
        )
        if rotate_now:
            log.info("new signing key requested (%s=%s)", ROTATE_SIGNING_KEY_ANNOTATION, asked)
            notes[SIGNING_KEY_ROTATED_FOR_ANNOTATION] = str(asked)
        seal = data.get(SEAL_ENTRY)
        if seal is not None and len(seal) < 32:
            log.error("%s in Secret %s/%s is too short: replacing it", SEAL_ENTRY, s.namespace, s.key_secret)
            seal = None
        if existing is not None and seal is not None and not plan.generate and not plan.drop:
            self.seal_key.set(seal)
            return plan.wake_at
        keep = [m for m in current if m.kid not in plan.drop]
        if plan.generate:
            keep.append(signing.generate(now, s.issuer))
        if seal is None:
            log.warning("no status-seal key in Secret %s/%s: generating one", s.namespace, s.key_secret)
        seal = seal or generate_key()
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=s.key_secret,
                namespace=s.namespace,
                labels={**MANAGED_BY, KEYS_LABEL: "true"},
                annotations=notes or None,
            ),
            type="Opaque",
            data={
                k: base64.b64encode(v).decode()
                for k, v in {**signing.to_secret_data(keep), SEAL_ENTRY: seal}.items()
            },
        )
        await self.kube.put_secret(secret, existing)
        self.seal_key.set(seal)
        log.info(
            "signing keys: %s; dropped %s",
            ", ".join(m.kid[:12] for m in keep),
            ", ".join(k[:12] for k in plan.drop) or "none",
        )
        return now + parse(s.key_rotation) if plan.generate else plan.wake_at
