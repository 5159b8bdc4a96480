"""One object the API server will not serve must not wedge the operator: it is told
in status and once in an Event, retried with backoff (not a hot loop), and every
other object keeps being served meanwhile."""

from __future__ import annotations

from kubernetes import client, watch

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
    # And the refused one recovers by itself once the cause is gone (its backoff is short yet).
    tokens.wait_ready("blocked", timeout=40)
    tokens.wait_reasons("blocked", "Issued")
