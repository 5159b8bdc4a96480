"""spec.rotation.every against the real API server, an hour on: the operator's reconciler
in this process with a clock moved forward (a schedule is at least 1h, and longer than the grace)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from kubernetes import client
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig

from gatepass.operator.clock import utcnow
from gatepass.operator.reconcile import Reconciler
from gatepass.operator.sealkey import SealKey
from gatepass.operator.stores.kube import kube_stores
from gatepass.trust.seal import generate_key
from tests.support.cluster import ClusterInfo
from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens, ts

pytestmark = pytest.mark.asyncio


async def test_a_token_rotates_on_its_schedule(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    operator.stop()  # the reconciler here, with its clock, is the only one (running_operator restarts it)
    tokens = Tokens(api, namespace)
    tokens.create("sched", {"rotation": {"every": "2h"}, "rotationGracePeriod": "1h"})
    key = (namespace, "sched")
    offset = timedelta(0)

    def clock() -> datetime:
        return utcnow() + offset

    await aconfig.load_kube_config(config_file=str(cluster.kubeconfig))
    async with aclient.ApiClient() as aapi:
        seal = SealKey()
        seal.set(generate_key())
        reconcile = Reconciler(kube_stores(aapi), seal, clock=clock)

        wake = await reconcile(key)
        issued, first = tokens.status("sched"), tokens.creds("sched")
        assert wake == ts(issued["createdAt"]) + timedelta(hours=2)  # it wakes itself for it
        offset = timedelta(minutes=119)
        assert await reconcile(key) == wake
        assert tokens.creds("sched") == first  # not yet

        offset = timedelta(hours=2)
        wake = await reconcile(key)
        rotated, second = tokens.status("sched"), tokens.creds("sched")
        assert second.client_id == first.client_id
        assert second.client_secret != first.client_secret
        assert rotated["secretHash"] == second.hash
        assert rotated["previousSecretHash"] == first.hash
        at = ts(rotated["rotatedAt"])
        assert ts(rotated["previousSecretExpiresAt"]) == at + timedelta(hours=1)
        assert rotated["expiresAt"] == issued["expiresAt"]  # expiry is another matter
        assert wake == at + timedelta(hours=1)  # the end of the grace, then the next rotation
        messages = [m for _, reason, m in tokens.events("sched") if reason == "Rotated"]
        assert messages == [
            "rotated the Client Secret (scheduled by spec.rotation.every 2h); the previous secret "
            f"works until {rotated['previousSecretExpiresAt']}"
        ]
