"""ServiceTokens and AccessApplications on the API server.

Status is written with PUT on the status subresource, carrying the resourceVersion that
was read: a concurrent writer makes it fail with 409 instead of being overwritten, and
the reconcile starts again from fresh data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import APPS, GROUP, POLICIES, TOKENS, VERSION, ObjectKey
from gatepass.models.accessapplication import AccessApplication, AccessApplicationStatus
from gatepass.models.accesspolicy import AccessPolicy
from gatepass.models.meta import ObjectMeta
from gatepass.models.servicetoken import ServiceToken, ServiceTokenStatus, parse_token
from gatepass.operator.stores.listing import ignore_404, pages
from gatepass.operator.stores.protocols import Body, Conflict
from gatepass.operator.stores.raw import resource_version, sent


class _Custom:
    """One of our kinds: GET, streamed listing, status write."""

    def __init__(self, *, api: client.ApiClient, plural: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.plural = plural

    async def _get(self, namespace: str, name: str) -> Body | None:
        try:
            body: Body = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, self.plural, name
            )
            return body
        except ApiException as e:
            ignore_404(e)
            return None

    async def _objects(self, namespaces: list[str]) -> AsyncIterator[Body]:
        """Every object, one at a time as its bytes arrive: one listing per namespace (or
        one of the cluster), not one GET each."""
        scopes: list[str | None] = [*namespaces] or [None]
        for ns in scopes:
            list_fn: Callable[..., Awaitable[Any]] = self.custom.list_cluster_custom_object
            args: tuple[str, ...] = (GROUP, VERSION, self.plural)
            if ns is not None:
                list_fn, args = self.custom.list_namespaced_custom_object, (GROUP, VERSION, ns, self.plural)
            async for obj in pages(list_fn, *args):
                yield obj

    async def _put_status(self, api_version: str, kind: str, meta: ObjectMeta, status: Body) -> ObjectMeta:
        """Replace status, guarded by the resourceVersion that was read (the API server
        takes only status from a status write: the rest of the object is not sent); the
        metadata at the version written."""
        body = {"apiVersion": api_version, "kind": kind, "metadata": meta.reference(), "status": status}
        try:
            answer = await sent(
                self.custom.replace_namespaced_custom_object_status(
                    GROUP, VERSION, meta.namespace, self.plural, meta.name, body, _preload_content=False
                )
            )
        except ApiException as e:
            if e.status in (404, 409):
                raise Conflict(f"{self.plural} {meta.namespace}/{meta.name} changed: {e.reason}") from None
            raise
        return meta.model_copy(update={"resource_version": resource_version(answer)})


class KubeTokens(_Custom):
    def __init__(self, *, api: client.ApiClient) -> None:
        super().__init__(api=api, plural=TOKENS)

    async def get(self, namespace: str, name: str) -> ServiceToken | None:
        body = await self._get(namespace, name)
        return None if body is None else parse_token(body)

    async def keys(self, namespaces: list[str]) -> set[ObjectKey]:
        return {(o["metadata"]["namespace"], o["metadata"]["name"]) async for o in self._objects(namespaces)}

    async def put_status(self, token: ServiceToken, status: ServiceTokenStatus) -> ServiceToken:
        meta = await self._put_status(token.api_version, token.kind, token.metadata, status.wire())
        return token.model_copy(update={"metadata": meta, "status": status})

    async def delete(self, token: ServiceToken) -> bool:
        """Its Secret goes by garbage collection (ownerReference)."""
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
            ignore_404(e)
            return False
        return True


class KubeApps(_Custom):
    def __init__(self, *, api: client.ApiClient) -> None:
        super().__init__(api=api, plural=APPS)

    async def get(self, namespace: str, name: str) -> AccessApplication | None:
        body = await self._get(namespace, name)
        return None if body is None else AccessApplication.model_validate(body)

    def bodies(self, namespaces: list[str]) -> AsyncIterator[Body]:
        return self._objects(namespaces)

    async def put_status(self, app: AccessApplication, status: AccessApplicationStatus) -> AccessApplication:
        meta = await self._put_status(app.api_version, app.kind, app.metadata, status.wire())
        return app.model_copy(update={"metadata": meta, "status": status})


class KubePolicies(_Custom):
    """AccessPolicies: read where an application names them (the operator writes none)."""

    def __init__(self, *, api: client.ApiClient) -> None:
        super().__init__(api=api, plural=POLICIES)

    async def get(self, namespace: str, name: str) -> AccessPolicy | None:
        body = await self._get(namespace, name)
        return None if body is None else AccessPolicy.model_validate(body)

    def bodies(self, namespaces: list[str]) -> AsyncIterator[Body]:
        return self._objects(namespaces)
