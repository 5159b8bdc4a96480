"""The operator's only door to the Kubernetes API (kopf does the watching).

Status is written with PUT on the status subresource, carrying the
resourceVersion that was read: a concurrent writer makes it fail with 409
instead of being overwritten, and the reconcile starts again from fresh data.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass import __version__
from gatepass.contract import APPS, GROUP, TOKENS, VERSION, ObjectKey
from gatepass.decisions import rollout
from gatepass.decisions.secretdata import credentials, current, render
from gatepass.decisions.secretmeta import SecretMetadata
from gatepass.decisions.token.inputs import SecretView
from gatepass.liststream import ListStream
from gatepass.models.accessapplication import AccessApplication, AccessApplicationStatus
from gatepass.models.events import Event
from gatepass.models.meta import ObjectMeta
from gatepass.models.servicetoken import SecretTemplate, ServiceToken, ServiceTokenStatus, parse_token
from gatepass.trust.credentials import SECRET_PREFIX, secret_hash

log = logging.getLogger(__name__)
Body = dict[str, Any]

COMPONENT = "gatepass-operator"


# Status writes per object whose watch events are recognised as our own.
OWN_WRITES_KEPT = 3
# Objects per list request, and bytes read from a streamed one at a time.
PAGE = 500
CHUNK = 64 * 1024


class Conflict(Exception):
    """Someone else wrote the object since we read it: reconcile again."""


@dataclass(frozen=True)
class SecretContent:
    """A credential on its way into a Secret. repr() never shows the secret."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"SecretContent(client_id={self.client_id!r}, client_secret=<hidden>)"


async def load_config() -> None:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()


class NamespaceMissing(Exception):
    """A create was refused because its namespace does not exist."""

    def __init__(self, namespace: str) -> None:
        super().__init__(f"namespace {namespace} does not exist")
        self.namespace = namespace


def _refused_for_namespace(e: ApiException, namespace: str) -> NamespaceMissing | None:
    """The NamespaceMissing a refused create stands for, if it does (the API server's
    Status names the kind ``namespaces``; nothing else of the body is read: it may echo
    the request)."""
    if e.status != 404:
        return None
    try:
        details = json.loads(e.body or "{}").get("details") or {}
    except (ValueError, AttributeError):
        return None
    return NamespaceMissing(namespace) if details.get("kind") == "namespaces" else None


def _ignore_404(e: ApiException) -> None:
    if e.status != 404:
        raise e


