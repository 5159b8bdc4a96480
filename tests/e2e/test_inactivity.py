"""Inactive tokens (spec.inactivity) against the real API server and the real gateway.

Weeks of disuse cannot pass in a test: the operator's reconciler runs here with its clock
moved forward (as in test_scheduled_rotation), with the cluster's own status-seal key, so
what it writes is what the gateway (a separate process, reading the API server) acts on.
The operator process itself is checked with its default rule and the exemption a policy
gives, on the real clock."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import requests
from kubernetes import client
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig

from gatepass.contract import DEFAULT_KEY_SECRET, REACTIVATE_ANNOTATION, SEAL_ENTRY
from gatepass.operator.appevent import app_event
from gatepass.operator.clock import utcnow
from gatepass.operator.gather import Known
from gatepass.operator.policynames import PolicyNames
from gatepass.operator.reconcile import Reconciler
from gatepass.operator.sealkey import SealKey
from gatepass.operator.stores.kube import kube_stores
from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ClusterInfo
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tenants import new_namespace
from tests.support.tokens import Creds, Tokens, stamp, ts
from tests.support.waiting import wait_for

DAY = timedelta(days=1)


class Gateway:
    def __init__(self, gateway: GatewayProcess) -> None:
        self.url = gateway.url
        self.http = requests.Session()

    def answer(self, host: str, creds: Creds) -> tuple[int, str]:
        headers = {
            "Host": host,
            "CF-Access-Client-Id": creds.client_id,
            "CF-Access-Client-Secret": creds.client_secret,
        }
        r = self.http.get(self.url + "/", headers=headers, timeout=10)
        return r.status_code, "" if r.ok else r.json()["error"]

    def wait(self, host: str, creds: Creds, want: tuple[int, str]) -> None:
        wait_for(lambda: self.answer(host, creds) == want, timeout=10, what=f"the gateway answers {want}")


@pytest.fixture
def gw(gateway: GatewayProcess) -> Iterator[Gateway]:
    g = Gateway(gateway)
    yield g
    g.http.close()


def app(apps: Apps, upstream: Upstream, name: str, policies: list[dict[str, Any]]) -> str:
    host = f"{name}.{apps.ns}.test"
    apps.create(name, {"hosts": [host], "upstream": upstream.url + "/app", "policies": policies})
    apps.wait_aud(name)
    return host


@asynccontextmanager
async def reconciler_days_on(
    cluster: ClusterInfo, api: client.ApiClient, days: list[float]
) -> AsyncIterator[Reconciler]:
    """The operator's reconciler, ``days[0]`` days from now (change the list to move on),
    with the cluster's seal key and the exemptions every application gives."""
    secret = client.CoreV1Api(api).read_namespaced_secret(DEFAULT_KEY_SECRET, OPERATOR_NAMESPACE)
    seal = SealKey()
    seal.set(base64.b64decode(secret.data[SEAL_ENTRY]))
    await aconfig.load_kube_config(config_file=str(cluster.kubeconfig))
    async with aclient.ApiClient() as aapi:
        kube = kube_stores(aapi)
        names = PolicyNames()
        async for body in kube.apps.bodies([]):  # as the operator learns them at start
            meta = body["metadata"]
            names.put(
                (meta["namespace"], meta["name"]), app_event((meta["namespace"], meta["name"]), body).spec
            )
        yield Reconciler(
            kube, seal, clock=lambda: utcnow() + days[0] * DAY, known=Known(named_by=names.named_by)
        )


