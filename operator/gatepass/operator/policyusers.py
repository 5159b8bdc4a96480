"""Which AccessPolicies each AccessApplication names by policyRef: one index, kept from the
application watch, so that a policy's change re-checks only the applications naming it."""

from __future__ import annotations

from gatepass.contract import ObjectKey
from gatepass.models.accessapplication import AccessApplicationSpec
from gatepass.operator.referrers import Referrers


def named_policies(app: ObjectKey, spec: AccessApplicationSpec | None) -> frozenset[ObjectKey]:
    """The policies an application names, all of its own namespace; nothing for a deleted or
    unreadable one (its reconcile reports why)."""
    return frozenset() if spec is None else frozenset((app[0], name) for name in spec.policy_refs)


class PolicyUsers(Referrers):
    def __init__(self) -> None:
        super().__init__(named_policies)

    def apps_using(self, policy: ObjectKey) -> set[ObjectKey]:
        return self.naming(policy)
