"""An AccessApplication event, parsed once where it comes in: the host index, the policy
index and the longest session all take this, none reads the body again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gatepass.contract import ObjectKey
from gatepass.models.accessapplication import AccessApplicationSpec, Policy
from gatepass.models.accesspolicy import AccessPolicy
from gatepass.routing.hosts import Claim, claim_of, destination, route_hosts


@dataclass(frozen=True)
class AppEvent:
    key: ObjectKey
    spec: AccessApplicationSpec | None  # None: deleted, or a spec that does not parse
    # The hosts it claims: from the spec, or read by hand from one that does not parse (an
    # application that cannot be served keeps the hosts it claimed first).
    claim: Claim | None


def app_event(key: ObjectKey, body: Mapping[str, Any] | None) -> AppEvent:
    """``body`` None: the application was deleted. Never raises: a tenant's object that
    does not parse costs that object only (its reconcile reports why)."""
    if body is None:
        return AppEvent(key, None, None)
    try:
        spec = AccessApplicationSpec.model_validate(body.get("spec") or {})
    except (ValidationError, ValueError):
        return AppEvent(key, None, claim_of(body))
    meta = body.get("metadata")
    created = meta.get("creationTimestamp") if isinstance(meta, Mapping) else None
    hosts = tuple(destination(h) for h in [*spec.hosts, *route_hosts(body)])
    return AppEvent(key, spec, Claim(key[0], key[1], str(created or ""), hosts))


def policy_of(body: Mapping[str, Any] | None) -> Policy | None:
    """An AccessPolicy event's policy, parsed once; None when deleted or unreadable."""
    if body is None:
        return None
    try:
        return AccessPolicy.model_validate(body).policy
    except (ValidationError, ValueError):
        return None
