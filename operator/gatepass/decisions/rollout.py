"""After a rotation, which workloads to restart so they read the new secret. Pure.

A workload that reads the token's Secret through its environment (``envFrom`` or
``env[].valueFrom.secretKeyRef``, in any container or init container) keeps the old
value until its pods are replaced: those are restarted, the way ``kubectl rollout
restart`` does it (a pod-template annotation; here ``gatepass.dev/rotation`` naming
the rotation). A workload that only mounts the Secret as a volume sees the
file change by itself and is left alone. Only workloads of the token's own namespace
are ever looked at (the operator lists nothing else).

``spec.consumers`` may name the workloads instead (all restarted: they may read the
Secret in ways a pod template does not show).

A rotation is named by its time and a one-way tag of the new secret's hash: status
times are whole seconds, and two rotations within one second are two rollouts. A
reissue (a new secret at once, after the Secret was lost or edited) is rolled out too.
Idempotent across crashes and re-reads: a workload whose annotation already names this
rotation is not restarted again.

Afterwards the rotation is followed (:func:`track`, the ``Rotating`` condition): once
every restarted workload has rolled out (as ``kubectl rollout status`` judges it) and
the previous secret has gone unused for the settle period, the grace ends early.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from gatepass.contract import ROTATION_ANNOTATION, format_ts
from gatepass.models.conditions import ConditionStatus
from gatepass.models.servicetoken import ConsumerRef, ServiceTokenSpec, ServiceTokenStatus

NOT_ALLOWED = (
    "spec.rollout is Auto, but the cluster admin has not allowed gatepass to restart workloads"
    " (chart value operator.rollout.enabled): restart the Secret's envFrom consumers by hand"
)
Obj = Mapping[str, Any]


def forbidden(namespace: str, reason: str | None) -> str:
    return (
        f"spec.rollout is Auto, but the API server refused the operator access to the workloads of"
        f" namespace {namespace} ({reason or 'Forbidden'}): the cluster admin grants it with the chart value"
        " operator.rollout.enabled; restart the Secret's envFrom consumers by hand"
    )


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


def _count(status: Obj, key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) else 0


def rolled_out(kind: str, obj: Obj) -> bool:
    """Whether every pod runs the workload's current template, as ``kubectl rollout status``
    judges it: the controller saw the latest spec, all replicas are updated and available,
    and no old one is left."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if _count(status, "observedGeneration") < _count(meta, "generation"):
        return False
    if kind == "DaemonSet":
        want = _count(status, "desiredNumberScheduled")
        return min(_count(status, "updatedNumberScheduled"), _count(status, "numberAvailable")) >= want
    want = spec.get("replicas", 1)
    updated = _count(status, "updatedReplicas")
    if kind == "StatefulSet":  # partitioned or OnDelete: old pods stay until the revisions agree
        same = status.get("currentRevision") == status.get("updateRevision")
        return same and updated >= want and _count(status, "readyReplicas") >= want
    return (
        updated >= want
        and _count(status, "replicas") <= updated
        and _count(status, "availableReplicas") >= updated
    )


@dataclass(frozen=True)
class Consumer:
    kind: str
    name: str
    env: bool  # reads the Secret from its environment: needs a restart
    restarted_for: str | None  # the rotation its template's gatepass.dev/rotation names
    done: bool = False  # rolled out: its pods all run the current template

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


# Longer than any rotation name (``<time>/<tag>``, 29 characters): a template annotation
# past this cannot name one, and is not kept (tenants write it, up to 256 KiB).
ROTATION_MAX = 64


@dataclass(frozen=True)
class Workload:
    """All a rollout keeps of a listed workload, for one Secret: a workload is converted
    to this as soon as it is read, so a listing's memory follows the count of the
    namespace's workloads, not their size."""

    consumer: Consumer  # as a consumer (env: reads the Secret from its environment)
    uses: bool  # its pod template reads or mounts the Secret


def workload(kind: str, obj: Obj, secret: str) -> Workload:
    """What the rollout reads of one workload object (as the API returns it) for ``secret``."""
    template = (obj.get("spec") or {}).get("template") or {}
    pod_spec = template.get("spec") or {}
    restarted_for = ((template.get("metadata") or {}).get("annotations") or {}).get(ROTATION_ANNOTATION)
    if not isinstance(restarted_for, str) or len(restarted_for) > ROTATION_MAX:
        restarted_for = None  # names no rotation: restarted for none
    env = reads_from_env(pod_spec, secret)
    done = rolled_out(kind, obj)
    return Workload(
        Consumer(kind, obj["metadata"]["name"], env, restarted_for, done), env or mounts(pod_spec, secret)
    )


def consumers(
    found: Sequence[Workload], named: Sequence[ConsumerRef] | None
) -> tuple[list[Consumer], list[str]]:
    """The Secret's consumers among the namespace's workloads, and the named ones not found.
    Named (spec.consumers): exactly those, each restarted; else those whose pod template
    uses the Secret."""
    if named is None:
        return [w.consumer for w in found if w.uses], []
    by_label = {w.consumer.label: w.consumer for w in found}
    labels = list(dict.fromkeys(f"{r.kind}/{r.name}" for r in named))
    picked = [replace(by_label[label], env=True) for label in labels if label in by_label]
    return picked, [label for label in labels if label not in by_label]


def pending(found: list[Consumer], rotation: str) -> tuple[str, ...]:
    """The consumers restarted for ``rotation`` that have not rolled out yet."""
    return tuple(c.label for c in found if c.env and c.restarted_for == rotation and not c.done)


