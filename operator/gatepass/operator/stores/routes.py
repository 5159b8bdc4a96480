"""Gateway API HTTPRoutes, read where an application names one (spec.targetRefs): one
GET in the application's own namespace, never another's. The operator writes none.

A 404 is either the route missing (the API server's Status names it) or the whole API
missing (the Gateway API CRDs are not installed: a Status naming nothing); a 403 is RBAC
that does not let the operator read routes. Each is a condition on the application, not
an error; anything else is retried.
"""

from __future__ import annotations

import json

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import ROUTE_GROUP, ROUTE_VERSION, ROUTES
from gatepass.decisions.httproute import RouteRead
from gatepass.models.accessapplication import TargetRef


def _names_object(e: ApiException) -> bool:
    """Whether a 404's Status is about one object (it names it), not a missing resource."""
    try:
        details = json.loads(e.body or "{}").get("details") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(details, dict) and bool(details.get("name"))


class KubeRoutes:
    def __init__(self, *, api: client.ApiClient, enabled: bool = True) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.enabled = enabled  # GATEPASS_HTTP_ROUTES: false, no route is read (nor watched)

    async def read(self, namespace: str, ref: TargetRef) -> RouteRead:
        if not self.enabled:
            return RouteRead(ref, problem="RoutesDisabled")
        try:
            body = await self.custom.get_namespaced_custom_object(
                ROUTE_GROUP, ROUTE_VERSION, namespace, ROUTES, ref.name
            )
        except ApiException as e:
            if e.status == 404:
                return RouteRead(ref, problem="RouteNotFound" if _names_object(e) else "RouteAPIUnavailable")
            if e.status == 403:
                return RouteRead(ref, problem="RouteUnreadable")
            raise
        return RouteRead(ref, body if isinstance(body, dict) else None)
