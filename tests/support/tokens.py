"""ServiceTokens in one namespace, through the real API (sync client)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.waiting import wait_for

GROUP, VERSION, PLURAL = "gatepass.dev", "v1alpha1", "servicetokens"


@dataclass(frozen=True)
class Creds:
    client_id: str
    client_secret: str

    @property
    def hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.client_secret.encode()).hexdigest()


class Tokens:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def create(self, name: str, spec: dict[str, Any] | None = None, **annotations: str) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ServiceToken",
            "metadata": {"name": name, "annotations": annotations},
            "spec": spec or {},
        }
        return cast(
            dict[str, Any],
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.ns, PLURAL, body, field_validation="Strict"
            ),
        )

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return cast(
                dict[str, Any],
                self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name),
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def status(self, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], (self.get(name) or {}).get("status") or {})

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, patch)

    def patch_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge into status, as anyone with `*` on the API group may."""
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.ns, PLURAL, name, {"status": status}
        )

    def annotate(self, name: str, key: str, value: str) -> None:
        self.patch(name, {"metadata": {"annotations": {key: value}}})

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    def condition(self, name: str, type_: str = "Ready") -> dict[str, Any] | None:
        conditions: list[dict[str, Any]] = self.status(name).get("conditions", [])
        return next((c for c in conditions if c["type"] == type_), None)

    def wait_ready(self, name: str, timeout: float = 10) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            st = self.status(name)
            cond = self.condition(name)
            return st if cond and cond["status"] == "True" and st.get("secretHash") else None

        return wait_for(ready, timeout=timeout, what=f"ServiceToken {name} Ready")

    def wait_reason(self, name: str, reason: str, timeout: float = 10) -> dict[str, Any]:
        def has() -> dict[str, Any] | None:
            cond = self.condition(name)
            return cond if cond and cond["reason"] == reason else None

        return wait_for(has, timeout=timeout, what=f"ServiceToken {name} Ready reason {reason}")

    def secret(self, name: str) -> client.V1Secret | None:
        try:
            return self.core.read_namespaced_secret(name, self.ns)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def creds(self, secret_name: str) -> Creds:
        secret = self.secret(secret_name)
        assert secret is not None, f"Secret {secret_name} missing"
        data = secret.data
        return Creds(
            client_id=base64.b64decode(data["CF_ACCESS_CLIENT_ID"]).decode(),
            client_secret=base64.b64decode(data["CF_ACCESS_CLIENT_SECRET"]).decode(),
        )

    def data(self, secret_name: str) -> dict[str, str]:
        """The Secret's data, decoded, as a pod that mounts it reads its files."""
        secret = self.secret(secret_name)
        assert secret is not None, f"Secret {secret_name} missing"
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def managed_secrets(self, token: str) -> list[client.V1Secret]:
        return list(
            self.core.list_namespaced_secret(
                self.ns, label_selector=f"gatepass.dev/service-token={token}"
            ).items
        )

    def events(self, name: str) -> list[tuple[str, str, str]]:
        evs = self.core.list_namespaced_event(self.ns, field_selector=f"involvedObject.name={name}").items
        return [(e.type, e.reason, e.message) for e in evs if e.involved_object.kind == "ServiceToken"]

    def reasons(self, name: str) -> list[str]:
        return [r for _, r, _ in self.events(name)]

    def wait_reasons(self, name: str, *wanted: str, timeout: float = 10) -> list[str]:
        """The token's Event reasons once all of `wanted` are among them (Events follow the status write)."""

        def seen() -> list[str] | None:
            reasons = self.reasons(name)
            return reasons if set(wanted) <= set(reasons) else None

        return wait_for(seen, timeout=timeout, what=f"Events {wanted} for ServiceToken {name}")


def altered(secret: str) -> str:
    """The secret with its last character changed (never to itself: 1 in 62 would be)."""
    return secret[:-1] + ("y" if secret.endswith("x") else "x")


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def stamp(value: datetime) -> str:
    """An RFC 3339 time as the annotations take it (whole seconds, UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