def to_restart(consumers: Iterable[Consumer], rotation: str) -> list[Consumer]:
    """Environment consumers not yet restarted for ``rotation``."""
    return [c for c in consumers if c.env and c.restarted_for != rotation]


def restart_patch(rotation: str) -> dict[str, Any]:
    """The merge patch that rolls a workload out, as ``kubectl rollout restart`` would."""
    return {"spec": {"template": {"metadata": {"annotations": {ROTATION_ANNOTATION: rotation}}}}}


def rotation_name(rotated_at: datetime, secret_hash: str) -> str:
    """``<rotatedAt>/<tag>``: readable, and distinct for every secret (the tag is one-way)."""
    tag = hashlib.sha256(b"gatepass-rotation\0" + secret_hash.encode()).hexdigest()[:8]
    return f"{format_ts(rotated_at)}/{tag}"


def current(st: ServiceTokenStatus) -> str | None:
    """The name of the last change of secret after the first issue (rotation or reissue)."""
    changes = [t for t in (st.rotated_at, st.reissued_at) if t is not None]
    return None if not changes or st.secret_hash is None else rotation_name(max(changes), st.secret_hash)


def due(spec: ServiceTokenSpec, st: ServiceTokenStatus) -> str | None:
    """The rotation whose consumers are still to be restarted; None when spec.rollout is
    not Auto, the secret never changed since its issue, or that change was handled."""
    rotation = current(st) if spec.rollout == "Auto" else None
    return None if rotation is None or st.rolled_out_for == rotation else rotation


def summary(restarted: list[Consumer], mounted: list[Consumer], missing: list[str]) -> str:
    """The Event's message: what was restarted, and what was left to see the new file."""
    said = f"restarted {', '.join(c.label for c in restarted)}" if restarted else "nothing to restart"
    if mounted:
        said += f"; {', '.join(c.label for c in mounted)} read the Secret as a file and need no restart"
    if missing:
        said += f"; spec.consumers names {', '.join(missing)}, not found in the namespace"
    return f"rotation rollout: {said}"


# --- following a rotation to its end ---------------------------------------------------
# While consumers roll out, the operator looks again: often at first, then less.
POLL_MIN = timedelta(seconds=5)
POLL_MAX = timedelta(minutes=5)


def next_look(since: datetime, now: datetime) -> datetime:
    return now + min(POLL_MAX, max(POLL_MIN, (now - since) / 4))


@dataclass(frozen=True)
class Following:
    """spec.rollout Auto, allowed by the cluster admin: what the operator saw this time."""

    settle: timedelta  # how long the previous secret must go unused after the rollout
    rotation: str | None = None  # the rotation whose consumers were looked at (None: not now)
    pending: tuple[str, ...] = ()  # of those, the ones not rolled out yet


@dataclass(frozen=True)
class Tracking:
    """The Rotating condition, and what this reconcile does about the previous secret."""

    condition: tuple[ConditionStatus, str, str] | None  # None: never rotated
    completed_at: datetime | None = None  # every consumer rolled out (status.consumersRolledOutAt)
    end_grace: str | None = None  # end the grace now, saying why
    wake_at: datetime | None = None


def _span(delta: timedelta) -> str:
    secs = int(delta.total_seconds())
    return f"{secs // 60}m" if secs % 60 == 0 and secs else f"{secs}s"


def _last_use(st: ServiceTokenStatus) -> str:
    at = st.previous_secret_last_seen_at
    if at is None:
        return "the previous secret has not been used since the rotation"
    where = (
        f" at {st.previous_secret_last_seen_application}" if st.previous_secret_last_seen_application else ""
    )
    who = f" from {st.previous_secret_last_seen_client}" if st.previous_secret_last_seen_client else ""
    return f"the previous secret was last used {format_ts(at)}{where}{who}"


def track(st: ServiceTokenStatus, following: Following | None, now: datetime) -> Tracking:
    """Where the last rotation stands (``st`` as decided this time, credential changes done)."""
    expires = st.previous_secret_expires_at
    if st.rotated_at is None:
        return Tracking(None)
    complete: tuple[ConditionStatus, str, str] = (
        "False",
        "Complete",
        f"rotated at {format_ts(st.rotated_at)}; the previous secret no longer works",
    )
    if st.previous_secret_hash is None or expires is None:
        return Tracking(complete)
    used, until = _last_use(st), format_ts(expires)
    if following is None:
        return Tracking(("True", "GracePeriod", f"the previous secret works until {until}; {used}"))
    rotation, completed = current(st), st.consumers_rolled_out_at
    if completed is None:
        looked = following.rotation is not None and following.rotation == rotation == st.rolled_out_for
        if not looked or following.pending:
            waiting = (
                f"waiting for {', '.join(following.pending)} to roll out"
                if looked
                else "rolling out the consumers"
            )
            return Tracking(
                (
                    "True",
                    "ConsumersPending",
                    f"{waiting}; the previous secret works until {until} at the latest; {used}",
                ),
                wake_at=next_look(st.rotated_at, now),
            )
        completed = now
    end = max(completed, st.previous_secret_last_seen_at or completed) + following.settle
    if now >= end:
        why = f"every consumer rolled out at {format_ts(completed)} and {used}"
        return Tracking(complete, completed, f"{why} (settle period {_span(following.settle)})")
    stops = (
        f"stops working at {format_ts(end)} unless used again" if end < expires else f"works until {until}"
    )
    message = f"every consumer rolled out at {format_ts(completed)}; the previous secret {stops}; {used}"
    return Tracking(("True", "Settling", message), completed, wake_at=min(end, expires))
