"""The operator's stores (operator/stores/protocols.py) in memory, for unit tests of what
calls them: fast, and with the API server's rules that the callers rely on:

* every write moves the object's resourceVersion (one counter for all, as etcd's);
* a write carrying another resourceVersion than the stored one raises Conflict, as does
  a status write to an object that is gone;
* a GET returns the last write, parsed anew (never the caller's own object);
* a status write leaves metadata.generation alone; a spec change moves it;
* a delete with uid and resourceVersion preconditions raises Conflict when either moved;
* stringData becomes base64 data, as the API server stores it.

It is no stand-in for the API server's behaviour beyond these: tests/e2e has the real one.
"""

from __future__ import annotations

import base64
import copy
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import API_VERSION, ObjectKey
from gatepass.decisions import rollout
from gatepass.decisions.httproute import Problem, RouteRead
from gatepass.models.accessapplication import AccessApplication, AccessApplicationStatus, TargetRef
from gatepass.models.accesspolicy import AccessPolicy
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceToken, ServiceTokenStatus, parse_token
from gatepass.operator.stores.protocols import Conflict, Stores

Body = dict[str, Any]


class Cluster:
    """The objects, keyed by (kind, namespace, name), and the resourceVersion counter."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Body] = {}
        self._versions = itertools.count(100)
        self._uids = itertools.count(1)

    def version(self) -> str:
        return str(next(self._versions))

    def create(self, kind: str, body: Body) -> Body:
        meta = body.setdefault("metadata", {})
        key = (kind, meta["namespace"], meta["name"])
        if key in self.objects:
            raise Conflict(f"{kind} {key[1]}/{key[2]} exists")
        meta.update(uid=f"uid-{next(self._uids)}", resourceVersion=self.version(), generation=1)
        self.objects[key] = copy.deepcopy(body)
        return copy.deepcopy(body)

    def get(self, kind: str, namespace: str, name: str) -> Body | None:
        found = self.objects.get((kind, namespace, name))
        return None if found is None else copy.deepcopy(found)

    def write(
        self, kind: str, namespace: str, name: str, version: str | None, change: Callable[[Body], None]
    ) -> Body:
        """Change the stored object if ``version`` is its resourceVersion (None: whatever it
        is, as a client that sends none); generation moves only when the spec does."""
        body = self.objects.get((kind, namespace, name))
        if body is None or (version is not None and version != body["metadata"]["resourceVersion"]):
            raise Conflict(f"{kind} {namespace}/{name} changed")
        spec = copy.deepcopy(body.get("spec"))
        change(body)
        meta = body["metadata"]
        meta["resourceVersion"] = self.version()
        if body.get("spec") != spec:
            meta["generation"] = meta.get("generation", 1) + 1
        return copy.deepcopy(body)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)


def _metadata(body: Body) -> Body:
    meta: Body = body["metadata"]
    return meta


class FakeTokens:
    def __init__(self, *, cluster: Cluster) -> None:
        self.cluster = cluster
        # Called before each status write: a test makes someone else write in between.
        self.before_status_write: Callable[[ServiceToken], None] = lambda _: None

    def create(self, namespace: str, name: str, spec: Body | None = None, **meta: Any) -> ServiceToken:
        body = {
            "apiVersion": API_VERSION,
            "kind": "ServiceToken",
            "metadata": {"namespace": namespace, "name": name, **meta},
            "spec": spec or {},
        }
        return parse_token(self.cluster.create("ServiceToken", body))

    def edit(self, namespace: str, name: str, change: Callable[[Body], None]) -> None:
        """Someone else's write (kubectl edit): spec, annotations, even status."""
        self.cluster.write("ServiceToken", namespace, name, None, change)

    def body(self, namespace: str, name: str) -> Body | None:
        return self.cluster.get("ServiceToken", namespace, name)

    async def get(self, namespace: str, name: str) -> ServiceToken | None:
        body = self.body(namespace, name)
        return None if body is None else parse_token(body)

    async def keys(self, namespaces: list[str]) -> set[ObjectKey]:
        return {
            (ns, name)
            for kind, ns, name in self.cluster.objects
            if kind == "ServiceToken" and (not namespaces or ns in namespaces)
        }

    async def put_status(self, token: ServiceToken, status: ServiceTokenStatus) -> ServiceToken:
        self.before_status_write(token)
        meta = token.metadata
        wire = status.wire()
        written = self.cluster.write(
            "ServiceToken", meta.namespace, meta.name, meta.resource_version, lambda b: b.update(status=wire)
        )
        version = _metadata(written)["resourceVersion"]
        return token.model_copy(
            update={"metadata": meta.model_copy(update={"resource_version": version}), "status": status}
        )

    async def delete(self, token: ServiceToken) -> bool:
        meta = token.metadata
        body = self.body(meta.namespace, meta.name)
        if body is None:
            return False
        if (_metadata(body)["uid"], _metadata(body)["resourceVersion"]) != (meta.uid, meta.resource_version):
            raise Conflict(f"servicetokens {meta.namespace}/{meta.name} changed")
        self.cluster.delete("ServiceToken", meta.namespace, meta.name)
        return True


