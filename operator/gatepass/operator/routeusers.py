"""Which HTTPRoutes each AccessApplication names in spec.targetRefs: one index, kept from
the application watch, so that a route's change re-checks only the applications naming
it (no scan, no API call per event)."""

from __future__ import annotations

from gatepass.contract import ObjectKey
from gatepass.models.accessapplication import AccessApplicationSpec


def named_routes(app: ObjectKey, spec: AccessApplicationSpec | None) -> frozenset[ObjectKey]:
    """The routes an application names, all of its own namespace (a targetRef has none);
    nothing for a deleted or unreadable one."""
    return frozenset() if spec is None else frozenset((app[0], ref.name) for ref in spec.target_refs)


class RouteUsers:
    def __init__(self) -> None:
        self._by_app: dict[ObjectKey, frozenset[ObjectKey]] = {}
        self._by_route: dict[ObjectKey, set[ObjectKey]] = {}

    def put(self, app: ObjectKey, spec: AccessApplicationSpec | None) -> None:
        """An application's spec as last seen (None: deleted or unreadable)."""
        old = self._by_app.pop(app, frozenset())
        new = named_routes(app, spec)
        if new:
            self._by_app[app] = new
        for route in old - new:
            users = self._by_route[route]
            users.discard(app)
            if not users:
                del self._by_route[route]
        for route in new - old:
            self._by_route.setdefault(route, set()).add(app)

    def apps_naming(self, route: ObjectKey) -> set[ObjectKey]:
        """The applications naming the route (of its namespace only, by construction)."""
        return set(self._by_route.get(route, ()))
