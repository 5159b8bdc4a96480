"""Listings from the attacker's seat: a tenant fills its own namespace with large objects
(200 KiB of annotations each; the API server takes 256 KiB), and neither a starting
gateway nor the operator's rollout grows with them. Each listing reads one object at a
time (gatepass/liststream.py) and keeps a few fields of it, so peak memory follows the
count of objects, not their size. Read whole, 300 of them cost either process ~175 MiB
more (both are limited to 256 MiB by the chart): every gateway replica OOM-killed at
start, the operator at every due rollout."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.support.cluster import ClusterInfo
from tests.support.gateway import GatewayProcess
from tests.support.operator import OperatorProcess
from tests.support.tenants import STAR_ON_GATEPASS, new_namespace, tenant_api
from tests.support.tokens import Tokens
from tests.support.waiting import wait_for, wait_http_ok

# A tenant as clusters grant one: edit on the core and apps APIs of its namespace, `*` on ours.
CORE_EDIT = [
    *STAR_ON_GATEPASS,
    client.V1PolicyRule(api_groups=[""], resources=["serviceaccounts", "pods"], verbs=["*"]),
    client.V1PolicyRule(api_groups=["apps"], resources=["deployments"], verbs=["*"]),
]
COUNT = 300  # objects (~10 s to create here)
BLOB = 200 * 1024  # bytes of annotations on each
# Peak RSS a listing of COUNT x BLOB may add (MiB). Measured on a 2-core machine: +6 with
# the listing streamed, +175 (gateway) and +181 (operator) with each page read whole.
MARGIN = 40
# ...and a starting operator (its listings and kopf's, and a reconcile of each token).
# Measured: +259 with every listing read whole; +243 with its own streamed, kopf's unpaged;
# +175 with kopf's paged (operator/app.py KOPF_PAGE), its own read whole; +97 with both
# (+76 with kopf's pages of 10). The rest is not a listing (not the bodies kept for each
# token's first reconcile either: +0 without them); not found.
OPERATOR_MARGIN = 150


def peak_mib(pid: int) -> float:
    """VmHWM: the most resident memory the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def blob(i: int) -> dict[str, str]:
    return {"x.example/blob": f"{i:06d}" + "a" * BLOB}


def create_all(create: Callable[[int], object]) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(COUNT)))
    print(f"{COUNT} objects of {BLOB // 1024} KiB created in {time.monotonic() - started:.1f} s")


# A scale run (hundreds of 200 KiB objects, peak RSS): make soak.
pytestmark = pytest.mark.soak


@pytest.fixture
def intruder(api: client.ApiClient, cluster: ClusterInfo) -> Iterator[tuple[str, client.ApiClient]]:
    ns = new_namespace(api, "intruder")
    with tenant_api(cluster, api, ns, CORE_EDIT) as tenant:
        yield ns, tenant
    client.CoreV1Api(api).delete_namespace(ns)


def started_gateway_peak(cluster: ClusterInfo, gateway: GatewayProcess, log: Path) -> float:
    """Start a gateway (the session gateway's environment: workload identity on, every
    namespace), wait until it is ready, and return its peak RSS in MiB."""
    gw = GatewayProcess(cluster.kubeconfig, gateway.env, log)
    gw.start(timeout=60)
    try:
        assert gw.proc is not None
        return peak_mib(gw.proc.pid)
    finally:
        gw.stop()


def test_a_tenants_annotated_service_accounts_do_not_grow_a_starting_gateway(
    cluster: ClusterInfo, intruder: tuple[str, client.ApiClient], gateway: GatewayProcess, tmp_path: Path
) -> None:
    ns, tenant = intruder
    clean = started_gateway_peak(cluster, gateway, tmp_path / "clean.log")
    core = client.CoreV1Api(tenant)
    create_all(
        lambda i: core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=f"big-{i}", annotations=blob(i)))
        )
    )
    hostile = started_gateway_peak(cluster, gateway, tmp_path / "hostile.log")
    print(f"a starting gateway's peak RSS: {clean:.1f} MiB, {hostile:.1f} MiB with the tenant's accounts")
    assert hostile - clean < MARGIN


