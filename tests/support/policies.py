"""AccessPolicies in one namespace, through the real API (sync client)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.support.tokens import GROUP, VERSION

PLURAL = "accesspolicies"


def admitting(*tokens: str) -> dict[str, Any]:
    """A serviceAuth policy's spec admitting these ServiceTokens of its namespace."""
    return {"decision": "serviceAuth", "include": [{"serviceToken": {"name": t}} for t in tokens]}


class Policies:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api)

    def create(self, name: str, spec: dict[str, Any]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessPolicy", "metadata": {"name": name}}
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.ns, PLURAL, {**body, "spec": spec}, field_validation="Strict"
        )

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        """A merge patch: lists given replace the ones held, keys not given stay."""
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, {"spec": spec})

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)
