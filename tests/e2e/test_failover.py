"""Two operator replicas (the chart's operator.replicas: 2), as processes against the real API
server: exactly one writes (the holder of the leader Lease), the other is a warm standby that
takes over when the holder stops (at once: the lease is released) or dies (once the lease
expires). A token is never issued twice. The pods' version is in test_pods.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.cluster import ClusterInfo
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tokens import Tokens
from tests.support.waiting import wait_for

LEASE = "failover-operator"  # GATEPASS_PEERING=failover: not the session operator's


@pytest.fixture
def pair(
    cluster: ClusterInfo, operator: OperatorProcess, tmp_path: Path, operator_namespace: str
) -> Iterator[list[OperatorProcess]]:
    operator.stop()  # these two are the only operators
    ops = [OperatorProcess(cluster.kubeconfig, tmp_path / f"operator-{i}.log") for i in range(2)]
    try:
        for op in ops:
            op.start(GATEPASS_STANDALONE="false", GATEPASS_PEERING="failover")
        yield ops
    finally:
        for op in ops:
            op.stop()


def holder(api: client.ApiClient) -> str:
    lease = client.CoordinationV1Api(api).read_namespaced_lease(LEASE, OPERATOR_NAMESPACE)
    return str(lease.spec.holder_identity or "")


def leader(ops: list[OperatorProcess]) -> OperatorProcess | None:
    leading = [op for op in ops if op.running and "leading (lease" in op.log_text()]
    return leading[-1] if len(leading) == 1 else None


def issued_once(tokens: Tokens, name: str) -> None:
    assert tokens.reasons(name) == ["Issued"]
    assert len(tokens.managed_secrets(name)) == 1


def test_one_replica_writes_and_the_other_takes_over(
    api: client.ApiClient, namespace: str, pair: list[OperatorProcess]
) -> None:
    tokens = Tokens(api, namespace)
    first = wait_for(lambda: leader(pair), timeout=30, what="one replica leading")
    standby = next(op for op in pair if op is not first)
    assert holder(api)
    for i in range(5):
        tokens.create(f"t{i}")
    for i in range(5):
        tokens.wait_ready(f"t{i}", timeout=30)
    assert "Issue (new token)" not in standby.log_text()  # the standby wrote nothing

    # A normal stop (a rollout, a drain): the lease is released, the standby leads at once.
    first.stop()
    t0 = time.monotonic()
    tokens.create("after-stop")
    tokens.wait_ready("after-stop", timeout=30)
    took_over = time.monotonic() - t0
    assert "leading (lease" in standby.log_text()

    # A crash (SIGKILL): the lease expires (15 s) before anyone else may write.
    first.start(GATEPASS_STANDALONE="false", GATEPASS_PEERING="failover")  # the new standby
    time.sleep(2)
    standby.kill()
    t0 = time.monotonic()
    tokens.create("after-kill")
    tokens.wait_ready("after-kill", timeout=60)
    after_kill = time.monotonic() - t0
    print(f"failover: token issued {took_over:.1f}s after a normal stop, {after_kill:.1f}s after a kill")
    assert took_over < 10
    assert 10 < after_kill < 40  # not before the killed holder's lease expired, not much after
    for name in ["t0", "t1", "t2", "t3", "t4", "after-stop", "after-kill"]:
        issued_once(tokens, name)
