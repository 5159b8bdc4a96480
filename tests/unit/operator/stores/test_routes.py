"""HTTPRoutes as the operator reads them (operator/stores/routes.py): one GET in the
application's namespace; a 404 is the route missing or the whole API missing, told apart
by the API server's Status. The API server's own answers: tests/e2e/test_httproutes.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.decisions.httproute import RouteRead
from gatepass.models.accessapplication import TargetRef
from gatepass.operator.stores.routes import KubeRoutes

REF = TargetRef(name="web")
# What kube-apiserver answers: a missing object names it, a missing resource names nothing.
MISSING_ROUTE = {
    "kind": "Status",
    "reason": "NotFound",
    "details": {"name": "web", "group": "gateway.networking.k8s.io", "kind": "httproutes"},
    "code": 404,
}
MISSING_API = {
    "kind": "Status",
    "reason": "NotFound",
    "message": "the server could not find the requested resource",
}


class Custom:
    """Stands in for CustomObjectsApi's GET: ``answer`` returned, or raised."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, ...]] = []

    async def get_namespaced_custom_object(self, *args: Any) -> Any:
        self.calls.append(args)
        if isinstance(self.answer, ApiException):
            raise self.answer
        return self.answer


async def read(answer: Any, enabled: bool = True) -> tuple[RouteRead, Custom]:
    async with client.ApiClient() as api:
        routes, fake = KubeRoutes(api=api, enabled=enabled), Custom(answer)
        routes.custom = fake  # type: ignore[assignment]
        return await routes.read("team-a", REF), fake


def refused(status: int, body: Any = None) -> ApiException:
    e = ApiException(status=status)
    e.body = None if body is None else json.dumps(body).encode()
    return e


@pytest.mark.asyncio
async def test_a_route_is_read_in_the_applications_namespace_only() -> None:
    found, fake = await read({"spec": {"hostnames": ["a.example.com"]}})
    assert found.body == {"spec": {"hostnames": ["a.example.com"]}}
    assert fake.calls == [("gateway.networking.k8s.io", "v1", "team-a", "httproutes", "web")]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (refused(404, MISSING_ROUTE), "RouteNotFound"),
        (refused(404, MISSING_API), "RouteAPIUnavailable"),
        (refused(404), "RouteAPIUnavailable"),
        (refused(403, {"kind": "Status", "code": 403}), "RouteUnreadable"),
    ],
)
async def test_what_cannot_be_read_is_said_not_raised(answer: ApiException, problem: str) -> None:
    found, _ = await read(answer)
    assert found.problem == problem


@pytest.mark.asyncio
async def test_other_errors_are_retried_by_the_queue() -> None:
    with pytest.raises(ApiException):
        await read(refused(500))


@pytest.mark.asyncio
async def test_turned_off_nothing_is_read() -> None:
    found, fake = await read({"spec": {}}, enabled=False)
    assert found.problem == "RoutesDisabled"
    assert fake.calls == []
