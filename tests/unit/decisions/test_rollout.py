"""Which workloads a rotation restarts (spec.rollout Auto)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gatepass.decisions.rollout import Consumer, consumer, due, restart_patch, summary, to_restart
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus

SECRET = "ci-bot"


def workload(pod: dict[str, Any], name: str = "app") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"template": {"metadata": {"annotations": {}}, "spec": pod}}}


ENV_FROM = {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": SECRET}}]}]}
ENV_KEY = {
    "containers": [
        {"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "k"}}}]}
    ]
}
INIT_ENV = {"initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": SECRET}}]}], "containers": []}
VOLUME = {"containers": [{"name": "c"}], "volumes": [{"name": "v", "secret": {"secretName": SECRET}}]}
PROJECTED = {
    "containers": [{"name": "c"}],
    "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": SECRET}}]}}],
}
OTHER = {
    "containers": [
        {"name": "c", "envFrom": [{"secretRef": {"name": "other"}}, {"configMapRef": {"name": SECRET}}]}
    ],
    "volumes": [{"name": "v", "configMap": {"name": SECRET}}],
}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (ENV_FROM, True),
        (ENV_KEY, True),
        (INIT_ENV, True),
        (VOLUME, False),
        (PROJECTED, False),
        ({**VOLUME, **ENV_FROM, "volumes": VOLUME["volumes"]}, True),  # both: the environment decides
        (OTHER, None),  # another Secret, or a ConfigMap of the same name: not a consumer
        ({}, None),
    ],
    ids=["envFrom", "env valueFrom", "init container", "volume", "projected", "both", "other", "empty"],
)
def test_who_consumes_the_secret_and_how(pod: dict[str, Any], expected: bool | None) -> None:
    found = consumer("Deployment", workload(pod), SECRET)
    assert (found.env if found else None) == expected


def test_only_environment_consumers_not_yet_restarted_for_this_rotation() -> None:
    rotated = "2026-11-23T10:00:00Z"
    consumers = [
        Consumer("Deployment", "fresh", True, None),
        Consumer("Deployment", "older", True, "2026-11-01T00:00:00Z"),
        Consumer("StatefulSet", "done", True, rotated),  # already restarted (a crash, a re-read)
        Consumer("DaemonSet", "later", True, "2026-11-24T00:00:00Z"),
        Consumer("Deployment", "file", False, None),
    ]
    assert [c.label for c in to_restart(consumers, rotated)] == ["Deployment/fresh", "Deployment/older"]


def test_the_patch_is_a_pod_template_annotation_with_the_rotation() -> None:
    patch = restart_patch("2026-11-23T10:00:00Z")
    assert patch == {
        "spec": {
            "template": {"metadata": {"annotations": {"gatepass.dev/restartedAt": "2026-11-23T10:00:00Z"}}}
        }
    }
    annotated = workload(ENV_FROM)
    annotated["spec"]["template"]["metadata"]["annotations"] = {"gatepass.dev/restartedAt": "x"}
    assert consumer("Deployment", annotated, SECRET) == Consumer("Deployment", "app", True, "x")


T = datetime(2026, 11, 23, 10, 0, 0, 500_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rollout", "status", "expected"),
    [
        ("None", {"rotated_at": T}, None),
        ("Auto", {}, None),  # never rotated
        ("Auto", {"rotated_at": T}, "2026-11-23T10:00:00Z"),
        ("Auto", {"rotated_at": T, "rolled_out_for": T}, None),
        (
            "Auto",
            {"rotated_at": T, "rolled_out_for": datetime(2026, 11, 1, tzinfo=UTC)},
            "2026-11-23T10:00:00Z",
        ),
    ],
)
def test_due_once_per_rotation(rollout: str, status: dict[str, Any], expected: str | None) -> None:
    assert due(ServiceTokenSpec(rollout=rollout), ServiceTokenStatus(**status)) == expected


def test_the_event_says_what_was_restarted_and_what_was_left() -> None:
    env, file = Consumer("Deployment", "api", True, None), Consumer("Deployment", "cron", False, None)
    assert summary([env], [file]) == (
        "rotation rollout: restarted Deployment/api;"
        " Deployment/cron read the Secret as a file and need no restart"
    )
    assert summary([], []) == "rotation rollout: nothing to restart"
