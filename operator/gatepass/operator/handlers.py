"""The kopf registry: thin handlers that hand every event to the operator's routing
(:class:`Routes`; operator/app.py implements it, operator/main.py wires the two).

Handlers only enqueue keys. ``on.event`` is used on purpose: change handlers
(``on.create``/``on.update``) keep a diff-base annotation and daemons/timers add
finalizers, and a finalizer on a ServiceToken would leave it stuck in
Terminating while the operator is down (delete must always revoke).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import kopf

from gatepass.contract import (
    APPS,
    COMPONENT_LABEL,
    GATEWAY_COMPONENT,
    GROUP,
    LAST_SEEN_LABEL,
    MANAGED_BY,
    POLICIES,
    ROUTE_GROUP,
    ROUTE_VERSION,
    ROUTES,
    TOKENS,
    VERSION,
)


class Routes(Protocol):
    """What the handlers hand each event to."""

    def configure(self, settings: kopf.OperatorSettings) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def on_token(
        self, event_type: str | None, namespace: str, name: str, version: str | None, body: Mapping[str, Any]
    ) -> None: ...
    def on_app(self, event_type: str | None, namespace: str, name: str, body: Mapping[str, Any]) -> None: ...
    def on_policy(
        self, event_type: str | None, namespace: str, name: str, body: Mapping[str, Any]
    ) -> None: ...
    def on_route(self, namespace: str, name: str) -> None: ...
    def on_secret(
        self,
        event_type: str | None,
        namespace: str,
        name: str,
        version: str | None,
        labels: Mapping[str, str],
    ) -> None: ...
    def on_last_seen(
        self, namespace: str, name: str, data: Mapping[str, str], version: str | None = None
    ) -> None: ...
    def on_last_seen_deleted(self, namespace: str, name: str) -> None: ...
    def on_gateway_object(self, namespace: str, name: str) -> None: ...


def build_registry(app: Routes, *, manage_gateway: bool, http_routes: bool = True) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    _lifecycle(registry, app)
    _resources(registry, app)
    if manage_gateway:
        _gateway(registry, app)
    if http_routes:
        _routes(registry, app)
    return registry


def _lifecycle(registry: kopf.OperatorRegistry, app: Routes) -> None:

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # kopf's own readers: the pod's service account, else KUBECONFIG.
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        app.configure(settings)
        await app.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await app.stop()


def _resources(registry: kopf.OperatorRegistry, app: Routes) -> None:
    @kopf.on.event(GROUP, VERSION, TOKENS, registry=registry)
    async def token_event(
        type: str, namespace: str | None, name: str, meta: kopf.Meta, body: kopf.Body, **_: Any
    ) -> None:
        app.on_token(type, namespace or "", name, meta.get("resourceVersion"), dict(body))

    @kopf.on.event(GROUP, VERSION, APPS, registry=registry)
    async def app_event(type: str, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> None:
        app.on_app(type, namespace or "", name, body)

    @kopf.on.event(GROUP, VERSION, POLICIES, registry=registry)
    async def policy_event(type: str, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> None:
        app.on_policy(type, namespace or "", name, body)

    @kopf.on.event("v1", "secrets", labels=MANAGED_BY, registry=registry)
    async def secret_event(
        type: str, namespace: str | None, name: str, meta: kopf.Meta, labels: Mapping[str, str], **_: Any
    ) -> None:
        app.on_secret(type, namespace or "", name, meta.get("resourceVersion"), labels)

    @kopf.on.event("v1", "configmaps", labels={LAST_SEEN_LABEL: "true"}, registry=registry)
    async def last_seen_event(type: str, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> None:
        if type == "DELETED":
            app.on_last_seen_deleted(namespace or "", name)
        else:
            version = (body.get("metadata") or {}).get("resourceVersion")
            app.on_last_seen(namespace or "", name, body.get("data") or {}, version)


def _gateway(registry: kopf.OperatorRegistry, app: Routes) -> None:
    labels = {**MANAGED_BY, COMPONENT_LABEL: GATEWAY_COMPONENT}

    @kopf.on.event("apps", "v1", "deployments", labels=labels, registry=registry)
    async def deployment_event(namespace: str | None, name: str, **_: Any) -> None:
        app.on_gateway_object(namespace or "", name)

    @kopf.on.event("v1", "services", labels=labels, registry=registry)
    async def service_event(namespace: str | None, name: str, **_: Any) -> None:
        app.on_gateway_object(namespace or "", name)


def _routes(registry: kopf.OperatorRegistry, app: Routes) -> None:
    """Gateway API HTTPRoutes (read only): a change re-checks the applications naming the
    route. Without the Gateway API CRDs kopf logs that it cannot serve them and watches
    nothing, until the CRD appears (it watches CRDs: operator RBAC)."""

    @kopf.on.event(ROUTE_GROUP, ROUTE_VERSION, ROUTES, registry=registry)
    async def route_event(namespace: str | None, name: str, **_: Any) -> None:
        app.on_route(namespace or "", name)
