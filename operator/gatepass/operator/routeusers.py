"""Which HTTPRoutes each AccessApplication names in spec.targetRefs: one index, kept from
the application watch, so that a route's change re-checks only the applications naming
it (no scan, no API call per event)."""

from __future__ import annotations

from gatepass.contract import ObjectKey
from gatepass.models.accessapplication import AccessApplicationSpec
from gatepass.operator.referrers import Referrers


def named_routes(app: ObjectKey, spec: AccessApplicationSpec | None) -> frozenset[ObjectKey]:
    """The routes an application names, all of its own namespace (a targetRef has none);
    nothing for a deleted or unreadable one."""
    return frozenset() if spec is None else frozenset((app[0], ref.name) for ref in spec.target_refs)


class RouteUsers(Referrers):
    def __init__(self) -> None:
        super().__init__(named_routes)

    def apps_naming(self, route: ObjectKey) -> set[ObjectKey]:
        return self.naming(route)
