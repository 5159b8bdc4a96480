"""The operator's bookkeeping of its own status writes (which watch events are its own
echo). The API server's side of a status write is tested in tests/e2e."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from gatepass.contract import TOKENS
from gatepass.models.meta import ObjectMeta
from gatepass.operator.kube import OWN_WRITES_KEPT, Kube


class StatusWrites:
    """Stands in for the status subresource's answer: the next resourceVersion."""

    def __init__(self) -> None:
        self.version = 100

    async def replace_namespaced_custom_object_status(self, *_: Any) -> dict[str, Any]:
        self.version += 1
        return {"metadata": {"resourceVersion": str(self.version)}}


@pytest.mark.asyncio
async def test_the_echo_of_an_earlier_write_is_ours_too() -> None:
    """An issuance writes status twice; the first write's event arrives after the second."""
    kube = Kube(client.ApiClient())
    kube.custom = StatusWrites()  # type: ignore[assignment]
    meta = ObjectMeta(namespace="ns", name="t", uid="u", resource_version="100")
    versions = [
        await kube._put_status(TOKENS, "gatepass.dev/v1alpha1", "ServiceToken", meta, {}) for _ in range(4)
    ]
    assert kube.wrote(TOKENS, "ns", "t")
    assert [kube.own_write(TOKENS, "ns", "t", v) for v in versions] == [False] + [True] * OWN_WRITES_KEPT
    assert not kube.own_write(TOKENS, "ns", "t", "999")  # someone else's
    assert not kube.own_write(TOKENS, "ns", "other", versions[-1])
    kube.forget(TOKENS, "ns", "t")
    assert not kube.wrote(TOKENS, "ns", "t")
    await kube.close()
