"""spec.rollout Auto for one token: which consumers the gatherer lists, whether this
pass restarts them, and what is recorded (``status.rolledOutFor``) and said after.

The workload side (who reads the Secret, the restart patch, following a rollout to its
end) is decisions/rollout.py; this module decides what one reconcile does with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from gatepass.decisions import rollout
from gatepass.decisions.rollout import Consumer, Following, Workload
from gatepass.models.events import Event
from gatepass.models.servicetoken import ConsumerRef, ServiceTokenSpec, ServiceTokenStatus

NOT_ALLOWED = Event("Warning", "RolloutNotAllowed", rollout.NOT_ALLOWED)


@dataclass(frozen=True)
class Look:
    """The consumers of ``rotation`` are to be listed: how far their rollout got."""

    rotation: str


def follow(
    spec: ServiceTokenSpec, st: ServiceTokenStatus, allowed: bool, settle: timedelta
) -> Following | Look | None:
    """spec.rollout Auto, allowed: what to gather of the consumers restarted for the
    rotation in its grace (listed only until they have all rolled out). None: not followed."""
    if not allowed or spec.rollout != "Auto":
        return None
    rotation = rollout.current(st)
    in_grace = st.previous_secret_hash is not None and st.consumers_rolled_out_at is None
    if not in_grace or rotation is None or st.rolled_out_for != rotation:
        return Following(settle)
    return Look(rotation)


def looked(
    look: Look, settle: timedelta, found: Sequence[Workload] | None, named: Sequence[ConsumerRef] | None
) -> Following | None:
    """What the listing says. ``found`` None: the API server refused the listing (403);
    RolloutNotAllowed said so when the rollout was due: the grace runs its course."""
    if found is None:
        return None
    listed, _ = rollout.consumers(found, named)
    return Following(settle, look.rotation, rollout.pending(listed, look.rotation))


def due(spec: ServiceTokenSpec, st: ServiceTokenStatus) -> str | None:
    """The rotation whose consumers this pass restarts (status as decided: after it is
    written, so they read a secret the gateway already accepts)."""
    return rollout.due(spec, st)


def recorded(st: ServiceTokenStatus, rotation: str) -> ServiceTokenStatus:
    """The status once the rotation's rollout is done (or was refused: once, not retried;
    the cluster admin has to act)."""
    return st.model_copy(update={"rolled_out_for": rotation})


def rolled_out(restarted: list[Consumer], listed: list[Consumer], missing: list[str]) -> Event:
    """What the restarts did; consumers that mount the Secret see the new file by themselves."""
    mounted = [c for c in listed if not c.env]
    return Event("Normal", "RolledOut", rollout.summary(restarted, mounted, missing))


def forbidden(namespace: str, reason: str | None) -> Event:
    """The API server refused the operator the namespace's workloads (403)."""
    return Event("Warning", "RolloutNotAllowed", rollout.forbidden(namespace, reason))
