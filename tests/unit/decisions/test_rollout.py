"""Which workloads a rotation restarts (spec.rollout Auto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gatepass.decisions.rollout import (
    Consumer,
    consumer,
    due,
    restart_patch,
    rotation_name,
    summary,
    to_restart,
)
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus

SECRET = "ci-bot"
DAY = timedelta(days=1)


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
    rotation = "2026-11-23T10:00:00Z/aaaa1111"
    consumers = [
        Consumer("Deployment", "fresh", True, None),
        Consumer("Deployment", "older", True, "2026-11-01T00:00:00Z/bbbb2222"),
        Consumer("StatefulSet", "done", True, rotation),  # already restarted (a crash, a re-read)
        Consumer("Deployment", "same-second", True, "2026-11-23T10:00:00Z/cccc3333"),  # another rotation
        Consumer("Deployment", "file", False, None),
    ]
    assert [c.label for c in to_restart(consumers, rotation)] == [
        "Deployment/fresh",
        "Deployment/older",
        "Deployment/same-second",
    ]


def test_the_patch_is_a_pod_template_annotation_with_the_rotation() -> None:
    patch = restart_patch("2026-11-23T10:00:00Z/aaaa1111")
    assert patch == {
        "spec": {
            "template": {
                "metadata": {"annotations": {"gatepass.dev/rotation": "2026-11-23T10:00:00Z/aaaa1111"}}
            }
        }
    }
    annotated = workload(ENV_FROM)
    annotated["spec"]["template"]["metadata"]["annotations"] = {"gatepass.dev/rotation": "x"}
    assert consumer("Deployment", annotated, SECRET) == Consumer("Deployment", "app", True, "x")


T = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
FIRST = rotation_name(T, "sha256:first")


@pytest.mark.parametrize(
    ("rollout", "status", "expected"),
    [
        ("None", {"rotated_at": T, "secret_hash": "sha256:first"}, None),
        ("Auto", {"secret_hash": "sha256:first"}, None),  # never rotated
        ("Auto", {"rotated_at": T, "secret_hash": "sha256:first"}, FIRST),
        ("Auto", {"rotated_at": T, "secret_hash": "sha256:first", "rolled_out_for": FIRST}, None),
        (
            "Auto",
            {
                "rotated_at": T,
                "secret_hash": "sha256:first",
                "rolled_out_for": rotation_name(T - DAY, "sha256:x"),
            },
            FIRST,
        ),
        # a second rotation within the same second (status times are whole seconds): a second rollout
        (
            "Auto",
            {"rotated_at": T, "secret_hash": "sha256:second", "rolled_out_for": FIRST},
            rotation_name(T, "sha256:second"),
        ),
    ],
)
def test_due_once_per_rotation(rollout: str, status: dict[str, Any], expected: str | None) -> None:
    assert due(ServiceTokenSpec(rollout=rollout), ServiceTokenStatus(**status)) == expected


def test_a_rotation_is_named_by_its_time_and_a_one_way_tag() -> None:
    name = rotation_name(T, "sha256:first")
    assert name.startswith("2026-11-23T10:00:00Z/")
    assert len(name.split("/")[1]) == 8
    assert "first" not in name
    assert rotation_name(T, "sha256:second") != name


def test_the_event_says_what_was_restarted_and_what_was_left() -> None:
    env, file = Consumer("Deployment", "api", True, None), Consumer("Deployment", "cron", False, None)
    assert summary([env], [file]) == (
        "rotation rollout: restarted Deployment/api;"
        " Deployment/cron read the Secret as a file and need no restart"
    )
    assert summary([], []) == "rotation rollout: nothing to restart"
