"""Which AccessPolicies each AccessApplication names by policyRef: one index, kept from the
application watch, so that a policy's change re-checks only the applications naming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from gatepass.contract import ObjectKey
from gatepass.models.accessapplication import AccessApplicationSpec


def named_policies(app: ObjectKey, body: Mapping[str, Any] | None) -> frozenset[ObjectKey]:
    """The policies an application names, all of its own namespace; nothing for a deleted or
    unreadable one (its reconcile reports why)."""
    if body is None:
        return frozenset()
    try:
        spec = AccessApplicationSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return frozenset()
    return frozenset((app[0], name) for name in spec.policy_refs)


class PolicyUsers:
    def __init__(self) -> None:
        self._by_app: dict[ObjectKey, frozenset[ObjectKey]] = {}
        self._by_policy: dict[ObjectKey, set[ObjectKey]] = {}

    def put(self, app: ObjectKey, body: Mapping[str, Any] | None) -> None:
        """An application as last seen (None: deleted)."""
        old = self._by_app.pop(app, frozenset())
        new = named_policies(app, body)
        if new:
            self._by_app[app] = new
        for policy in old - new:
            users = self._by_policy[policy]
            users.discard(app)
            if not users:
                del self._by_policy[policy]
        for policy in new - old:
            self._by_policy.setdefault(policy, set()).add(app)

    def apps_using(self, policy: ObjectKey) -> set[ObjectKey]:
        """The applications naming the policy (of its namespace only, by construction)."""
        return set(self._by_policy.get(policy, ()))
