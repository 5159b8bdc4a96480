"""After a rotation, which workloads to restart so they read the new secret. Pure.

A workload that reads the token's Secret through its environment (``envFrom`` or
``env[].valueFrom.secretKeyRef``, in any container or init container) keeps the old
value until its pods are replaced: those are restarted, the way ``kubectl rollout
restart`` does it (a pod-template annotation; here ``gatepass.dev/rotation`` naming
the rotation). A workload that only mounts the Secret as a volume sees the
file change by itself and is left alone. Only workloads of the token's own namespace
are ever looked at (the operator lists nothing else).

A rotation is named by its time and a one-way tag of the new secret's hash: status
times are whole seconds, and two rotations within one second are two rollouts.
Idempotent across crashes and re-reads: a workload whose annotation already names this
rotation is not restarted again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gatepass.contract import ROTATION_ANNOTATION
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus

NOT_ALLOWED = (
    "spec.rollout is Auto, but the cluster admin has not allowed gatepass to restart workloads"
    " (chart value operator.rollout.enabled): restart the Secret's envFrom consumers by hand"
)
Obj = Mapping[str, Any]


def _containers(pod_spec: Obj) -> Iterable[Obj]:
    for key in ("initContainers", "containers"):
        yield from pod_spec.get(key) or []


def reads_from_env(pod_spec: Obj, secret: str) -> bool:
    """Whether some container takes the Secret into its environment."""
    for c in _containers(pod_spec):
        if any((e.get("secretRef") or {}).get("name") == secret for e in c.get("envFrom") or []):
            return True
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name") == secret:
                return True
    return False


def mounts(pod_spec: Obj, secret: str) -> bool:
    """Whether some volume holds the Secret (directly or projected)."""
    for v in pod_spec.get("volumes") or []:
        if (v.get("secret") or {}).get("secretName") == secret:
            return True
        sources = (v.get("projected") or {}).get("sources") or []
        if any((s.get("secret") or {}).get("name") == secret for s in sources):
            return True
    return False


@dataclass(frozen=True)
class Consumer:
    kind: str
    name: str
    env: bool  # reads the Secret from its environment: needs a restart
    restarted_for: str | None  # the rotation its template's gatepass.dev/rotation names

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def consumer(kind: str, obj: Obj, secret: str) -> Consumer | None:
    """The workload as a consumer of ``secret``, or None if it does not use it."""
    template = (obj.get("spec") or {}).get("template") or {}
    pod_spec = template.get("spec") or {}
    env = reads_from_env(pod_spec, secret)
    if not env and not mounts(pod_spec, secret):
        return None
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return Consumer(kind, obj["metadata"]["name"], env, annotations.get(ROTATION_ANNOTATION))


def to_restart(consumers: Iterable[Consumer], rotation: str) -> list[Consumer]:
    """Environment consumers not yet restarted for ``rotation``."""
    return [c for c in consumers if c.env and c.restarted_for != rotation]


def restart_patch(rotation: str) -> dict[str, Any]:
    """The merge patch that rolls a workload out, as ``kubectl rollout restart`` would."""
    return {"spec": {"template": {"metadata": {"annotations": {ROTATION_ANNOTATION: rotation}}}}}


def rotation_name(rotated_at: datetime, secret_hash: str) -> str:
    """``<rotatedAt>/<tag>``: readable, and distinct for every secret (the tag is one-way)."""
    tag = hashlib.sha256(b"gatepass-rotation\0" + secret_hash.encode()).hexdigest()[:8]
    return f"{rotated_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}/{tag}"


def due(spec: ServiceTokenSpec, st: ServiceTokenStatus) -> str | None:
    """The rotation whose consumers are still to be restarted; None when spec.rollout is
    not Auto, the token was never rotated, or that rotation was handled."""
    if spec.rollout != "Auto" or st.rotated_at is None or st.secret_hash is None:
        return None
    rotation = rotation_name(st.rotated_at, st.secret_hash)
    return None if st.rolled_out_for == rotation else rotation


def summary(restarted: list[Consumer], mounted: list[Consumer]) -> str:
    """The Event's message: what was restarted, and what was left to see the new file."""
    said = f"restarted {', '.join(c.label for c in restarted)}" if restarted else "nothing to restart"
    if mounted:
        said += f"; {', '.join(c.label for c in mounted)} read the Secret as a file and need no restart"
    return f"rotation rollout: {said}"
