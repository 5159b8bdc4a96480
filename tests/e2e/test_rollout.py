"""spec.rollout Auto through the real operator and API server: after a rotation, the
namespace's workloads that read the Secret from their environment get a new pod
template (a rollout), once per rotation; volume consumers, other Secrets' consumers
and other namespaces are left alone. Then the rotation is followed: the grace ends
early once the restarted workloads have rolled out (the real deployment controller
judges) and the previous secret, used through the real gateway, has gone quiet.
(Pods do not run here: test_pods runs a node.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client
from kubernetes_asyncio import client as aclient

from gatepass.operator.gather import Known
from gatepass.operator.reconcile import Reconciler
from gatepass.operator.sealkey import SealKey
from gatepass.operator.stores.kube import kube_stores
from gatepass.trust.seal import generate_key
from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ClusterInfo
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OPERATOR_NAMESPACE, SETTLE_PERIOD, OperatorProcess
from tests.support.reports import shard_of
from tests.support.tenants import tenant_api
from tests.support.tokens import Tokens, ts
from tests.support.waiting import wait_for

RESTARTED = "gatepass.dev/rotation"


def deployment(name: str, pod: dict[str, Any], replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "c", "image": "never-pulled.invalid/none", **pod.pop("container", {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container], **pod}},
        },
    }


@pytest.fixture
def other_namespace(api: client.ApiClient, namespace: str) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"{namespace[:50]}-other"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def test_a_rotation_rolls_out_exactly_the_environment_consumers_of_its_own_namespace(
    api: client.ApiClient, namespace: str, other_namespace: str, running_operator: OperatorProcess
) -> None:
    apps = client.AppsV1Api(api)
    env_from = {"container": {"envFrom": [{"secretRef": {"name": "ci-bot"}}]}}
    workloads: dict[str, dict[str, Any]] = {
        "env-consumer": env_from,
        "key-consumer": {
            "container": {
                "env": [
                    {
                        "name": "ID",
                        "valueFrom": {"secretKeyRef": {"name": "ci-bot", "key": "CF_ACCESS_CLIENT_ID"}},
                    }
                ]
            }
        },
        "file-consumer": {"volumes": [{"name": "s", "secret": {"secretName": "ci-bot"}}]},
        "bystander": {"container": {"envFrom": [{"secretRef": {"name": "something-else"}}]}},
    }
    for name, pod in workloads.items():
        apps.create_namespaced_deployment(namespace, deployment(name, dict(pod)))  # type: ignore[arg-type]
    apps.create_namespaced_deployment(other_namespace, deployment("env-consumer", dict(env_from)))  # type: ignore[arg-type]

    def restarted(ns: str = namespace) -> dict[str, str | None]:
        found = {}
        for d in apps.list_namespaced_deployment(ns).items:
            found[d.metadata.name] = (d.spec.template.metadata.annotations or {}).get(RESTARTED)
        return found

    tokens = Tokens(api, namespace)
    tokens.create("ci-bot", {"rollout": "Auto"})
    tokens.wait_ready("ci-bot")
    assert set(restarted().values()) == {None}  # issuing is not rotating: nothing restarted
    assert tokens.status("ci-bot").get("rolledOutFor") is None

    generation = apps.read_namespaced_deployment("env-consumer", namespace).metadata.generation
    tokens.annotate("ci-bot", "gatepass.dev/rotate", "first")
    wait_for(lambda: tokens.status("ci-bot").get("rolledOutFor"), timeout=15, what="the rollout recorded")
    status = tokens.status("ci-bot")
    assert status["rolledOutFor"].startswith(status["rotatedAt"] + "/")  # the rotation, named
    stamp = status["rolledOutFor"]
    assert restarted() == {
        "env-consumer": stamp,
        "key-consumer": stamp,
        "file-consumer": None,  # sees the new file by itself
        "bystander": None,
    }
    assert restarted(other_namespace) == {"env-consumer": None}  # never another namespace's
    assert apps.read_namespaced_deployment("env-consumer", namespace).metadata.generation == generation + 1
    tokens.wait_reasons("ci-bot", "RolledOut")
    (message,) = [m for _, reason, m in tokens.events("ci-bot") if reason == "RolledOut"]
    assert "Deployment/env-consumer" in message
    assert "Deployment/key-consumer" in message
    assert "Deployment/file-consumer read the Secret as a file" in message
    assert "bystander" not in message

    # Once per rotation: a reconcile for another reason restarts nothing again...
    tokens.patch("ci-bot", {"metadata": {"labels": {"touched": "yes"}}})
    tokens.annotate("ci-bot", "gatepass.dev/refresh", "again")
    wait_for(lambda: tokens.status("ci-bot").get("lastRefreshRequest") == "again", timeout=10, what="refresh")
    assert apps.read_namespaced_deployment("env-consumer", namespace).metadata.generation == generation + 1
    # ...and the next rotation restarts them again.
    tokens.annotate("ci-bot", "gatepass.dev/rotate", "second")
    wait_for(
        # (possibly within the same second as the first: status times are whole seconds)
        lambda: (
            (s := tokens.status("ci-bot")).get("lastRotateRequest") == "second"
            and s.get("rolledOutFor") not in (None, stamp)
        ),
        timeout=15,
        what="the second rollout",
    )
    assert apps.read_namespaced_deployment("env-consumer", namespace).metadata.generation == generation + 2
    assert restarted()["env-consumer"] == tokens.status("ci-bot")["rolledOutFor"]


def rotating(tokens: Tokens, name: str) -> tuple[str, str, str]:
    cond = tokens.condition(name, "Rotating") or {}
    return cond.get("status", ""), cond.get("reason", ""), cond.get("message", "")


def test_the_grace_ends_early_once_consumers_rolled_out_and_the_previous_secret_went_quiet(
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    apps = client.AppsV1Api(api)
    # Scaled to zero, a Deployment rolls out as soon as its controller has seen the new
    # template; with one replica and no node here, its pod never starts: never rolled out.
    for name, secret, replicas in (("api", "ci-bot", 0), ("stuck", "held-up", 1)):
        pod = {"container": {"envFrom": [{"secretRef": {"name": secret}}]}}
        apps.create_namespaced_deployment(namespace, deployment(name, pod, replicas))  # type: ignore[arg-type]
    tokens = Tokens(api, namespace)
    for name in ("ci-bot", "held-up"):
        tokens.create(name, {"rollout": "Auto", "rotationGracePeriod": "1h"})
        tokens.wait_ready(name)
    host = f"reports.{namespace}.test"
    Apps(api, namespace).create(
        "reports", {"hosts": [host], "upstream": upstream.url + "/app", "policies": ANY_TOKEN}
    )
    old = tokens.creds("ci-bot")
    headers = {
        "Host": host,
        "CF-Access-Client-Id": old.client_id,
        "CF-Access-Client-Secret": old.client_secret,
    }
    wait_for(
        lambda: requests.get(gateway.url, headers=headers, timeout=5).status_code == 200,
        timeout=10,
        what="served",
    )
    assert tokens.condition("ci-bot", "Rotating") is None  # never rotated

    for name in ("ci-bot", "held-up"):
        tokens.annotate(name, "gatepass.dev/rotate", "now")
    # The held-up token waits for its consumer, and says which.
    wait_for(
        lambda: "waiting for Deployment/stuck to roll out" in rotating(tokens, "held-up")[2],
        timeout=20,
        what="held-up waits for Deployment/stuck",
    )
    assert rotating(tokens, "held-up")[:2] == ("True", "ConsumersPending")
    # ci-bot's consumer rolled out: settling. The previous secret still works...
    wait_for(lambda: tokens.status("ci-bot").get("consumersRolledOutAt"), timeout=20, what="rolled out")
    assert rotating(tokens, "ci-bot")[:2] == ("True", "Settling")
    assert requests.get(gateway.url, headers=headers, timeout=5).status_code == 200
    # ...and that use is reported and recorded as a use of the previous secret.
    status = wait_for(
        lambda: (s := tokens.status("ci-bot")).get("previousSecretLastSeenAt") and s,
        timeout=10,
        what="the previous secret's use recorded",
    )
    assert status["previousSecretLastSeenClient"] == "127.0.0.1"
    assert status["previousSecretLastSeenApplication"] == f"{namespace}/reports"
    assert "last used" in rotating(tokens, "ci-bot")[2]
    # The grace ends once it has gone unused for the settle period, an hour early.
    wait_for(lambda: "previousSecretHash" not in tokens.status("ci-bot"), timeout=30, what="the grace ended")
    status = tokens.status("ci-bot")
    done = tokens.condition("ci-bot", "Rotating")
    assert done is not None
    assert (done["status"], done["reason"]) == ("False", "Complete")
    quiet = ts(done["lastTransitionTime"]) - ts(status["previousSecretLastSeenAt"])
    assert quiet.total_seconds() >= SETTLE_PERIOD - 1  # status times are whole seconds
    tokens.wait_reasons("ci-bot", "ConsumersRolledOut", "GraceEnded")
    (ended,) = [m for _, reason, m in tokens.events("ci-bot") if reason == "GraceEnded"]
    assert "every consumer rolled out" in ended
    assert f"settle period {SETTLE_PERIOD}s" in ended
    wait_for(
        lambda: requests.get(gateway.url, headers=headers, timeout=5).status_code == 401,
        timeout=10,
        what="the gateway refuses the previous secret",
    )
    # The report of the previous secret's use goes with the grace (the ConfigMap stays small).
    core = client.CoreV1Api(api)

    def reported() -> set[str]:
        shard = shard_of(api, (namespace, "ci-bot"))
        return set(core.read_namespaced_config_map(shard, OPERATOR_NAMESPACE).data or {})

    assert f"{namespace}.ci-bot" in reported()
    wait_for(lambda: f"previous_{namespace}.ci-bot" not in reported(), timeout=10, what="the report dropped")
    new = tokens.creds("ci-bot")
    fresh = {**headers, "CF-Access-Client-Id": new.client_id, "CF-Access-Client-Secret": new.client_secret}
    assert requests.get(gateway.url, headers=fresh, timeout=5).status_code == 200
    # The held-up token's previous secret still works: its consumer never rolled out.
    assert "previousSecretHash" in tokens.status("held-up")
    assert rotating(tokens, "held-up")[:2] == ("True", "ConsumersPending")


@pytest.mark.asyncio
async def test_an_operator_the_api_server_refuses_workloads_says_so_once_and_goes_on(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    """GATEPASS_ROLLOUT on, but the RBAC the chart would grant with it missing: a 403 is a
    one-time Warning, not an error retried forever, and the rotation goes on."""
    operator.stop()  # the reconciler here is the only one (running_operator restarts it)
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace,
        deployment("api", {"container": {"envFrom": [{"secretRef": {"name": "ci-bot"}}]}}),  # type: ignore[arg-type]
    )
    everything_but_workloads = [
        client.V1PolicyRule(api_groups=["gatepass.dev"], resources=["*"], verbs=["*"]),
        client.V1PolicyRule(api_groups=[""], resources=["secrets", "events"], verbs=["*"]),
    ]
    restricted = tenant_api(cluster, api, namespace, everything_but_workloads).configuration
    # (kubernetes_asyncio names the bearer token's entry BearerToken)
    cfg = aclient.Configuration(
        host=restricted.host, api_key={"BearerToken": restricted.api_key["authorization"]}
    )
    cfg.ssl_ca_cert = restricted.ssl_ca_cert
    tokens = Tokens(api, namespace)
    tokens.create("ci-bot", {"rollout": "Auto"})
    key = (namespace, "ci-bot")
    async with aclient.ApiClient(cfg) as aapi:
        seal = SealKey()
        seal.set(generate_key())
        reconcile = Reconciler(kube_stores(aapi), seal, known=Known(rollout=True))
        await reconcile(key)
        tokens.annotate("ci-bot", "gatepass.dev/rotate", "now")
        await reconcile(key)  # rotates; listing the workloads is refused: no exception
        status = tokens.status("ci-bot")
        assert status["rolledOutFor"].startswith(status["rotatedAt"])
        await reconcile(key)
        await reconcile(key)
    tokens.wait_reasons("ci-bot", "Rotated", "RolloutNotAllowed")
    warnings = [m for _, reason, m in tokens.events("ci-bot") if reason == "RolloutNotAllowed"]
    assert len(warnings) == 1
    assert f"refused the operator access to the workloads of namespace {namespace} (Forbidden)" in warnings[0]
    rotating = tokens.condition("ci-bot", "Rotating")
    assert rotating is not None
    assert rotating["reason"] == "GracePeriod"  # cannot follow what it may not see
    assert tokens.status("ci-bot")["previousSecretHash"]
    template = client.AppsV1Api(api).read_namespaced_deployment("api", namespace).spec.template
    assert RESTARTED not in (template.metadata.annotations or {})
