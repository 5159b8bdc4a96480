"""AccessApplications in one namespace, through the real API (sync client)."""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client

from tests.support.tokens import GROUP, VERSION
from tests.support.waiting import wait_for

PLURAL = "accessapplications"
ANY_TOKEN = [{"name": "any", "decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}]


class Apps:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api)

    def create(self, name: str, spec: dict[str, Any], **annotations: str) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AccessApplication",
            "metadata": {"name": name, "annotations": annotations},
            "spec": spec,
        }
        return cast(
            dict[str, Any],
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.ns, PLURAL, body, field_validation="Strict"
            ),
        )

    def status(self, name: str) -> dict[str, Any]:
        obj = cast(
            dict[str, Any], self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)
        )
        return cast(dict[str, Any], obj.get("status") or {})

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, patch)

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    def patch_status(self, name: str, status: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.ns, PLURAL, name, {"status": status}
        )

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        conditions: list[dict[str, Any]] = self.status(name).get("conditions", [])
        return next((c for c in conditions if c["type"] == type_), None)

    def wait_aud(self, name: str) -> str:
        return str(wait_for(lambda: self.status(name).get("aud"), timeout=10, what=f"aud of {name}"))