def deployment(i: int, env_from: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "never-pulled.invalid/none"}
    if env_from:
        container["envFrom"] = [{"secretRef": {"name": env_from}}]
    labels = {"app": f"big-{i}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"big-{i}", "annotations": blob(i)},
        "spec": {
            "replicas": 0,  # no pods: the objects are what costs
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def test_a_tenants_large_deployments_do_not_grow_the_operators_rollout(
    intruder: tuple[str, client.ApiClient], running_operator: OperatorProcess
) -> None:
    ns, tenant = intruder
    apps = client.AppsV1Api(tenant)
    # One of them reads the token's Secret from its environment: the rollout restarts it.
    create_all(lambda i: apps.create_namespaced_deployment(ns, deployment(i, "ci-bot" if i == 0 else None)))  # type: ignore[arg-type]
    tokens = Tokens(tenant, ns)
    tokens.create("ci-bot", {"rollout": "Auto"})
    tokens.wait_ready("ci-bot", timeout=30)
    # A fresh operator: its peak so far is its start, nothing of a rollout.
    running_operator.stop()
    running_operator.start()
    op = running_operator.proc
    assert op is not None
    wait_http_ok(
        f"http://127.0.0.1:{running_operator.health_port}/readyz", op, "operator", running_operator.logfile
    )
    before = peak_mib(op.pid)
    tokens.annotate("ci-bot", "gatepass.dev/rotate", "now")
    rotation = wait_for(lambda: tokens.status("ci-bot").get("rolledOutFor"), timeout=60, what="the rollout")
    after = peak_mib(op.pid)
    print(f"the operator's peak RSS: {before:.1f} MiB started, {after:.1f} MiB after the rollout")
    template = apps.read_namespaced_deployment("big-0", ns).spec.template.metadata.annotations
    assert template["gatepass.dev/rotation"] == rotation  # the rollout did its work
    assert apps.read_namespaced_deployment("big-1", ns).spec.template.metadata.annotations is None
    assert after - before < MARGIN


def ready_tokens(op: OperatorProcess, ns: str) -> int:
    """How many of the namespace's tokens this operator process has reconciled (its metrics,
    served once its listings at start are done)."""
    try:
        lines = op.metrics().splitlines()
    except OSError:
        return -1  # not serving yet
    return sum(
        line.startswith("gatepass_service_token_ready{") and f'namespace="{ns}"' in line for line in lines
    )


def started_operator_peak(op: OperatorProcess, ns: str, count: int) -> float:
    """Restart the operator, wait until it has read every token (its own listing at start,
    kopf's, and a reconcile of each), and return its peak RSS in MiB."""
    op.stop()
    op.start()
    assert op.proc is not None
    wait_http_ok(f"http://127.0.0.1:{op.health_port}/readyz", op.proc, "operator", op.logfile)
    wait_for(lambda: ready_tokens(op, ns) >= count, timeout=120, what=f"{count} tokens reconciled")
    return peak_mib(op.proc.pid)


def test_a_tenants_annotated_service_tokens_do_not_grow_a_starting_operator(
    intruder: tuple[str, client.ApiClient], running_operator: OperatorProcess
) -> None:
    ns, tenant = intruder
    clean = started_operator_peak(running_operator, ns, 0)
    tokens = Tokens(tenant, ns)
    create_all(lambda i: tokens.create(f"big-{i}", {}, **blob(i)))
    wait_for(lambda: ready_tokens(running_operator, ns) >= COUNT, timeout=300, what="every token issued")
    hostile = started_operator_peak(running_operator, ns, COUNT)
    print(f"a starting operator's peak RSS: {clean:.1f} MiB, {hostile:.1f} MiB with the tenant's tokens")
    assert hostile - clean < OPERATOR_MARGIN
