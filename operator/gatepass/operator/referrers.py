"""Which objects each AccessApplication names (AccessPolicies by policyRef, HTTPRoutes by
targetRef), kept both ways from the application watch: an object's change re-checks only
the applications naming it (no scan, no API call per event)."""

from __future__ import annotations

from collections.abc import Callable

from gatepass.contract import ObjectKey
from gatepass.models.accessapplication import AccessApplicationSpec

# What an application's spec names (None: deleted or unreadable, naming nothing).
Naming = Callable[[ObjectKey, AccessApplicationSpec | None], frozenset[ObjectKey]]


class Referrers:
    def __init__(self, naming: Naming = lambda _app, _spec: frozenset()) -> None:
        self._naming = naming
        self._by_app: dict[ObjectKey, frozenset[ObjectKey]] = {}
        self._by_target: dict[ObjectKey, set[ObjectKey]] = {}

    def put(self, app: ObjectKey, spec: AccessApplicationSpec | None) -> None:
        """An application's spec as last seen (None: deleted or unreadable)."""
        self.names(app, self._naming(app, spec))

    def names(self, app: ObjectKey, new: frozenset[ObjectKey]) -> set[ObjectKey]:
        """What the application names now; what it started or stopped naming."""
        old = self._by_app.pop(app, frozenset())
        if new:
            self._by_app[app] = new
        for target in old - new:
            users = self._by_target[target]
            users.discard(app)
            if not users:
                del self._by_target[target]
        for target in new - old:
            self._by_target.setdefault(target, set()).add(app)
        return set(old ^ new)

    def named(self, app: ObjectKey) -> frozenset[ObjectKey]:
        """What the application names."""
        return self._by_app.get(app, frozenset())

    def naming(self, target: ObjectKey) -> set[ObjectKey]:
        """The applications naming ``target`` (of its namespace only, by construction)."""
        return set(self._by_target.get(target, ()))
