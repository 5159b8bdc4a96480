"""One AccessApplication reconcile (operator/applications.py) on the in-memory stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gatepass.contract import APPS
from gatepass.operator.applications import AppReconciler
from gatepass.operator.ownwrites import OwnWrites
from gatepass.operator.sealkey import SealKey
from gatepass.operator.workqueue import Retry
from gatepass.trust.seal import generate_key
from tests.support.fakestores import FakeStores, fake_stores

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEY = ("team-a", "api")
SPEC: dict[str, Any] = {
    "hosts": ["api.example.com"],
    "upstream": "http://api.team-a:80",
    "policies": [
        {"name": "ci", "decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci-bot"}}]}
    ],
}


def reconciler(stores: FakeStores, writes: OwnWrites | None = None) -> AppReconciler:
    seal = SealKey()
    seal.set(generate_key())
    return AppReconciler(stores, seal, token_exists=lambda _: True, clock=lambda: NOW, writes=writes)


@pytest.mark.asyncio
async def test_an_application_gets_its_audience_once_and_its_write_is_known_as_ours() -> None:
    stores, writes = fake_stores(), OwnWrites()
    stores.apps.create(*KEY, SPEC)
    reconcile = reconciler(stores, writes)
    await reconcile(KEY)
    body = stores.apps.body(*KEY)
    aud = body["status"]["aud"]
    assert len(aud) == 64
    assert writes.own(APPS, *KEY, body["metadata"]["resourceVersion"])
    await reconcile(KEY)
    again = stores.apps.body(*KEY)
    assert again["status"]["aud"] == aud
    assert again["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]  # nothing to write


@pytest.mark.asyncio
async def test_someone_elses_write_meanwhile_is_a_retry() -> None:
    stores = fake_stores()
    stores.apps.create(*KEY, SPEC)
    real_put = stores.apps.put_status

    async def after_theirs(app: Any, status: Any) -> Any:
        stores.apps.cluster.write(
            "AccessApplication", *KEY, None, lambda b: b["spec"].update(hosts=["b.example"])
        )
        return await real_put(app, status)

    stores.apps.put_status = after_theirs  # type: ignore[method-assign]
    with pytest.raises(Retry):
        await reconciler(stores)(KEY)
    assert "status" not in stores.apps.body(*KEY)


@pytest.mark.asyncio
async def test_an_unreadable_or_missing_application_is_left_alone() -> None:
    stores = fake_stores()
    stores.apps.create(*KEY, {"hosts": "not a list"})
    assert await reconciler(stores)(KEY) is None
    assert "status" not in stores.apps.body(*KEY)
    assert await reconciler(stores)(("team-a", "gone")) is None
    assert stores.events.posted == []
