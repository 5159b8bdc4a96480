"""Which workloads a rotation restarts (spec.rollout Auto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gatepass.decisions.rollout import (
    POLL_MAX,
    POLL_MIN,
    ROTATION_MAX,
    Consumer,
    Following,
    Workload,
    consumers,
    due,
    next_look,
    pending,
    restart_patch,
    rolled_out,
    rotation_name,
    summary,
    to_restart,
    track,
    workload,
)
from gatepass.models.servicetoken import ConsumerRef, ServiceTokenSpec, ServiceTokenStatus

SECRET = "ci-bot"
DAY = timedelta(days=1)


def deployment(pod: dict[str, Any], name: str = "app") -> dict[str, Any]:
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
    found = workload("Deployment", deployment(pod), SECRET)
    assert (found.consumer.env if found.uses else None) == expected
    assert found.uses or not found.consumer.env


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
    annotated = deployment(ENV_FROM)
    annotated["spec"]["template"]["metadata"]["annotations"] = {"gatepass.dev/rotation": "x"}
    assert workload("Deployment", annotated, SECRET).consumer == Consumer("Deployment", "app", True, "x")


def test_a_workload_is_kept_as_its_few_fields_never_its_tenants_values() -> None:
    """What a listing keeps of a workload (converted as it is read): name, how it uses the
    Secret, the rotation its template names, whether it rolled out. Not its annotations,
    env values or anything else a tenant may make large."""
    big = "v" * 200_000
    pod = {
        "containers": [
            {"name": "c", "envFrom": [{"secretRef": {"name": SECRET}}], "env": [{"name": "X", "value": big}]}
        ]
    }
    obj = deployment(pod, "api")
    obj["metadata"]["annotations"] = {"blob": big}
    obj["spec"]["template"]["metadata"]["annotations"] = {"gatepass.dev/rotation": big, "blob": big}
    obj["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    kept = workload("Deployment", obj, SECRET)
    assert kept == Workload(Consumer("Deployment", "api", True, None, done=True), uses=True)
    rotation = "2026-11-23T10:00:00Z/aaaa1111"
    assert len(rotation) < ROTATION_MAX
    # A template annotation too long to name a rotation is kept as naming none: the same
    # decisions (restarted for this rotation, never pending on it).
    assert to_restart([kept.consumer], rotation) == [kept.consumer]
    assert pending([kept.consumer], rotation) == ()
    obj["spec"]["template"]["metadata"]["annotations"] = {"gatepass.dev/rotation": rotation}
    assert workload("Deployment", obj, SECRET).consumer.restarted_for == rotation


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
    assert summary([env], [file], []) == (
        "rotation rollout: restarted Deployment/api;"
        " Deployment/cron read the Secret as a file and need no restart"
    )
    assert summary([], [], []) == "rotation rollout: nothing to restart"
    assert summary([env], [], ["DaemonSet/gone"]) == (
        "rotation rollout: restarted Deployment/api; spec.consumers names DaemonSet/gone,"
        " not found in the namespace"
    )


def test_a_reissue_is_rolled_out_too_named_by_its_time() -> None:
    st = ServiceTokenStatus(rotated_at=T - DAY, reissued_at=T, secret_hash="sha256:new")
    assert due(ServiceTokenSpec(rollout="Auto"), st) == rotation_name(T, "sha256:new")
    st = ServiceTokenStatus(rotated_at=T, reissued_at=T - DAY, secret_hash="sha256:new")
    assert due(ServiceTokenSpec(rollout="Auto"), st) == rotation_name(T, "sha256:new")


# --- rolled out, as kubectl rollout status judges it ----------------------------------
def obj(generation: int = 2, want: int | None = 2, **status: Any) -> dict[str, Any]:
    spec = {} if want is None else {"replicas": want}
    return {"metadata": {"name": "w", "generation": generation}, "spec": spec, "status": status}


DONE = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}


@pytest.mark.parametrize(
    ("kind", "workload", "expected"),
    [
        ("Deployment", obj(**DONE), True),
        ("Deployment", obj(**{**DONE, "observedGeneration": 1}), False),  # restart not seen yet
        ("Deployment", obj(**{**DONE, "updatedReplicas": 1}), False),
        ("Deployment", obj(**{**DONE, "replicas": 3}), False),  # an old pod still terminating
        ("Deployment", obj(**{**DONE, "availableReplicas": 1}), False),
        ("Deployment", obj(want=0, observedGeneration=2), True),  # scaled to zero
        (
            "Deployment",
            obj(want=None, **{**DONE, "replicas": 1, "updatedReplicas": 1}),
            True,
        ),  # default 1
        ("Deployment", obj(want=None, observedGeneration=2), False),
        (
            "StatefulSet",
            obj(
                observedGeneration=2,
                updatedReplicas=2,
                readyReplicas=2,
                currentRevision="b",
                updateRevision="b",
            ),
            True,
        ),
        (
            "StatefulSet",  # partitioned or OnDelete: some pods still on the old revision
            obj(
                observedGeneration=2,
                updatedReplicas=2,
                readyReplicas=2,
                currentRevision="a",
                updateRevision="b",
            ),
            False,
        ),
        (
            "StatefulSet",
            obj(
                observedGeneration=2,
                updatedReplicas=2,
                readyReplicas=1,
                currentRevision="b",
                updateRevision="b",
            ),
            False,
        ),
        (
            "DaemonSet",
            obj(observedGeneration=2, desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=3),
            True,
        ),
        (
            "DaemonSet",
            obj(observedGeneration=2, desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=2),
            False,
        ),
        ("DaemonSet", obj(observedGeneration=2, desiredNumberScheduled=3, updatedNumberScheduled=2), False),
    ],
)
def test_rolled_out_as_kubectl_rollout_status_says(
    kind: str, workload: dict[str, Any], expected: bool
) -> None:
    assert rolled_out(kind, workload) is expected


def test_named_consumers_are_exactly_those_each_restarted_and_the_missing_ones_said() -> None:
    plain = {"containers": [{"name": "c"}]}  # reads the Secret in a way no template shows
    found = [
        workload("Deployment", deployment(plain, "api"), SECRET),
        workload("StatefulSet", deployment(VOLUME, "db"), SECRET),
        workload("Deployment", deployment(ENV_FROM, "not-named"), SECRET),
    ]
    named = [
        ConsumerRef(kind="Deployment", name="api"),
        ConsumerRef(kind="StatefulSet", name="db"),
        ConsumerRef(kind="Deployment", name="api"),
        ConsumerRef(kind="DaemonSet", name="api"),  # same name, another kind: not found
    ]
    picked, missing = consumers(found, named)
    assert [(c.label, c.env) for c in picked] == [("Deployment/api", True), ("StatefulSet/db", True)]
    assert missing == ["DaemonSet/api"]
    found_by_template, none_missing = consumers(found, None)
    assert [(c.label, c.env) for c in found_by_template] == [
        ("StatefulSet/db", False),
        ("Deployment/not-named", True),
    ]
    assert none_missing == []


def test_pending_are_the_environment_consumers_of_this_rotation_not_rolled_out() -> None:
    r = "2026-11-23T10:00:00Z/aaaa1111"
    listed = [
        Consumer("Deployment", "slow", True, r, done=False),
        Consumer("Deployment", "done", True, r, done=True),
        Consumer("Deployment", "newer", True, None, done=False),  # created after: started with the new secret
        Consumer("Deployment", "file", False, None, done=False),
    ]
    assert pending(listed, r) == ("Deployment/slow",)


def test_looks_again_often_at_first_then_less() -> None:
    assert next_look(T, T) == T + POLL_MIN
    assert next_look(T, T + timedelta(minutes=2)) == T + timedelta(minutes=2, seconds=30)
    assert next_look(T, T + DAY) == T + DAY + POLL_MAX


# --- following a rotation: the Rotating condition and the early end of the grace -------
R = T  # rotated at
SETTLE = timedelta(minutes=10)
ROTATION = rotation_name(R, "sha256:new")


def rotating(**over: Any) -> ServiceTokenStatus:
    base: dict[str, Any] = {
        "secret_hash": "sha256:new",
        "rotated_at": R,
        "previous_secret_hash": "sha256:old",
        "previous_secret_expires_at": R + DAY,
        "rolled_out_for": ROTATION,
    }
    return ServiceTokenStatus(**{**base, **over})


LOOKED = Following(SETTLE, ROTATION)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("st", "following", "now", "condition", "completed", "ends", "wake"),
    [
        (ServiceTokenStatus(secret_hash="sha256:new"), LOOKED, R, None, None, False, None),
        (
            rotating(previous_secret_hash=None, previous_secret_expires_at=None),  # no grace, or over
            LOOKED,
            R,
            ("False", "Complete"),
            None,
            False,
            None,
        ),
        (rotating(), None, R, ("True", "GracePeriod"), None, False, None),  # spec.rollout None
        # restarts not recorded yet (they come after this decision): look again soon
        (
            rotating(rolled_out_for=None),
            Following(SETTLE),
            R,
            ("True", "ConsumersPending"),
            None,
            False,
            R + POLL_MIN,
        ),
        (
            rotating(),
            Following(SETTLE, ROTATION, ("Deployment/api",)),
            R + M,
            ("True", "ConsumersPending"),
            None,
            False,
            R + M + M / 4,
        ),
        # a listing made for another rotation does not count
        (
            rotating(),
            Following(SETTLE, "other"),
            R + M,
            ("True", "ConsumersPending"),
            None,
            False,
            R + M + M / 4,
        ),
        # all rolled out now: settle from now
        (rotating(), LOOKED, R + M, ("True", "Settling"), R + M, False, R + M + SETTLE),
        # settling, the previous secret used meanwhile: from that use
        (
            rotating(consumers_rolled_out_at=R + M, previous_secret_last_seen_at=R + 5 * M),
            Following(SETTLE),
            R + 6 * M,
            ("True", "Settling"),
            R + M,
            False,
            R + 5 * M + SETTLE,
        ),
        (
            rotating(consumers_rolled_out_at=R + M, previous_secret_last_seen_at=R + 5 * M),
            Following(SETTLE),
            R + 5 * M + SETTLE,
            ("False", "Complete"),
            R + M,
            True,
            None,
        ),
        (
            rotating(consumers_rolled_out_at=R + M),
            Following(SETTLE),
            R + M + SETTLE,
            ("False", "Complete"),
            R + M,
            True,
            None,
        ),
        # the settle would outlast the grace: the grace ends on its own
        (
            rotating(consumers_rolled_out_at=R + M, previous_secret_expires_at=R + 5 * M),
            Following(SETTLE),
            R + 2 * M,
            ("True", "Settling"),
            R + M,
            False,
            R + 5 * M,
        ),
    ],
    ids=[
        "never rotated",
        "grace over",
        "not following",
        "restarting",
        "waiting for one",
        "stale listing",
        "rolled out now",
        "used while settling",
        "settled after last use",
        "settled",
        "grace ends first",
    ],
)
def test_a_rotation_is_followed_to_its_end(
    st: ServiceTokenStatus,
    following: Following | None,
    now: datetime,
    condition: tuple[str, str] | None,
    completed: datetime | None,
    ends: bool,
    wake: datetime | None,
) -> None:
    tracked = track(st, following, now)
    assert (tracked.condition[:2] if tracked.condition else None) == condition
    assert tracked.completed_at == completed
    assert (tracked.end_grace is not None) is ends
    assert tracked.wake_at == wake


def test_the_rotating_condition_says_who_is_awaited_and_who_used_the_previous_secret() -> None:
    st = rotating(
        previous_secret_last_seen_at=R + M,
        previous_secret_last_seen_application="team-a/reports",
        previous_secret_last_seen_client="10.0.0.7",
    )
    tracked = track(st, Following(SETTLE, ROTATION, ("Deployment/api", "DaemonSet/agent")), R + 2 * M)
    assert tracked.condition is not None
    message = tracked.condition[2]
    assert "waiting for Deployment/api, DaemonSet/agent to roll out" in message
    assert "works until 2026-11-24T10:00:00Z at the latest" in message
    assert "last used 2026-11-23T10:01:00Z at team-a/reports from 10.0.0.7" in message
    quiet = track(rotating(), LOOKED, R + M)
    assert quiet.condition is not None
    assert "has not been used since the rotation" in quiet.condition[2]
    assert "stops working at 2026-11-23T10:11:00Z unless used again" in quiet.condition[2]
