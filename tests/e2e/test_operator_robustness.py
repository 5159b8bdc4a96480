"""One object the API server will not serve must not wedge the operator: it is told
in status and once in an Event, retried with backoff (not a hot loop), and every
other object keeps being served meanwhile."""

from __future__ import annotations

import itertools
import re
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

from kubernetes import client, watch

from tests.support.cluster import ClusterInfo
from tests.support.operator import OperatorProcess
from tests.support.tenants import new_namespace
from tests.support.tokens import Tokens
from tests.support.waiting import wait_for


def count_status_writes(api: client.ApiClient, namespace: str, name: str, seconds: int) -> int:
    """How many times the token changes during the next ``seconds`` (a watch the API
    server ends after that long; no polling)."""
    custom = client.CustomObjectsApi(api)
    w = watch.Watch()  # type: ignore[no-untyped-call]
    events = w.stream(  # type: ignore[no-untyped-call]
        custom.list_namespaced_custom_object,
        "gatepass.dev",
        "v1alpha1",
        namespace,
        "servicetokens",
        field_selector=f"metadata.name={name}",
        timeout_seconds=seconds,
    )
    return sum(1 for event in events if event["type"] == "MODIFIED")


def test_a_secret_the_api_server_refuses_is_reported_and_backed_off(
    api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    tokens = Tokens(api, namespace)
    core = client.CoreV1Api(api)
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="no-secrets"),
        spec=client.V1ResourceQuotaSpec(hard={"count/secrets": "0"}),
    )
    core.create_namespaced_resource_quota(namespace, quota)
    wait_for(
        lambda: core.read_namespaced_resource_quota("no-secrets", namespace).status.hard or {},
        timeout=15,
        what="the quota in force",
    )
    tokens.create("blocked")
    cond = tokens.wait_reason("blocked", "SecretRefused", timeout=15)
    assert cond["status"] == "False"
    assert "exceeded quota" in cond["message"]  # the API server's reason, not just "Forbidden"
    # Backoff, not a loop: a handful of attempts in 8 s (a loop makes hundreds).
    writes = count_status_writes(api, namespace, "blocked", 8)
    assert writes <= 8, f"{writes} status writes in 8 s"
    assert tokens.reasons("blocked").count("SecretRefused") == 1  # told once, not per attempt
    # Everyone else is served meanwhile.
    elsewhere = new_namespace(api, "unaffected")
    try:
        other = Tokens(api, elsewhere)
        other.create("fine")
        other.wait_ready("fine", timeout=15)
    finally:
        core.delete_namespace(elsewhere)
    core.delete_namespaced_resource_quota("no-secrets", namespace)
    # And the refused one recovers by itself once the cause is gone, at its next retry: the
    # backoff doubles per failed attempt (1, 2, 4, 8, 16, 32 s), so within about 70 s.
    tokens.wait_ready("blocked", timeout=70)
    tokens.wait_reasons("blocked", "Issued")
    # Each retry waited out its backoff: the echo of the refusal's own status write (which
    # may arrive before that write returns) never started one early.
    attempts = retries_logged(running_operator.log_text(), f"{namespace}/blocked")
    assert len(attempts) >= 3, attempts
    for (at, delay), (next_at, _) in itertools.pairwise(attempts):
        assert next_at - at >= 0.9 * delay, attempts


def test_an_operator_without_its_namespace_says_so_once_backs_off_and_starts_when_it_appears(
    api: client.ApiClient,
    cluster: ClusterInfo,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    """Started outside Helm against a cluster where its namespace does not exist: one ERROR
    line naming it, a failing /readyz (live all along: a restart would not help), writes backed
    off (not hundreds a second); and once the namespace is created, keys and tokens follow by
    themselves."""
    operator.stop()  # this test's operator is the only one
    core = client.CoreV1Api(api)
    missing = f"gatepass-missing-{uuid.uuid4().hex[:6]}"
    op = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log")
    op.start(wait=False, GATEPASS_NAMESPACE=missing, GATEPASS_NAMESPACES=namespace)
    try:
        probes = f"http://127.0.0.1:{op.health_port}"
        wait_for(lambda: http_status(probes + "/readyz") == 503, timeout=30, what="a failing /readyz")
        assert http_status(probes + "/healthz") == 200
        tokens = Tokens(api, namespace)
        tokens.create("early")
        time.sleep(8)
        log = op.log_text()
        errors = [line for line in log.splitlines() if "ERROR" in line]
        assert len(errors) == 1, errors
        assert missing in errors[0]
        assert "Traceback" not in log
        writes = sum(
            float(line.rsplit(" ", 1)[1])
            for line in op.metrics().splitlines()
            if line.startswith("gatepass_operator_api_requests_total{") and 'method="POST"' in line
        )
        assert writes <= 12, f"{writes} creates refused in ~10 s: not backing off"
        assert tokens.secret("early") is None
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=missing)))
        try:
            tokens.wait_ready("early", timeout=60)  # the infra backoff is capped at 30 s
            assert core.read_namespaced_secret("gatepass-signing-keys", missing).data
            wait_for(lambda: http_status(probes + "/readyz") == 200, timeout=30, what="/readyz back to 200")
            assert f"namespace {missing} exists now" in op.log_text()
        finally:
            op.stop()
            core.delete_namespace(missing)
    finally:
        op.stop()


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def retries_logged(log: str, key: str) -> list[tuple[float, float]]:
    """(when, the backoff it announced) of each failed reconcile of key in the operator's log."""
    line = re.compile(
        r"^(\S+ \S+) ERROR .*reconcile of "
        + re.escape(key)
        + r" failed \(attempt \d+\); retrying in ([\d.]+)s",
        re.M,
    )
    return [
        (datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f").timestamp(), float(delay))
        for when, delay in line.findall(log)
    ]
