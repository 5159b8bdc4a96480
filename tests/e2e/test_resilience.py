"""The control plane fails: the gateway keeps serving from memory meanwhile, then
reconnects, lists again and follows changes; the operator resumes."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from kubernetes import client, config

from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ROOT, localcluster
from tests.support.gateway import GatewayProcess, deployment_env
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local", reason="breaks a control plane of its own"
)
HOST = "resilient.test"


@dataclass
class Stack:
    cluster: localcluster.LocalCluster
    tokens: Tokens
    gateway: GatewayProcess
    operator: OperatorProcess

    def probe(self, path: str) -> int:
        return requests.get(f"http://127.0.0.1:{self.gateway.admin_port}{path}", timeout=5).status_code

    def status(self, creds: Creds) -> int:
        """502: authenticated, then the (absent) origin; 401: refused."""
        headers = {
            "Host": HOST,
            "CF-Access-Client-Id": creds.client_id,
            "CF-Access-Client-Secret": creds.client_secret,
        }
        return requests.get(self.gateway.url, headers=headers, timeout=5).status_code

    def issue(self, name: str) -> Creds:
        self.tokens.create(name)
        self.tokens.wait_ready(name, timeout=30)
        creds = self.tokens.creds(name)
        wait_for(lambda: self.status(creds) == 502, timeout=30, what=f"the gateway serves {name}")
        return creds


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A control plane of its own, with the operator and the gateway on it."""
    with tempfile.TemporaryDirectory(prefix="gatepass-restart-") as tmp:
        cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=Path(tmp) / "data")
        operator = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log")
        gateway = None
        try:
            cluster.start(preinstall=(ROOT / "crds",))
            api = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
            for ns in ("team", OPERATOR_NAMESPACE):
                client.CoreV1Api(api).create_namespace(
                    client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
                )
            operator.start()
            apps = client.AppsV1Api(api)
            wait_for(lambda: apps.list_namespaced_deployment(OPERATOR_NAMESPACE).items, timeout=10)
            Apps(api, "team").create(
                "app", {"hosts": [HOST], "upstream": "http://127.0.0.1:1", "policies": ANY_TOKEN}
            )
            Apps(api, "team").wait_aud("app")
            env = deployment_env(api, OPERATOR_NAMESPACE, "gatepass-gateway")
            gateway = GatewayProcess(cluster.kubeconfig, env, tmp_path / "gateway.log")
            gateway.start()
            yield Stack(cluster, Tokens(api, "team"), gateway, operator)
        finally:
            if gateway is not None:
                gateway.stop()
            operator.stop()
            cluster.stop()


def test_gateway_and_operator_follow_changes_after_an_apiserver_crash(stack: Stack) -> None:
    keep, drop = stack.issue("keep"), stack.issue("drop")
    t0 = time.monotonic()
    stack.cluster.restart_apiserver(down_for=3)
    print(f"apiserver back after {time.monotonic() - t0:.1f}s")
    assert stack.status(keep) == 502
    stack.tokens.delete("drop")
    t0 = time.monotonic()
    wait_for(lambda: stack.status(drop) == 401, timeout=30, what="the deletion seen after the restart")
    print(f"the gateway saw the deletion {time.monotonic() - t0:.1f}s after it")
    assert stack.status(keep) == 502
    stack.issue("after")  # the operator reconnected as well


def test_gateway_answers_from_memory_while_the_apiserver_hangs(stack: Stack) -> None:
    creds = stack.issue("t")
    pid = stack.cluster.pids[0]
    os.kill(pid, signal.SIGSTOP)  # connections stay open, nothing answers
    try:
        # Each request has a 5 s client timeout: one that waited on the API server would fail.
        assert [stack.status(creds) for _ in range(20)] == [502] * 20
    finally:
        os.kill(pid, signal.SIGCONT)


# Seconds without an API server: longer than kopf's retries of a watch once lasted (68 s,
# after which the watch ended for good and the operator heard of no new token).
OUTAGE = 75.0


@pytest.mark.soak
def test_a_minute_without_the_api_server_costs_no_request_and_loses_no_change(stack: Stack) -> None:
    """Static stability: with the API server gone for a minute the gateway admits the tokens
    it knows, refuses the rest, stays ready and is not restarted; once it is back, both
    processes catch up by themselves (the gateway resumes its watches, meets 410 Gone from
    the restarted API server's empty history and lists again) and nothing is done twice."""
    keep, drop = stack.issue("keep"), stack.issue("drop")
    kept = stack.tokens.status("keep")
    assert stack.gateway.proc is not None
    assert stack.operator.proc is not None
    pids = (stack.gateway.proc.pid, stack.operator.proc.pid)
    stranger = Creds("f" * 32 + ".access", keep.client_secret)
    stack.tokens.delete("drop")  # right before the outage: the gateway may not hear of it
    stack.cluster.kill_apiserver()
    t0 = time.monotonic()
    answers: list[tuple[int, int, int, int]] = []
    while time.monotonic() - t0 < OUTAGE:
        answers.append(
            (stack.status(keep), stack.status(stranger), stack.probe("/readyz"), stack.probe("/healthz"))
        )
        time.sleep(1)
    assert answers
    assert set(answers) == {(502, 401, 200, 200)}, set(answers)
    stack.cluster.start_apiserver()
    back = time.monotonic()
    wait_for(lambda: stack.status(drop) == 401, timeout=30, what="the deletion seen after the outage")
    caught_up = time.monotonic() - back
    stack.tokens.create("after")
    stack.tokens.wait_ready("after", timeout=60)
    fresh = stack.tokens.creds("after")
    wait_for(lambda: stack.status(fresh) == 502, timeout=30, what="a token created after the outage admitted")
    admitted = time.monotonic() - back
    print(
        f"outage {OUTAGE:.0f}s: {len(answers)} probes all answered; after the API server returned, "
        f"deletion seen {caught_up:.1f}s, new token admitted {admitted:.1f}s"
    )
    assert (stack.gateway.proc.pid, stack.operator.proc.pid) == pids
    assert stack.gateway.proc.poll() is None
    assert stack.operator.running
    # Nothing was done twice, nothing was lost: the kept token untouched, the new one issued once.
    assert stack.tokens.status("keep")["clientId"] == kept["clientId"]
    assert stack.tokens.status("keep")["seal"] == kept["seal"]
    assert stack.tokens.reasons("keep") == ["Issued"]
    assert stack.tokens.reasons("after") == ["Issued"]
    assert stack.status(keep) == 502
    log = stack.gateway.logfile.read_text()
    assert "servicetokens: watch history expired; listing again" in log
    assert "Traceback" not in log
    assert " has failed" not in stack.operator.log_text()  # every kopf watch came back
    live = requests.get(f"http://127.0.0.1:{stack.operator.health_port}/healthz", timeout=5)
    assert live.status_code == 200, live.text
