"""spec.rollout Auto through the real operator and API server: after a rotation, the
namespace's workloads that read the Secret from their environment get a new pod
template (a rollout), once per rotation; volume consumers, other Secrets' consumers
and other namespaces are left alone. (Pods do not run here: test_pods runs a node.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens
from tests.support.waiting import wait_for

RESTARTED = "gatepass.dev/rotation"


def deployment(name: str, pod: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "c", "image": "never-pulled.invalid/none", **pod.pop("container", {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
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