async def _read_list(
    list_fn: Callable[..., Awaitable[Any]], listing: ListStream, *args: Any, **params: Any
) -> AsyncIterator[Any]:
    """The items of one list request, each as soon as it has arrived: the response is
    read unparsed and streamed through ``listing`` (which then holds its metadata)."""
    response = await list_fn(*args, _preload_content=False, **params)
    async with response:
        if response.status != 200:  # unread, the client raises nothing itself
            raise ApiException(status=response.status, reason=response.reason)
        async for item in listing.read(response.content.iter_chunked(CHUNK)):
            yield item


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        # The resourceVersions of our last status writes per object: the watch events they
        # cause are ours, and must not start another reconcile (no self-made loops). More
        # than the last one: an issuance writes twice, and the first write's event arrives
        # after the second write (were it taken for someone else's, every new token would
        # be reconciled once more for nothing: two GETs each, minutes at 10,000 tokens).
        self.written: dict[tuple[str, str, str], tuple[str, ...]] = {}

    def own_write(self, plural: str, namespace: str, name: str, version: str | None) -> bool:
        """Is this version of the object one that our recent status writes produced?"""
        return version is not None and version in self.written.get((plural, namespace, name), ())

    def wrote(self, plural: str, namespace: str, name: str) -> bool:
        """Has this process written the object's status (since it was last deleted)?"""
        return (plural, namespace, name) in self.written

    def forget(self, plural: str, namespace: str, name: str) -> None:
        self.written.pop((plural, namespace, name), None)

    async def close(self) -> None:
        await self.api.close()

    async def get_token(self, namespace: str, name: str) -> ServiceToken | None:
        """The token, typed; InvalidServiceToken if its spec does not parse."""
        body = await self._get(TOKENS, namespace, name)
        return None if body is None else parse_token(body)

    async def get_app(self, namespace: str, name: str) -> AccessApplication | None:
        """The application, typed (pydantic's ValidationError if it does not parse)."""
        body = await self._get(APPS, namespace, name)
        return None if body is None else AccessApplication.model_validate(body)

    async def _objects(self, plural: str, namespaces: list[str]) -> AsyncIterator[dict[str, Any]]:
        """Every object of ``plural``, one at a time as its bytes arrive, a listing of 500
        per request: one listing, not one GET each. The caller keeps a few fields of each:
        tenants write these objects (up to 1.5 MiB each), and a page read whole was every
        one of them in memory at once (gatepass/liststream.py)."""
        scopes: list[str | None] = [*namespaces] or [None]
        for ns in scopes:
            list_fn: Callable[..., Awaitable[Any]] = self.custom.list_cluster_custom_object
            args: tuple[str, ...] = (GROUP, VERSION, plural)
            if ns is not None:
                list_fn, args = self.custom.list_namespaced_custom_object, (GROUP, VERSION, ns, plural)
            more = None
            while True:
                page = ListStream()
                kw: dict[str, Any] = {"limit": PAGE, **({"_continue": more} if more else {})}
                async for obj in _read_list(list_fn, page, *args, **kw):
                    yield obj
                more = page.fields["metadata"].get("continue")
                if not more:
                    break

    async def token_keys(self, namespaces: list[str]) -> set[ObjectKey]:
        """Every ServiceToken's (namespace, name)."""
        return {
            (o["metadata"]["namespace"], o["metadata"]["name"])
            async for o in self._objects(TOKENS, namespaces)
        }

    def apps(self, namespaces: list[str]) -> AsyncIterator[dict[str, Any]]:
        """Every AccessApplication, as the API returns it, one at a time (keep only what
        is needed of each)."""
        return self._objects(APPS, namespaces)

    async def put_token_status(self, token: ServiceToken, status: ServiceTokenStatus) -> ServiceToken:
        version = await self._put_status(TOKENS, token.api_version, token.kind, token.metadata, status.wire())
        return token.model_copy(update={"metadata": _at(token.metadata, version), "status": status})

    async def put_app_status(
        self, app: AccessApplication, status: AccessApplicationStatus
    ) -> AccessApplication:
        version = await self._put_status(APPS, app.api_version, app.kind, app.metadata, status.wire())
        return app.model_copy(update={"metadata": _at(app.metadata, version), "status": status})

    async def delete_token(self, token: ServiceToken) -> bool:
        """Delete the token as read (spec.inactivity): a token changed since, e.g. reactivated,
        is a Conflict, not deleted. Its Secret goes by garbage collection (ownerReference).
        False if it was already gone."""
        meta = token.metadata
        options = client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=meta.uid, resource_version=meta.resource_version),
            propagation_policy="Background",
        )
        try:
            await self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, meta.namespace, TOKENS, meta.name, body=options
            )
        except ApiException as e:
            if e.status == 409:
                raise Conflict(f"{TOKENS} {meta.namespace}/{meta.name} changed: {e.reason}") from None
            _ignore_404(e)
            return False
        return True

    async def _get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
            return body
        except ApiException as e:
            _ignore_404(e)
            return None

    async def _put_status(
        self, plural: str, api_version: str, kind: str, meta: ObjectMeta, status: dict[str, Any]
    ) -> str:
        """Replace status, guarded by the resourceVersion that was read (the API server
        takes only status from a status write: the rest of the object is not sent)."""
        body = {"apiVersion": api_version, "kind": kind, "metadata": meta.reference(), "status": status}
        try:
            result = await self.custom.replace_namespaced_custom_object_status(
                GROUP, VERSION, meta.namespace, plural, meta.name, body
            )
        except ApiException as e:
            if e.status in (404, 409):
                raise Conflict(f"{plural} {meta.namespace}/{meta.name} changed: {e.reason}") from None
            raise
        version = str(result["metadata"]["resourceVersion"])
        key = (plural, meta.namespace, meta.name)
        self.written[key] = (*self.written.get(key, ())[-(OWN_WRITES_KEPT - 1) :], version)
        return version

    async def apply(self, obj: Body) -> None:
        """Server-side apply as the operator: puts back what someone deleted or edited."""
        meta = obj["metadata"]
        kw: dict[str, Any] = {
            "field_manager": COMPONENT,
            "force": True,
            "_content_type": "application/apply-patch+yaml",
        }
        try:
            if obj["kind"] == "Deployment":
                await client.AppsV1Api(self.api).patch_namespaced_deployment(
                    meta["name"], meta["namespace"], obj, **kw
                )
            elif obj["kind"] == "Service":
                await self.core.patch_namespaced_service(meta["name"], meta["namespace"], obj, **kw)
            else:
                raise ValueError(f"cannot apply {obj['kind']}")
        except ApiException as e:
            if missing := _refused_for_namespace(e, meta["namespace"]):
                raise missing from None
            raise

    async def deployment_uid(self, namespace: str, name: str) -> str | None:
        try:
            found = await client.AppsV1Api(self.api).read_namespaced_deployment(name, namespace)
        except ApiException as e:
            _ignore_404(e)
            return None
        return str(found.metadata.uid)

    async def labelled_configmaps(self, namespace: str, label: str) -> list[tuple[str, str, dict[str, str]]]:
        """(name, resourceVersion, data) of the ConfigMaps with ``label=true``: one request."""
        listing = await self.core.list_namespaced_config_map(namespace, label_selector=f"{label}=true")
        return [(cm.metadata.name, cm.metadata.resource_version, dict(cm.data or {})) for cm in listing.items]

    async def ensure_configmaps(self, namespace: str, names: Iterable[str], labels: dict[str, str]) -> None:
        """Create those that are missing (one list, then one create each)."""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        listing = await self.core.list_namespaced_config_map(namespace, label_selector=selector)
        present = {cm.metadata.name for cm in listing.items}
        for name in names:
            if name in present:
                continue
            meta = client.V1ObjectMeta(name=name, namespace=namespace, labels=labels)
            try:
                await self.core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=meta))
            except ApiException as e:
                if missing := _refused_for_namespace(e, namespace):
                    raise missing from None
                if e.status != 409:
                    raise

    async def read_configmap(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        """(resourceVersion, data); None if it does not exist."""
        try:
            cm = await self.core.read_namespaced_config_map(name, namespace)
        except ApiException as e:
            _ignore_404(e)
            return None
        return cm.metadata.resource_version, dict(cm.data or {})

    async def patch_configmap_data(
        self, namespace: str, name: str, data: Mapping[str, str | None], resource_version: str
    ) -> None:
        """Merge ``data`` (None removes a key) only if nobody wrote since resource_version."""
        body = {"metadata": {"resourceVersion": resource_version}, "data": dict(data)}
        try:
            await self.core.patch_namespaced_config_map(name, namespace, body)
        except ApiException as e:
            if e.status == 409:
                raise Conflict(f"configmap {namespace}/{name} changed") from None
            raise

    async def workloads(self, namespace: str, secret: str) -> list[rollout.Workload]:
        """Every Deployment, StatefulSet and DaemonSet of one namespace (the only place
        spec.rollout restarts anything), as the rollout sees it for ``secret``. Tenants
        write these objects (up to 1.5 MiB each): each is read alone, page by page, and
        kept only as its few fields (gatepass/liststream.py)."""
        apps = client.AppsV1Api(self.api)
        listings = (
            ("Deployment", apps.list_namespaced_deployment),
            ("StatefulSet", apps.list_namespaced_stateful_set),
            ("DaemonSet", apps.list_namespaced_daemon_set),
        )
        found = []
        for kind, list_fn in listings:
            more = None
            while True:
                page = ListStream()
                params = {"limit": PAGE, **({"_continue": more} if more else {})}
                async for obj in _read_list(list_fn, page, namespace, **params):
                    found.append(rollout.workload(kind, obj, secret))
                more = page.fields["metadata"].get("continue")
                if not more:
                    break
        return found

    async def restart(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Patch a workload's pod template (a rollout); False if it is gone meanwhile."""
        apps = client.AppsV1Api(self.api)
        patch_fn = {
            "Deployment": apps.patch_namespaced_deployment,
            "StatefulSet": apps.patch_namespaced_stateful_set,
            "DaemonSet": apps.patch_namespaced_daemon_set,
        }[kind]
        try:
            await patch_fn(name, namespace, patch)
        except ApiException as e:
            _ignore_404(e)
            return False
        return True

    async def drop_configmap_keys(self, namespace: str, name: str, keys: list[str]) -> None:
        """Strategic merge: a null value removes the key."""
        try:
            await self.core.patch_namespaced_config_map(name, namespace, {"data": dict.fromkeys(keys)})
        except ApiException as e:
            if e.status != 404:
                raise

    async def put_secret(self, secret: client.V1Secret, existing: client.V1Secret | None) -> None:
        """Create, or replace guarded by the resourceVersion read. Errors never carry the
        response body: it may echo the request, secret included."""
        meta = secret.metadata
        try:
            if existing is None:
                await self.core.create_namespaced_secret(meta.namespace, secret)
            else:
                meta.resource_version = existing.metadata.resource_version
                await self.core.replace_namespaced_secret(meta.name, meta.namespace, secret)
        except ApiException as e:
            if missing := _refused_for_namespace(e, meta.namespace):
                raise missing from None
            if e.status in (404, 409):
                raise Conflict(f"Secret {meta.namespace}/{meta.name} changed: {e.reason}") from None
            raise ApiException(status=e.status, reason=_safe_reason(e, secret)) from None

    async def release_secret(self, secret: client.V1Secret, finalizer: str) -> None:
        """Drop our finalizer from a Secret being deleted (it goes at once), guarded by the
        resourceVersion read."""
        meta = secret.metadata
        rest = [f for f in (meta.finalizers or []) if f != finalizer]
        # A merge patch replaces the list whole; the resourceVersion makes it conditional.
        patch = {"metadata": {"resourceVersion": meta.resource_version, "finalizers": rest}}
        kw: dict[str, Any] = {"_content_type": "application/merge-patch+json"}
        try:
            await self.core.patch_namespaced_secret(meta.name, meta.namespace, patch, **kw)
        except ApiException as e:
            if e.status in (404, 409):
                raise Conflict(f"Secret {meta.namespace}/{meta.name} changed: {e.reason}") from None
            raise ApiException(status=e.status, reason=str(e.reason)) from None

    async def get_secret(self, namespace: str, name: str) -> client.V1Secret | None:
        try:
            return await self.core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            _ignore_404(e)
            return None

    async def write_secret(
        self,
        token: ServiceToken,
        metadata: SecretMetadata,
        existing: client.V1Secret | None,
        content: SecretContent | None = None,
        rerender: bool = False,
    ) -> None:
        """Create the Secret, or replace ours in place (guarded by the resourceVersion read):
        with ``content``, new credentials; without, the data it holds and new metadata, or
        (``rerender``) its credentials laid out as the template now says."""
        meta = token.metadata
        owner = client.V1OwnerReference(
            api_version=token.api_version,
            kind=token.kind,
            name=meta.name,
            uid=meta.uid,
            controller=True,
            block_owner_deletion=True,
        )
        obj = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=token.secret_name,
                namespace=meta.namespace,
                labels=metadata.labels,
                annotations=metadata.annotations or None,
                owner_references=[owner],
            ),
            type="Opaque",
        )
        template = token.spec.secret_template
        if content is None and rerender and existing is not None:
            client_id, client_secret = credentials(template, decoded(existing))
            if client_id is not None and client_secret is not None:
                content = SecretContent(client_id, client_secret)  # the same ones, laid out anew
        if content is not None:
            obj.string_data = render(template, content.client_id, content.client_secret)
        elif existing is not None:
            obj.data = existing.data
        else:
            raise ValueError("a new Secret needs credentials")
        await self.put_secret(obj, existing)

    async def post_event(self, obj: ServiceToken | AccessApplication, event: Event) -> None:
        meta = obj.metadata
        now = datetime.now(UTC)
        ev = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta.name}.", namespace=meta.namespace),
            involved_object=client.V1ObjectReference(
                api_version=obj.api_version,
                kind=obj.kind,
                name=meta.name,
                namespace=meta.namespace,
                uid=meta.uid,
                resource_version=meta.resource_version,
            ),
            reason=event.reason,
            message=event.message,
            type=event.type,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=f"{GROUP}/operator",
            reporting_instance=f"gatepass-{__version__}",
        )
        try:
            await self.core.create_namespaced_event(meta.namespace, ev)
        except ApiException as e:  # an Event is best effort; the condition carries the state
            log.warning(
                "could not post Event %s for %s/%s: %s", event.reason, meta.namespace, meta.name, e.reason
            )


