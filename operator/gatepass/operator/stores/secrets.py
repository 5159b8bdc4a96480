"""Secrets on the API server. Errors never carry a response body: it may echo the
request, secret included."""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.operator.stores.listing import ignore_404, refused_for_namespace
from gatepass.operator.stores.protocols import Conflict
from gatepass.operator.stores.raw import resource_version, sent
from gatepass.trust.credentials import SECRET_PREFIX


class KubeSecrets:
    def __init__(self, *, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def get(self, namespace: str, name: str) -> client.V1Secret | None:
        try:
            return await self.core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            ignore_404(e)
            return None

    async def put(self, secret: client.V1Secret, existing: client.V1Secret | None) -> str:
        meta = secret.metadata
        raw: dict[str, Any] = {"_preload_content": False}  # only its resourceVersion is kept
        try:
            if existing is None:
                answer = await sent(self.core.create_namespaced_secret(meta.namespace, secret, **raw))
            else:
                meta.resource_version = existing.metadata.resource_version
                answer = await sent(
                    self.core.replace_namespaced_secret(meta.name, meta.namespace, secret, **raw)
                )
        except ApiException as e:
            if missing := refused_for_namespace(e, meta.namespace):
                raise missing from None
            if e.status in (404, 409):
                raise Conflict(f"Secret {meta.namespace}/{meta.name} changed: {e.reason}") from None
            raise ApiException(status=e.status, reason=_safe_reason(e, secret)) from None
        return resource_version(answer)

    async def release(self, secret: client.V1Secret, finalizer: str) -> None:
        """It goes at once."""
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