class FakeApps:
    def __init__(self, *, cluster: Cluster) -> None:
        self.cluster = cluster

    def create(self, namespace: str, name: str, spec: Body) -> Body:
        body = {
            "apiVersion": API_VERSION,
            "kind": "AccessApplication",
            "metadata": {"namespace": namespace, "name": name},
            "spec": spec,
        }
        return self.cluster.create("AccessApplication", body)

    def body(self, namespace: str, name: str) -> Body | None:
        return self.cluster.get("AccessApplication", namespace, name)

    async def get(self, namespace: str, name: str) -> AccessApplication | None:
        body = self.body(namespace, name)
        return None if body is None else AccessApplication.model_validate(body)

    async def bodies(self, namespaces: list[str]) -> AsyncIterator[Body]:
        for (kind, ns, _), body in list(self.cluster.objects.items()):
            if kind == "AccessApplication" and (not namespaces or ns in namespaces):
                yield copy.deepcopy(body)

    async def put_status(self, app: AccessApplication, status: AccessApplicationStatus) -> AccessApplication:
        meta = app.metadata
        wire = status.wire()
        written = self.cluster.write(
            "AccessApplication",
            meta.namespace,
            meta.name,
            meta.resource_version,
            lambda b: b.update(status=wire),
        )
        version = _metadata(written)["resourceVersion"]
        return app.model_copy(
            update={"metadata": meta.model_copy(update={"resource_version": version}), "status": status}
        )


class FakePolicies:
    def __init__(self, *, cluster: Cluster) -> None:
        self.cluster = cluster

    def put(self, namespace: str, name: str, spec: Body) -> None:
        """Create or replace (spec unchecked, as an older CRD would store it)."""
        self.cluster.objects.pop(("AccessPolicy", namespace, name), None)
        body = {
            "apiVersion": API_VERSION,
            "kind": "AccessPolicy",
            "metadata": {"namespace": namespace, "name": name},
        }
        self.cluster.create("AccessPolicy", {**body, "spec": spec})

    def delete(self, namespace: str, name: str) -> None:
        self.cluster.delete("AccessPolicy", namespace, name)

    async def get(self, namespace: str, name: str) -> AccessPolicy | None:
        body = self.cluster.get("AccessPolicy", namespace, name)
        return None if body is None else AccessPolicy.model_validate(body)

    async def bodies(self, namespaces: list[str]) -> AsyncIterator[Body]:
        for (kind, ns, _), body in list(self.cluster.objects.items()):
            if kind == "AccessPolicy" and (not namespaces or ns in namespaces):
                yield copy.deepcopy(body)


class FakeRoutes:
    """HTTPRoutes (the API server stores their spec unchecked here, as a hostile or older
    CRD might). ``problem``: what every read answers instead, e.g. RouteAPIUnavailable."""

    def __init__(self, *, cluster: Cluster) -> None:
        self.cluster = cluster
        self.problem: Problem | None = None
        self.reads: list[tuple[str, str]] = []

    def put(self, namespace: str, name: str, spec: Body) -> None:
        self.cluster.objects.pop(("HTTPRoute", namespace, name), None)
        meta = {"namespace": namespace, "name": name}
        body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta}
        self.cluster.create("HTTPRoute", {**body, "spec": spec})

    def delete(self, namespace: str, name: str) -> None:
        self.cluster.delete("HTTPRoute", namespace, name)

    async def read(self, namespace: str, ref: TargetRef) -> RouteRead:
        self.reads.append((namespace, ref.name))
        if self.problem is not None:
            return RouteRead(ref, problem=self.problem)
        body = self.cluster.get("HTTPRoute", namespace, ref.name)
        return RouteRead(ref, body) if body is not None else RouteRead(ref, problem="RouteNotFound")


def _stored(secret: client.V1Secret) -> client.V1Secret:
    """As the API server keeps it: stringData folded into base64 data."""
    kept = copy.deepcopy(secret)
    data = dict(kept.data or {})
    for key, text in (kept.string_data or {}).items():
        data[key] = base64.b64encode(text.encode()).decode()
    kept.data, kept.string_data = data, None
    return kept