def _at(meta: ObjectMeta, version: str) -> ObjectMeta:
    return meta.model_copy(update={"resource_version": version})


def _safe_reason(error: ApiException, secret: client.V1Secret) -> str:
    """The API server's own explanation (quota, admission...), unless it might echo the
    Secret: then only the HTTP reason."""
    try:
        message = str(json.loads(error.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    values = [*(secret.string_data or {}).values(), *(secret.data or {}).values()]
    encoded = [base64.b64encode(v.encode()).decode() for v in values]
    if not message or SECRET_PREFIX in message or any(v and v in message for v in (*values, *encoded)):
        return str(error.reason)
    return f"{error.reason}: {message[:300]}"


def secret_view(secret: client.V1Secret | None, owner_uid: str, template: SecretTemplate) -> SecretView:
    """Describe a Secret for the decision code: ownership, Client ID, the secret's hash,
    and whether its data is laid out as the template says (decisions/secretdata.py)."""
    if secret is None:
        return SecretView(exists=False)
    owned = any(ref.uid == owner_uid and ref.controller for ref in (secret.metadata.owner_references or []))
    data = decoded(secret)
    client_id, client_secret = credentials(template, data)
    return SecretView(
        exists=True,
        owned=owned,
        labels=secret.metadata.labels or {},
        annotations=secret.metadata.annotations or {},
        client_id=client_id,
        secret_hash=secret_hash(client_secret) if client_secret else None,
        data_current=current(template, data),
    )


def decoded(secret: client.V1Secret) -> dict[str, str]:
    """The Secret's data as text (values that are not UTF-8 left out: none of ours)."""
    out = {}
    for key, value in (secret.data or {}).items():
        text = _decode(value)
        if text is not None:
            out[key] = text
    return out


def _decode(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
