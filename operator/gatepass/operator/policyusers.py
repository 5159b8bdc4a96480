"""Which AccessPolicies each AccessApplication names by policyRef: one index, kept from the
application watch, so that a policy's change re-checks only the applications naming it."""

from __future__ import annotations

from gatepass.contract import ObjectKey
from gatepass.models.accessapplication import AccessApplicationSpec


def named_policies(app: ObjectKey, spec: AccessApplicationSpec | None) -> frozenset[ObjectKey]:
    """The policies an application names, all of its own namespace; nothing for a deleted or
    unreadable one (its reconcile reports why)."""
    return frozenset() if spec is None else frozenset((app[0], name) for name in spec.policy_refs)


class PolicyUsers:
    def __init__(self) -> None:
        self._by_app: dict[ObjectKey, frozenset[ObjectKey]] = {}
        self._by_policy: dict[ObjectKey, set[ObjectKey]] = {}

    def put(self, app: ObjectKey, spec: AccessApplicationSpec | None) -> None:
        """An application's spec as last seen (None: deleted or unreadable)."""
        old = self._by_app.pop(app, frozenset())
        new = named_policies(app, spec)
        if new:
            self._by_app[app] = new
        for policy in old - new:
            users = self._by_policy[policy]
            users.discard(app)
            if not users:
                del self._by_policy[policy]
        for policy in new - old:
            self._by_policy.setdefault(policy, set()).add(app)

    def named(self, app: ObjectKey) -> frozenset[ObjectKey]:
        """The AccessPolicies the application references."""
        return self._by_app.get(app, frozenset())

    def apps_using(self, policy: ObjectKey) -> set[ObjectKey]:
        """The applications naming the policy (of its namespace only, by construction)."""
        return set(self._by_policy.get(policy, ()))