@pytest.mark.asyncio
async def test_an_unused_token_is_refused_at_the_gateway_until_reactivated(
    cluster: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    gw: Gateway,
    upstream: Upstream,
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host = app(apps, upstream, "reports", ANY_TOKEN)  # admits any token: names none
    tokens.create("idle", {"inactivity": {"after": "720h"}})
    tokens.wait_ready("idle")
    creds = tokens.creds("idle")
    gw.wait(host, creds, (200, ""))
    running_operator.stop()  # the reconciler here, with its clock, is the only one

    days = [29.0]
    async with reconciler_days_on(cluster, api, days) as reconcile:
        await reconcile((namespace, "idle"))
        soon = tokens.condition("idle", "InactiveSoon")
        assert soon is not None
        assert (soon["status"], soon["reason"]) == ("True", "InactiveSoon")
        assert "Warning" in {t for t, r, _ in tokens.events("idle") if r == "InactiveSoon"}
        assert gw.answer(host, creds) == (200, "")  # a warning only

        days[0] = 31
        await reconcile((namespace, "idle"))
        st = tokens.status("idle")
        assert st["deactivatedAt"]
        ready = tokens.condition("idle")
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", "Inactive")
        gw.wait(host, creds, (401, "token_inactive"))  # the gateway honours the sealed record
        assert tokens.creds("idle") == creds  # the credentials stay: only refused

        tokens.annotate("idle", REACTIVATE_ANNOTATION, "r1")
        await reconcile((namespace, "idle"))
        st = tokens.status("idle")
        assert "deactivatedAt" not in st
        assert ts(st["reactivatedAt"]) > ts(st["createdAt"]) + 30 * DAY
        gw.wait(host, creds, (200, ""))
        assert tokens.reasons("idle").count("Reactivated") == 1


@pytest.mark.asyncio
async def test_an_unused_token_with_action_delete_is_deleted_with_its_secret(
    cluster: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    gw: Gateway,
    upstream: Upstream,
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host = app(apps, upstream, "reports", ANY_TOKEN)
    tokens.create("gone", {"inactivity": {"after": "720h", "action": "delete"}})
    tokens.wait_ready("gone")
    creds = tokens.creds("gone")
    gw.wait(host, creds, (200, ""))
    running_operator.stop()

    async with reconciler_days_on(cluster, api, [31]) as reconcile:
        assert await reconcile((namespace, "gone")) is None
    assert tokens.get("gone") is None
    (warning,) = [(t, m) for t, r, m in tokens.events("gone") if r == "DeletedInactive"]
    assert warning[0] == "Warning"
    assert "not used since" in warning[1]
    wait_for(lambda: tokens.secret("gone") is None, timeout=10, what="Secret garbage-collected")
    gw.wait(host, creds, (401, "invalid_credentials"))


@pytest.mark.asyncio
async def test_only_a_policy_of_the_tokens_own_namespace_exempts_it(
    cluster: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    gw: Gateway,
    upstream: Upstream,
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    for name in ("named", "elsewhere"):
        tokens.create(name, {"inactivity": {"after": "720h", "action": "delete"}})
        tokens.wait_ready(name)
    host = app(
        apps,
        upstream,
        "reports",
        [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "named"}}]}],
    )
    # Another namespace names "elsewhere" in its policy: that must not keep it alive here.
    other = new_namespace(api, "inact-other")
    try:
        ref = {"serviceToken": {"name": "elsewhere", "namespace": namespace}}
        app(Apps(api, other), upstream, "theirs", [{"decision": "serviceAuth", "include": [ref]}])
        creds = tokens.creds("named")
        gw.wait(host, creds, (200, ""))
        running_operator.stop()

        async with reconciler_days_on(cluster, api, [400]) as reconcile:
            await reconcile((namespace, "named"))
            await reconcile((namespace, "elsewhere"))
        assert tokens.get("elsewhere") is None
        exempt = tokens.condition("named", "InactiveSoon")
        assert exempt is not None
        assert (exempt["reason"], exempt["message"]) == (
            "Exempt",
            f"named by a policy of AccessApplication {namespace}/reports: never deleted",
        )
        assert gw.answer(host, creds) == (200, "")
    finally:
        client.CoreV1Api(api).delete_namespace(other)


def test_the_operator_applies_its_default_and_follows_policies_as_they_change(
    api: client.ApiClient, namespace: str, running_operator: OperatorProcess, upstream: Upstream
) -> None:
    """The operator process: GATEPASS_INACTIVITY_AFTER for tokens without spec.inactivity,
    and an application that starts or stops naming a token changes its exemption at once."""
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    operator = running_operator
    operator.stop()
    operator.proc = None
    operator.start(GATEPASS_INACTIVITY_AFTER="2160h", GATEPASS_INACTIVITY_ACTION="delete")
    try:
        tokens.create("plain")
        tokens.wait_ready("plain")

        def soon() -> tuple[str, str]:
            cond = tokens.condition("plain", "InactiveSoon") or {}
            return cond.get("reason", ""), cond.get("message", "")

        reason, message = wait_for(lambda: (s := soon())[0] and s, timeout=10, what="InactiveSoon")
        created = tokens.status("plain")["createdAt"]
        until = stamp(ts(created) + 90 * DAY)
        assert (reason, message) == ("Active", f"last active {created}; deleted if unused until {until}")
        app(
            apps,
            upstream,
            "names-it",
            [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "plain"}}]}],
        )
        wait_for(lambda: soon()[0] == "Exempt", timeout=10, what="exempt once a policy names it")
        apps.patch("names-it", {"spec": {"policies": ANY_TOKEN}})
        wait_for(lambda: soon()[0] == "Active", timeout=10, what="not exempt once no policy names it")
    finally:
        operator.stop()
        operator.proc = None
        operator.start()