class FakeSecrets:
    def __init__(self, *, cluster: Cluster) -> None:
        self.cluster = cluster
        self.secrets: dict[ObjectKey, client.V1Secret] = {}
        # What the API server answers every write with meanwhile (quota, admission...).
        self.refusal: ApiException | None = None
        self.writes = 0

    async def get(self, namespace: str, name: str) -> client.V1Secret | None:
        found = self.secrets.get((namespace, name))
        return None if found is None else copy.deepcopy(found)

    async def put(self, secret: client.V1Secret, existing: client.V1Secret | None) -> str:
        meta = secret.metadata
        key = (meta.namespace, meta.name)
        if self.refusal is not None:
            raise ApiException(status=self.refusal.status, reason=self.refusal.reason)
        stored = self.secrets.get(key)
        if existing is None and stored is not None:
            raise Conflict(f"Secret {key[0]}/{key[1]} changed: AlreadyExists")
        if existing is not None and (
            stored is None or stored.metadata.resource_version != existing.metadata.resource_version
        ):
            raise Conflict(f"Secret {key[0]}/{key[1]} changed: Conflict")
        kept = _stored(secret)
        kept.metadata.resource_version = self.cluster.version()
        kept.metadata.uid = (
            stored.metadata.uid if stored is not None else f"secret-{kept.metadata.resource_version}"
        )
        self.secrets[key] = kept
        self.writes += 1
        return str(kept.metadata.resource_version)

    async def release(self, secret: client.V1Secret, finalizer: str) -> None:
        meta = secret.metadata
        stored = self.secrets.get((meta.namespace, meta.name))
        if stored is None or stored.metadata.resource_version != meta.resource_version:
            raise Conflict(f"Secret {meta.namespace}/{meta.name} changed")
        rest = [f for f in (stored.metadata.finalizers or []) if f != finalizer]
        if stored.metadata.deletion_timestamp and not rest:
            del self.secrets[(meta.namespace, meta.name)]
            return
        stored.metadata.finalizers = rest
        stored.metadata.resource_version = self.cluster.version()


class FakeConfigMaps:
    def __init__(self, *, cluster: Cluster) -> None:
        self.cluster = cluster
        self.maps: dict[ObjectKey, tuple[str, dict[str, str], dict[str, str]]] = {}  # version, data, labels

    async def labelled(self, namespace: str, label: str) -> list[tuple[str, str, dict[str, str]]]:
        return [
            (name, version, dict(data))
            for (ns, name), (version, data, labels) in self.maps.items()
            if ns == namespace and labels.get(label) == "true"
        ]

    async def ensure(self, namespace: str, names: Iterable[str], labels: dict[str, str]) -> None:
        for name in names:
            self.maps.setdefault((namespace, name), (self.cluster.version(), {}, dict(labels)))

    async def read(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        found = self.maps.get((namespace, name))
        return None if found is None else (found[0], dict(found[1]))

    async def patch_data(
        self, namespace: str, name: str, data: Mapping[str, str | None], resource_version: str
    ) -> None:
        found = self.maps.get((namespace, name))
        if found is None or found[0] != resource_version:
            raise Conflict(f"configmap {namespace}/{name} changed")
        self._merge(namespace, name, data)

    async def drop_keys(self, namespace: str, name: str, keys: list[str]) -> None:
        if (namespace, name) in self.maps:
            self._merge(namespace, name, dict.fromkeys(keys))

    def _merge(self, namespace: str, name: str, data: Mapping[str, str | None]) -> None:
        _, present, labels = self.maps[namespace, name]
        merged = {**present, **{k: v for k, v in data.items() if v is not None}}
        for key in [k for k, v in data.items() if v is None]:
            merged.pop(key, None)
        self.maps[namespace, name] = (self.cluster.version(), merged, labels)


class FakeWorkloads:
    def __init__(self, *, cluster: Cluster) -> None:
        self.cluster = cluster
        self.found: dict[str, list[rollout.Workload]] = {}  # per namespace
        self.restarted: list[tuple[str, str, str]] = []
        self.applied: list[Body] = []
        self.refusal: ApiException | None = None  # of the listing (RBAC)

    async def list(self, namespace: str, secret: str) -> list[rollout.Workload]:
        if self.refusal is not None:
            raise ApiException(status=self.refusal.status, reason=self.refusal.reason)
        return list(self.found.get(namespace, []))

    async def restart(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.restarted.append((kind, namespace, name))
        return True

    async def deployment_uid(self, namespace: str, name: str) -> str | None:
        return None

    async def apply(self, obj: Body) -> None:
        self.applied.append(copy.deepcopy(obj))


class FakeEvents:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, Event]] = []  # (namespace, name, event)

    async def post(self, obj: ServiceToken | AccessApplication, event: Event) -> None:
        self.posted.append((obj.metadata.namespace, obj.metadata.name, event))

    def reasons(self) -> list[str]:
        return [event.reason for _, _, event in self.posted]


class FakeStores(Stores):
    """Every store over one in-memory cluster, typed as the fakes for the tests' use."""

    tokens: FakeTokens
    apps: FakeApps
    policies: FakePolicies
    routes: FakeRoutes
    secrets: FakeSecrets
    configmaps: FakeConfigMaps
    workloads: FakeWorkloads
    events: FakeEvents


async def _closed() -> None:
    return None


def fake_stores() -> FakeStores:
    cluster = Cluster()
    return FakeStores(
        tokens=FakeTokens(cluster=cluster),
        apps=FakeApps(cluster=cluster),
        policies=FakePolicies(cluster=cluster),
        routes=FakeRoutes(cluster=cluster),
        secrets=FakeSecrets(cluster=cluster),
        configmaps=FakeConfigMaps(cluster=cluster),
        workloads=FakeWorkloads(cluster=cluster),
        events=FakeEvents(),
        close=_closed,
    )
