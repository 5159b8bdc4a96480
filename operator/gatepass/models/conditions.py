"""Kubernetes-style status conditions.

``lastTransitionTime`` moves only when ``status`` flips, as in every core
controller, so a condition says how long it has been in its state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from gatepass.models.base import CamelModel
from gatepass.models.timestamps import Timestamp

ConditionStatus = Literal["True", "False", "Unknown"]

# Condition types.
READY = "Ready"
EXPIRING_SOON = "ExpiringSoon"  # ServiceToken
INACTIVE_SOON = "InactiveSoon"  # ServiceToken with an inactivity rule
ROTATING = "Rotating"  # ServiceToken, once rotated: the previous secret's grace
TOKENS_RESOLVED = "TokensResolved"  # AccessApplication
DENY_POLICIES_EFFECTIVE = "DenyPoliciesEffective"  # AccessApplication
POLICIES_RESOLVED = "PoliciesResolved"  # AccessApplication: every policyRef names a readable AccessPolicy
ROUTES_RESOLVED = "RoutesResolved"  # AccessApplication: every targetRef's hosts were taken


class Condition(CamelModel):
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: Timestamp
    observed_generation: int | None = None


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Return conditions with ``type_`` set; keeps the transition time unless status flips."""
    old = next((c for c in conditions if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == status else now
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    return [new if c.type == type_ else c for c in conditions] if old else [*conditions, new]


def find(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def drop_condition(conditions: list[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]
