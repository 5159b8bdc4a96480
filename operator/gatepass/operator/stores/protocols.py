"""What the reconcilers ask of the API server, one Protocol per resource.

The API server's stores implement them (this package); tests/support/fakestores.py keeps
them in memory with the same resourceVersion and conflict semantics, for unit tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes_asyncio import client

from gatepass.contract import ObjectKey
from gatepass.decisions import rollout
from gatepass.decisions.httproute import RouteRead
from gatepass.models.accessapplication import AccessApplication, AccessApplicationStatus, TargetRef
from gatepass.models.accesspolicy import AccessPolicy
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceToken, ServiceTokenStatus

Body = dict[str, Any]


class Conflict(Exception):
    """Someone else wrote the object since we read it (or deleted it): reconcile again."""


class NamespaceMissing(Exception):
    """A create was refused because its namespace does not exist."""

    def __init__(self, namespace: str) -> None:
        super().__init__(f"namespace {namespace} does not exist")
        self.namespace = namespace


class TokenStore(Protocol):
    async def get(self, namespace: str, name: str) -> ServiceToken | None:
        """The token, typed; InvalidServiceToken if its spec does not parse."""

    async def keys(self, namespaces: list[str]) -> set[ObjectKey]:
        """Every ServiceToken's (namespace, name); every namespace when none are given."""

    async def put_status(self, token: ServiceToken, status: ServiceTokenStatus) -> ServiceToken:
        """Replace status, guarded by the token's resourceVersion (Conflict if it moved);
        the token as written."""

    async def delete(self, token: ServiceToken) -> bool:
        """Delete the token as read (uid and resourceVersion preconditions: Conflict if it
        changed); False if it was already gone."""


class AppStore(Protocol):
    async def get(self, namespace: str, name: str) -> AccessApplication | None:
        """The application, typed (pydantic's ValidationError if it does not parse)."""

    def bodies(self, namespaces: list[str]) -> AsyncIterator[Body]:
        """Every AccessApplication as the API returns it, one at a time (keep only what
        is needed of each)."""

    async def put_status(self, app: AccessApplication, status: AccessApplicationStatus) -> AccessApplication:
        """As TokenStore.put_status."""


class PolicyStore(Protocol):
    async def get(self, namespace: str, name: str) -> AccessPolicy | None:
        """The AccessPolicy, typed (pydantic's ValidationError if it does not parse)."""

    def bodies(self, namespaces: list[str]) -> AsyncIterator[Body]:
        """Every AccessPolicy as the API returns it, one at a time."""


class RouteStore(Protocol):
    async def read(self, namespace: str, ref: TargetRef) -> RouteRead:
        """The HTTPRoute a targetRef names, of ``namespace`` only, or why it cannot be read
        (missing, the API or the right to read it absent, turned off); other errors raise."""


class SecretStore(Protocol):
    async def get(self, namespace: str, name: str) -> client.V1Secret | None: ...

    async def put(self, secret: client.V1Secret, existing: client.V1Secret | None) -> str:
        """Create, or replace guarded by ``existing``'s resourceVersion (Conflict); the
        resourceVersion written. A refusal is an ApiException whose reason never echoes the
        Secret."""

    async def release(self, secret: client.V1Secret, finalizer: str) -> None:
        """Drop our finalizer from a Secret being deleted, guarded by its resourceVersion."""


class ConfigMapStore(Protocol):
    async def labelled(self, namespace: str, label: str) -> list[tuple[str, str, dict[str, str]]]:
        """(name, resourceVersion, data) of the ConfigMaps with ``label=true``."""

    async def ensure(self, namespace: str, names: Iterable[str], labels: dict[str, str]) -> None:
        """Create those that are missing."""

    async def read(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        """(resourceVersion, data); None if it does not exist."""

    async def patch_data(
        self, namespace: str, name: str, data: Mapping[str, str | None], resource_version: str
    ) -> None:
        """Merge ``data`` (None removes a key) only if nobody wrote since (else Conflict)."""

    async def drop_keys(self, namespace: str, name: str, keys: list[str]) -> None:
        """Remove keys, unconditionally; nothing if the ConfigMap is gone."""


class WorkloadStore(Protocol):
    async def list(self, namespace: str, secret: str) -> list[rollout.Workload]:
        """Every Deployment, StatefulSet and DaemonSet of the namespace, as the rollout sees
        it for ``secret`` (ApiException 403 if refused)."""

    async def restart(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Patch a workload's pod template; False if it is gone meanwhile."""

    async def deployment_uid(self, namespace: str, name: str) -> str | None: ...

    async def apply(self, obj: Body) -> None:
        """Server-side apply of the gateway's Deployment or Service (NamespaceMissing)."""


class EventStore(Protocol):
    async def post(self, obj: ServiceToken | AccessApplication, event: Event) -> None:
        """Best effort: a failure is logged, never raised."""


@dataclass(frozen=True, kw_only=True)
class Stores:
    """Every door the operator has, built whole (stores/kube.py, or the tests' fakes)."""

    tokens: TokenStore
    apps: AppStore
    policies: PolicyStore
    routes: RouteStore
    secrets: SecretStore
    configmaps: ConfigMapStore
    workloads: WorkloadStore
    events: EventStore
    close: Callable[[], Awaitable[None]]
