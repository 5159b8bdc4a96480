"""What a new token costs the API server, on a real one: the reconciler in-process with the
operator's own counting client, the session operator stopped (running_operator restarts it).

A new token is read from the watch event that queued it (no GET), has no Secret to read
(never issued), and costs two status writes (the pending one is crash safety), its Secret
and one Event. Each shortcut must stay safe: a stale event body meets a conflict before
anything is written; a Secret of that name that is someone else's is found and left alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from kubernetes import client
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig
from prometheus_client import REGISTRY

from gatepass.contract import TOKENS
from gatepass.operator.gather import Known, Parsed, parsed
from gatepass.operator.ownwrites import SECRETS
from gatepass.operator.ratelimit import LimitedApiClient
from gatepass.operator.reconcile import Reconciler
from gatepass.operator.sealkey import SealKey
from gatepass.operator.stores.kube import kube_stores
from gatepass.operator.workqueue import Retry
from gatepass.trust.credentials import secret_hash
from gatepass.trust.seal import generate_key
from tests.support.cluster import ClusterInfo
from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens

METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE")


def counted() -> dict[str, float]:
    return {
        m: REGISTRY.get_sample_value("gatepass_operator_api_requests_total", {"method": m}) or 0.0
        for m in METHODS
    }


def _taken(bodies: dict[Any, Any], key: Any) -> Parsed | None:
    body = bodies.pop(key, None)
    return None if body is None else parsed(body)


@asynccontextmanager
async def reconciler(cluster: ClusterInfo, bodies: dict[Any, Any]) -> AsyncIterator[Reconciler]:
    cfg = aclient.Configuration()
    await aconfig.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    async with LimitedApiClient(None, configuration=cfg) as api:
        seal = SealKey()
        seal.set(generate_key())
        # The watch event's body, parsed where it arrives (operator/app.py), taken once.
        yield Reconciler(kube_stores(api), seal, known=Known(fresh=lambda key: _taken(bodies, key)))


@pytest.mark.asyncio
async def test_a_new_token_costs_two_status_writes_its_secret_and_an_event(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    operator.stop()
    tokens = Tokens(api, namespace)
    key = (namespace, "counted")
    bodies = {key: tokens.create("counted")}
    async with reconciler(cluster, bodies) as reconcile:
        before = counted()
        await reconcile(key)
        after = counted()
    spent = {m: after[m] - before[m] for m in METHODS if after[m] != before[m]}
    assert spent == {"PUT": 2, "POST": 2}  # pending + final status; the Secret, the Event
    # The answers were read raw: the versions kept are those the watch events carry, so
    # the echo of each write starts no second run (operator/app.py).
    secret, written = tokens.secret("counted"), tokens.get("counted")
    assert secret is not None
    assert written is not None
    assert reconcile.writes.own(SECRETS, namespace, "counted", secret.metadata.resource_version)
    assert reconcile.writes.own(TOKENS, namespace, "counted", written["metadata"]["resourceVersion"])
    ready = tokens.condition("counted")
    assert ready is not None
    assert ready["status"] == "True"
    creds = tokens.creds("counted")
    assert tokens.status("counted")["secretHash"] == secret_hash(creds.client_secret)
    assert tokens.reasons("counted") == ["Issued"]


@pytest.mark.asyncio
async def test_a_stale_event_body_meets_a_conflict_before_anything_is_written(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    operator.stop()
    tokens = Tokens(api, namespace)
    key = (namespace, "edited")
    bodies = {key: tokens.create("edited", {"duration": "24h"})}
    tokens.patch("edited", {"spec": {"duration": "48h"}})  # after the event the body came with
    async with reconciler(cluster, bodies) as reconcile:
        with pytest.raises(Retry):
            await reconcile(key)
        assert tokens.secret("edited") is None
        assert "secretHash" not in tokens.status("edited")
        await reconcile(key)  # the retry reads the token: the edited one
    status = tokens.status("edited")
    assert status["observedDuration"] == "48h"
    assert status["secretHash"] == secret_hash(tokens.creds("edited").client_secret)


@pytest.mark.asyncio
async def test_someone_elses_secret_of_that_name_is_found_and_left_alone(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    operator.stop()
    core = client.CoreV1Api(api)
    theirs = client.V1Secret(metadata=client.V1ObjectMeta(name="taken"), string_data={"password": "theirs"})
    core.create_namespaced_secret(namespace, theirs)
    tokens = Tokens(api, namespace)
    key = (namespace, "taken")
    bodies = {key: tokens.create("taken")}
    async with reconciler(cluster, bodies) as reconcile:
        with pytest.raises(Retry):  # never issued, so not read first: creating it fails
            await reconcile(key)
        await reconcile(key)  # read now, and not ours
    ready = tokens.condition("taken")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "SecretConflict")
    assert "secretHash" not in tokens.status("taken")
    assert tokens.data("taken") == {"password": "theirs"}
