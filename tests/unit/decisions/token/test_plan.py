"""The reconcile decision as a table: (spec, status, Secret, annotations, now) -> plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from gatepass.contract import SECRET_TEMPLATE_ANNOTATION, TOKEN_LABEL, LastUse
from gatepass.decisions.rollout import Following, rotation_name
from gatepass.decisions.token.chains import Action
from gatepass.decisions.token.inputs import SecretView, TokenView, distrust
from gatepass.decisions.token.plan import Plan, decide
from gatepass.models.conditions import EXPIRING_SOON, READY, ROTATING, find
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus
from tests.unit.decisions.token.common import CID, H1, H2, H9, LABELS, NEW, NONE, OURS, T0, H, cond, issued


@dataclass
class Case:
    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=issued)
    secret: SecretView = OURS
    now: datetime = T0 + H
    refresh: str | None = None
    rotate: str | None = None
    grace_request: str | None = None  # gatepass.dev/rotate-grace-period
    previous_expires: str | None = None  # gatepass.dev/previous-secret-expires-at
    tampered: bool = False  # the status's seal did not verify (it reaches decide distrusted)
    # expectations
    action: Action = Action.NONE
    events: tuple[str, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)  # status fields
    ready: tuple[str, str] | None = ("True", "Issued")
    soon: str | None = "False"
    wake: datetime | str | None = "any"


CASES = [
    Case(
        "a status edited by someone else gets new credentials and a fresh lifetime",
        status=distrust(
            ServiceTokenStatus.model_validate(issued(expires_at=T0 + 9999 * H, previous_secret_hash=H2))
        ).model_dump(),
        tampered=True,
        now=T0 + 5 * H,
        action=Action.REISSUE,
        events=("UntrustedStatus", "CredentialsReissued"),
        expect={
            "client_id": NEW.client_id,  # a new one: the old one is not trusted
            "secret_hash": NEW.secret_hash,
            "created_at": T0 + 5 * H,
            "expires_at": T0 + 105 * H,
            "previous_secret_hash": None,
        },
    ),
    Case(
        "an edited status of a token whose Secret is gone: issued afresh",
        status=distrust(ServiceTokenStatus.model_validate(issued())).model_dump(),
        tampered=True,
        secret=NONE,
        action=Action.ISSUE,
        events=("UntrustedStatus", "Issued"),
        expect={"client_id": NEW.client_id, "created_at": T0 + H},
    ),
    Case(
        "new token is issued with an expiry",
        status={},
        secret=NONE,
        now=T0,
        action=Action.ISSUE,
        events=("Issued",),
        expect={
            "created_at": T0,
            "expires_at": T0 + 100 * H,
            "client_id": NEW.client_id,
            "secret_hash": NEW.secret_hash,
        },
        wake=T0 + 100 * H - 100 * H / 3,
    ),
    Case(
        "forever token has no expiry and nothing to wake for",
        spec={"duration": "forever"},
        status={},
        secret=NONE,
        now=T0,
        action=Action.ISSUE,
        events=("Issued",),
        expect={"expires_at": None},
        wake=None,
    ),
    Case(
        "annotations present at creation are recorded, not acted on",
        status={},
        secret=NONE,
        now=T0,
        refresh="r1",
        rotate="x1",
        action=Action.ISSUE,
        events=("Issued",),
        expect={"last_refresh_request": "r1", "last_rotate_request": "x1", "previous_secret_hash": None},
    ),
    Case("healthy token: nothing to do, wake for the alert", wake=T0 + 100 * H - 100 * H / 3),
    Case(
        "deleted Secret is reissued with the same Client ID and expiry",
        secret=NONE,
        action=Action.REISSUE,
        events=("CredentialsReissued",),
        expect={"client_id": CID, "expires_at": T0 + 100 * H, "secret_hash": NEW.secret_hash},
    ),
    Case(
        "tampered secret is reissued",
        secret=SecretView(exists=True, owned=True, client_id=CID, secret_hash=H2, labels=LABELS),
        action=Action.REISSUE,
        events=("CredentialsReissued",),
    ),
    Case(
        "malformed secret is reissued",
        secret=SecretView(exists=True, owned=True, client_id=CID, secret_hash=None, labels=LABELS),
        action=Action.REISSUE,
        events=("CredentialsReissued",),
    ),
    Case(
        "reissue cancels a rotation grace: a leaked secret must stop at once",
        status=issued(previous_secret_hash=H2, previous_secret_expires_at=T0 + 5 * H),
        secret=NONE,
        action=Action.REISSUE,
        events=("CredentialsReissued",),
        expect={"previous_secret_hash": None, "previous_secret_expires_at": None},
    ),
    Case(
        "someone else's Secret is never overwritten",
        status={},
        secret=SecretView(exists=True, owned=False),
        action=Action.CONFLICT,
        events=("SecretConflict",),
        ready=("False", "SecretConflict"),
        expect={"client_id": None},
    ),
    Case(
        "crash after the Secret write: the pending secret is adopted, not regenerated",
        status={"pending_secret_hash": H2, "pending_client_id": CID, "pending_action": "Issue"},
        secret=SecretView(exists=True, owned=True, client_id=CID, secret_hash=H2, labels=LABELS),
        now=T0,
        action=Action.FINALIZE,
        events=("Issued",),
        expect={"secret_hash": H2, "client_id": CID, "pending_secret_hash": None, "expires_at": T0 + 100 * H},
    ),
    Case(
        "crash before the Secret write: the undelivered pending secret is forgotten",
        status=issued(pending_secret_hash=H2, pending_client_id=CID, pending_action="Rotate"),
        rotate="x1",
        action=Action.ROTATE,
        events=("Rotated",),
        expect={"pending_secret_hash": None, "previous_secret_hash": H1},
    ),
    Case(
        "crash after the Secret write of a rotation: finished as a rotation",
        status=issued(pending_secret_hash=H2, pending_client_id=CID, pending_action="Rotate"),
        secret=SecretView(exists=True, owned=True, client_id=CID, secret_hash=H2, labels=LABELS),
        rotate="x1",
        action=Action.FINALIZE,
        events=("Rotated",),
        expect={"secret_hash": H2, "previous_secret_hash": H1, "last_rotate_request": "x1"},
    ),
    Case(
        "rotation keeps the previous secret for the grace period",
        spec={"rotationGracePeriod": "2h"},
        rotate="x1",
        action=Action.ROTATE,
        events=("Rotated",),
        expect={
            "previous_secret_hash": H1,
            "previous_secret_expires_at": T0 + 3 * H,
            "last_rotate_request": "x1",
            "rotated_at": T0 + H,
            "expires_at": T0 + 100 * H,
        },
        wake=T0 + 3 * H,
    ),
    Case(
        "rotation with grace 0s revokes the old secret at once",
        spec={"rotationGracePeriod": "0s"},
        rotate="x1",
        action=Action.ROTATE,
        events=("Rotated",),
        expect={"previous_secret_hash": None},
    ),
    Case(
        "a handled rotate value is not acted on again", status=issued(last_rotate_request="x1"), rotate="x1"
    ),
    Case(
        "the rotate-grace-period annotation sets this rotation's grace",
        rotate="x1",
        grace_request="2h",
        action=Action.ROTATE,
        events=("Rotated",),
        expect={"previous_secret_expires_at": T0 + 3 * H},
    ),
    Case(
        "a rotate-grace-period outside Cloudflare's bounds is ignored, and said so",
        spec={"rotationGracePeriod": "3h"},
        rotate="x1",
        grace_request="5m",
        action=Action.ROTATE,
        events=("InvalidAnnotation", "Rotated"),
        expect={"previous_secret_expires_at": T0 + 4 * H},
    ),
    Case(
        "a rotate-grace-period that is not a duration is ignored, and said so",
        rotate="x1",
        grace_request="a while",
        action=Action.ROTATE,
        events=("InvalidAnnotation", "Rotated"),
        expect={"previous_secret_expires_at": T0 + 25 * H},
    ),
    # scheduled rotation (spec.rotation.every) ----------------------------------------------
    Case(
        "scheduled rotation: not before every has passed since the secret was written",
        spec={"rotation": {"every": "10h"}},
        now=T0 + 9 * H,
        wake=T0 + 10 * H,
    ),
    Case(
        "scheduled rotation: due, with the grace of the spec",
        spec={"rotation": {"every": "10h"}, "rotationGracePeriod": "1h"},
        now=T0 + 10 * H,
        action=Action.ROTATE,
        events=("Rotated",),
        expect={
            "rotated_at": T0 + 10 * H,
            "previous_secret_hash": H1,
            "previous_secret_expires_at": T0 + 11 * H,
            "expires_at": T0 + 100 * H,  # independent of expiry
        },
        wake=T0 + 11 * H,
    ),
    Case(
        "scheduled rotation counts from the last rotation",
        spec={"rotation": {"every": "10h"}},
        status=issued(rotated_at=T0 + 5 * H),
        now=T0 + 12 * H,
        wake=T0 + 15 * H,
    ),
    Case(
        "scheduled rotation waits while the token is disabled",
        spec={"rotation": {"every": "10h"}, "enabled": False},
        now=T0 + 20 * H,
        ready=("False", "Disabled"),
        events=("Disabled",),
    ),
    Case(
        "scheduled rotation does not revive an expired token",
        spec={"rotation": {"every": "10h"}},
        now=T0 + 101 * H,
        ready=("False", "Expired"),
        soon="False",
        events=("Expired",),
    ),
    # the previous secret's grace, changed (gatepass.dev/previous-secret-expires-at) -------
    Case(
        "previous-secret-expires-at in the past ends the grace now",
        status=issued(previous_secret_hash=H2, previous_secret_expires_at=T0 + 20 * H, rotated_at=T0),
        previous_expires="2026-01-01T00:00:00Z",
        events=("GraceEnded",),
        expect={
            "previous_secret_hash": None,
            "previous_secret_expires_at": None,
            "last_previous_secret_expires_request": "2026-01-01T00:00:00Z",
        },
    ),
    Case(
        "previous-secret-expires-at later extends it",
        status=issued(previous_secret_hash=H2, previous_secret_expires_at=T0 + 20 * H, rotated_at=T0),
        previous_expires="2026-01-03T00:00:00+00:00",
        events=("GraceChanged",),
        expect={"previous_secret_hash": H2, "previous_secret_expires_at": T0 + 48 * H},
        wake=T0 + 48 * H,
    ),
    Case(
        "previous-secret-expires-at beyond 30 days after the rotation is refused",
        status=issued(previous_secret_hash=H2, previous_secret_expires_at=T0 + 20 * H, rotated_at=T0),
        previous_expires="2026-02-01T00:00:01Z",
        events=("InvalidAnnotation",),
        expect={
            "previous_secret_expires_at": T0 + 20 * H,
            "last_previous_secret_expires_request": "2026-02-01T00:00:01Z",
        },
    ),
    Case(
        "previous-secret-expires-at that is not a time is refused",
        status=issued(previous_secret_hash=H2, previous_secret_expires_at=T0 + 20 * H, rotated_at=T0),
        previous_expires="tomorrow",
        events=("InvalidAnnotation",),
        expect={"previous_secret_hash": H2},
    ),
    Case(
        "previous-secret-expires-at without a previous secret says so",
        previous_expires="2026-01-01T00:00:00Z",
        events=("InvalidAnnotation",),
    ),
    Case(
        "previous-secret-expires-at acts once per value",
        status=issued(
            previous_secret_hash=H2,
            previous_secret_expires_at=T0 + 20 * H,
            rotated_at=T0,
            last_previous_secret_expires_request="2026-01-01T00:00:00Z",
        ),
        previous_expires="2026-01-01T00:00:00Z",
        expect={"previous_secret_hash": H2},
    ),
    Case(
        "with a rotation in the same reconcile, it applies to the secret just replaced",
        rotate="x1",
        previous_expires="2026-01-01T00:00:00Z",
        action=Action.ROTATE,
        events=("Rotated", "GraceEnded"),
        expect={"previous_secret_hash": None, "secret_hash": H9},
    ),
    Case(
        "on a new token the annotation is initial state, not a request",
        status={},
        secret=NONE,
        now=T0,
        previous_expires="2026-01-01T00:00:00Z",
        action=Action.ISSUE,
        events=("Issued",),
        expect={"last_previous_secret_expires_request": "2026-01-01T00:00:00Z"},
    ),
    Case(
        "refresh annotation extends from now and keeps the secret",
        refresh="r1",
        now=T0 + 50 * H,
        events=("Refreshed",),
        expect={"expires_at": T0 + 150 * H, "secret_hash": H1, "last_refresh_request": "r1"},
    ),
    Case(
        "a handled refresh value is not acted on again",
        status=issued(last_refresh_request="r1"),
        refresh="r1",
    ),
    Case(
        "editing the duration refreshes with the new duration",
        spec={"duration": "200h"},
        now=T0 + 10 * H,
        events=("Refreshed",),
        expect={"expires_at": T0 + 210 * H, "observed_duration": "200h"},
    ),
    Case(
        "renewBefore refreshes on its own inside the window",
        spec={"renewBefore": "10h"},
        now=T0 + 95 * H,
        events=("Refreshed",),
        expect={"expires_at": T0 + 195 * H},
    ),
    Case(
        "renewBefore outside the window: wake at the window",
        spec={"renewBefore": "40h", "alertBefore": "10h"},
        wake=T0 + 60 * H,
    ),
    Case(
        "inside alertBefore: ExpiringSoon and one Warning",
        spec={"alertBefore": "24h"},
        now=T0 + 80 * H,
        events=("ExpiringSoon",),
        soon="True",
        wake=T0 + 100 * H,
    ),
    Case(
        "ExpiringSoon already reported: no second Event (e.g. after a restart)",
        spec={"alertBefore": "24h"},
        status=issued(
            conditions=[cond(READY, "True", "Issued"), cond(EXPIRING_SOON, "True", "ExpiringSoon")]
        ),
        now=T0 + 90 * H,
        soon="True",
    ),
    Case(
        "past expiry: Ready=False Expired with a Warning",
        now=T0 + 100 * H,
        events=("Expired",),
        ready=("False", "Expired"),
        wake=None,
    ),
    Case(
        "already reported expiry is not reported again",
        status=issued(conditions=[cond(READY, "False", "Expired")]),
        now=T0 + 200 * H,
        ready=("False", "Expired"),
    ),
    Case(
        "disabled: Ready=False Disabled, and no automatic renewal",
        spec={"enabled": False, "renewBefore": "10h"},
        now=T0 + 95 * H,
        events=("Disabled",),
        ready=("False", "Disabled"),
        expect={"expires_at": T0 + 100 * H},
    ),
    Case(
        "enabled again",
        status=issued(conditions=[cond(READY, "False", "Disabled")]),
        events=("Enabled",),
    ),
    Case(
        "the previous secret is dropped once its grace has passed",
        status=issued(previous_secret_hash=H2, previous_secret_expires_at=T0 + 2 * H),
        now=T0 + 2 * H,
        expect={"previous_secret_hash": None, "previous_secret_expires_at": None},
    ),
    Case(
        "the previous secret is kept inside its grace",
        status=issued(previous_secret_hash=H2, previous_secret_expires_at=T0 + 2 * H),
        expect={"previous_secret_hash": H2},
        wake=T0 + 2 * H,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    spec = ServiceTokenSpec.model_validate({"duration": "100h", "secretName": "tok", **case.spec})
    token = TokenView(
        spec=spec,
        status=ServiceTokenStatus.model_validate(case.status),
        name="tok",
        generation=3,
        refresh_request=case.refresh,
        rotate_request=case.rotate,
        rotate_grace=case.grace_request,
        previous_expires_request=case.previous_expires,
        tampered=case.tampered,
    )
    plan = decide(token, case.secret, NEW, case.now)
    assert plan.action is case.action
    # The plan is whole: a new secret comes with its pending record and its Secret write.
    if case.action.generates:
        assert plan.pending is not None
        assert (plan.pending.pending_secret_hash, plan.pending.pending_client_id) == (
            H9,
            plan.status.client_id,
        )
        assert plan.secret is not None
        assert plan.secret.client_id == plan.status.client_id  # the Client ID goes with the secret
        assert plan.secret.metadata.labels[TOKEN_LABEL] == "tok"
    else:
        assert plan.pending is None
        assert plan.secret is None
    assert plan.status.pending_secret_hash is None
    assert tuple(e.reason for e in plan.events) == case.events
    for key, value in case.expect.items():
        assert getattr(plan.status, key) == value, key
    ready = find(plan.status.conditions, READY)
    if case.ready is not None:
        assert ready is not None
        assert (ready.status, ready.reason) == case.ready
        assert ready.observed_generation == 3
    if case.soon is not None:
        soon = find(plan.status.conditions, EXPIRING_SOON)
        assert soon is not None
        assert soon.status == case.soon
    if case.wake != "any":
        assert plan.wake_at == case.wake
    assert plan.status.observed_generation == 3


def test_decide_does_not_mutate_its_input() -> None:
    status = ServiceTokenStatus.model_validate(issued())
    before = status.model_dump()
    token = TokenView(
        spec=ServiceTokenSpec(duration="100h", secret_name="tok"), status=status, rotate_request="x"
    )
    decide(token, NONE, NEW, T0 + 200 * H)
    assert status.model_dump() == before


def test_default_alert_window_is_a_week_or_a_third_of_short_durations() -> None:
    assert ServiceTokenSpec(duration="8760h").alert_window == timedelta(hours=168)
    assert ServiceTokenSpec(duration="30s").alert_window == timedelta(seconds=10)
    assert ServiceTokenSpec(duration="forever").alert_window is None
    assert ServiceTokenSpec(duration="30s", alert_before="5s").alert_window == timedelta(seconds=5)


def test_event_messages_never_carry_hashes() -> None:
    token = TokenView(spec=ServiceTokenSpec(duration="100h", secret_name="tok"), status=ServiceTokenStatus())
    for secret in (NONE, SecretView(exists=True, owned=False)):
        for ev in decide(token, secret, NEW, T0).events:
            assert "sha256" not in ev.message


def test_rotate_grace_annotation_overrides_the_spec_for_that_rotation() -> None:
    token = TokenView(
        spec=ServiceTokenSpec(duration="100h", secret_name="tok", rotation_grace_period="24h"),
        status=ServiceTokenStatus.model_validate(issued()),
        rotate_request="x",
        rotate_grace="90m",
    )
    plan = decide(token, OURS, NEW, T0 + H)
    assert plan.action is Action.ROTATE
    assert plan.status.previous_secret_expires_at == T0 + H + timedelta(minutes=90)


def test_last_seen_only_moves_forward_with_where_and_from_where() -> None:
    later, earlier = T0 + 5 * H, T0 + 2 * H
    status = ServiceTokenStatus.model_validate(
        issued(last_seen_at=later, last_seen_application="ns/a", last_seen_client="10.0.0.1")
    )
    spec = ServiceTokenSpec(duration="100h", secret_name="tok")

    def seen(use: LastUse) -> tuple[object, ...]:
        st = decide(TokenView(spec=spec, status=status, last_seen=use), OURS, NEW, T0 + 6 * H).status
        return st.last_seen_at, st.last_seen_application, st.last_seen_client

    assert seen(LastUse(earlier, "ns/b", "10.0.0.2")) == (later, "ns/a", "10.0.0.1")
    newest = T0 + 6 * H
    assert seen(LastUse(newest, "ns/b", "10.0.0.2")) == (newest, "ns/b", "10.0.0.2")
    assert seen(LastUse(newest)) == (newest, None, None)  # an older gateway says only when


def test_last_seen_status_moves_in_steps_of_five_minutes() -> None:
    """A status write per report (every minute per used token) would flood the API
    server at scale; status moves only once the report is a step ahead."""
    status = ServiceTokenStatus.model_validate(issued(last_seen_at=T0 + H, last_seen_client="10.0.0.1"))
    spec = ServiceTokenSpec(duration="100h", secret_name="tok")

    def recorded(at: datetime) -> object:
        token = TokenView(spec=spec, status=status, last_seen=LastUse(at, None, "10.0.0.2"))
        st = decide(token, OURS, NEW, T0 + 2 * H).status
        return st.last_seen_at, st.last_seen_client

    assert recorded(T0 + H + timedelta(minutes=4, seconds=59)) == (T0 + H, "10.0.0.1")
    assert recorded(T0 + H + timedelta(minutes=5)) == (T0 + H + timedelta(minutes=5), "10.0.0.2")


def in_grace(**over: Any) -> ServiceTokenStatus:
    """Rotated at T0 + H from H2 to H1; H2 works for a day."""
    base = issued(rotated_at=T0 + H, previous_secret_hash=H2, previous_secret_expires_at=T0 + 25 * H)
    return ServiceTokenStatus.model_validate({**base, **over})


AUTO = ServiceTokenSpec(duration="100h", secret_name="tok", rollout="Auto")


def test_uses_of_the_previous_secret_count_only_for_the_grace_in_progress() -> None:
    def seen(status: ServiceTokenStatus, use: LastUse) -> tuple[object, ...]:
        view = TokenView(spec=AUTO, status=status, previous_seen=use)
        st = decide(view, OURS, NEW, T0 + 3 * H).status
        return st.previous_secret_last_seen_at, st.previous_secret_last_seen_client

    at = T0 + 2 * H
    assert seen(in_grace(), LastUse(at, "ns/a", "10.0.0.1")) == (at, "10.0.0.1")
    # a report from before this rotation is of an older secret
    assert seen(in_grace(), LastUse(T0, "ns/a", "10.0.0.1")) == (None, None)
    # only forward (replicas report out of order)
    later = in_grace(previous_secret_last_seen_at=at + H, previous_secret_last_seen_client="10.0.0.9")
    assert seen(later, LastUse(at, "ns/a", "10.0.0.1")) == (at + H, "10.0.0.9")
    # no grace running: nothing to follow
    over = in_grace(previous_secret_hash=None, previous_secret_expires_at=None)
    assert seen(over, LastUse(at, "ns/a", "10.0.0.1")) == (None, None)


def test_a_new_secret_starts_following_afresh_and_a_reissue_is_recorded() -> None:
    status = in_grace(
        consumers_rolled_out_at=T0 + 2 * H,
        previous_secret_last_seen_at=T0 + 2 * H,
        previous_secret_last_seen_client="10.0.0.1",
    )
    rotated = decide(
        TokenView(spec=AUTO, status=status, rotate_request="again"), OURS, NEW, T0 + 3 * H
    ).status
    assert rotated.previous_secret_hash == H1
    assert (rotated.consumers_rolled_out_at, rotated.previous_secret_last_seen_at) == (None, None)
    assert rotated.previous_secret_last_seen_client is None
    edited = SecretView(exists=True, owned=True, client_id=CID, secret_hash=H9, labels=LABELS)
    reissued = decide(TokenView(spec=AUTO, status=status), edited, NEW, T0 + 3 * H).status
    assert reissued.reissued_at == T0 + 3 * H
    assert (reissued.previous_secret_hash, reissued.consumers_rolled_out_at) == (None, None)


def test_the_grace_ends_early_once_consumers_rolled_out_and_the_previous_secret_went_quiet() -> None:
    rotation = rotation_name(T0 + H, H1)
    settle = timedelta(minutes=10)
    status = in_grace(rolled_out_for=rotation)

    def step(st: ServiceTokenStatus, following: Following, now: datetime) -> Plan:
        return decide(TokenView(spec=AUTO, status=st, following=following, name="tok"), OURS, NEW, now)

    waiting = step(status, Following(settle, rotation, ("Deployment/api",)), T0 + 2 * H)
    pending = find(waiting.status.conditions, ROTATING)
    assert pending is not None
    assert (pending.status, pending.reason) == ("True", "ConsumersPending")
    assert "waiting for Deployment/api to roll out" in pending.message
    assert waiting.status.previous_secret_hash == H2
    assert waiting.wake_at == T0 + 2 * H + timedelta(minutes=5)  # looks again (an hour in: every 5 min)
    done = step(waiting.status, Following(settle, rotation), T0 + 3 * H)
    assert done.status.consumers_rolled_out_at == T0 + 3 * H
    assert [e.reason for e in done.events] == ["ConsumersRolledOut"]
    assert done.wake_at == T0 + 3 * H + settle
    assert done.status.previous_secret_hash == H2  # still works while settling
    ended = step(done.status, Following(settle), T0 + 3 * H + settle)
    assert ended.status.previous_secret_hash is None
    assert ended.status.previous_secret_expires_at is None
    assert [e.reason for e in ended.events] == ["GraceEnded"]
    assert "settle period 10m" in ended.events[0].message
    rotating = find(ended.status.conditions, ROTATING)
    assert rotating is not None
    assert (rotating.status, rotating.reason) == ("False", "Complete")
    # afterwards: quiet
    after = step(ended.status, Following(settle), T0 + 4 * H)
    assert after.events == ()
    assert find(after.status.conditions, ROTATING) == rotating


def test_without_rollout_the_grace_runs_its_course_and_says_so() -> None:
    spec = ServiceTokenSpec(duration="100h", secret_name="tok")
    plan = decide(TokenView(spec=spec, status=in_grace()), OURS, NEW, T0 + 2 * H)
    rotating = find(plan.status.conditions, ROTATING)
    assert rotating is not None
    assert (rotating.status, rotating.reason) == ("True", "GracePeriod")
    assert "works until 2026-01-02T01:00:00Z" in rotating.message
    assert plan.wake_at == T0 + 25 * H
    never = decide(
        TokenView(spec=spec, status=ServiceTokenStatus.model_validate(issued())), OURS, NEW, T0 + H
    )
    assert find(never.status.conditions, ROTATING) is None


def test_spec_check_names_the_bad_field() -> None:
    ServiceTokenSpec(duration="1h", renew_before="10m").check()
    with pytest.raises(ValueError, match=r"^spec\.renewBefore: not a duration"):
        ServiceTokenSpec(duration="1h", renew_before="10 minutes").check()
    with pytest.raises(ValueError, match=r"^spec\.duration: duration must be positive"):
        ServiceTokenSpec(duration="0s").check()


def test_an_edited_secret_template_reaches_the_secret_without_touching_credentials() -> None:
    spec = ServiceTokenSpec.model_validate(
        {"duration": "100h", "secretName": "tok", "secretTemplate": {"labels": {"team": "a"}}}
    )
    token = TokenView(spec=spec, status=ServiceTokenStatus.model_validate(issued()), name="tok")
    plan = decide(token, OURS, NEW, T0 + H)
    assert plan.action is Action.NONE
    assert plan.pending is None
    assert plan.secret is not None
    assert plan.secret.client_id is None  # no new secret: the data stays as it is
    assert plan.secret.metadata.labels == {"team": "a", **LABELS}
    assert (plan.status.client_id, plan.status.secret_hash) == (CID, H1)
    assert [e.reason for e in plan.events] == ["SecretUpdated"]
    # Once the Secret carries it, nothing more to write.
    done = SecretView(
        exists=True,
        owned=True,
        client_id=CID,
        secret_hash=H1,
        labels=plan.secret.metadata.labels,
        annotations=plan.secret.metadata.annotations,
    )
    again = decide(token, done, NEW, T0 + 2 * H)
    assert again.secret is None
    assert again.events == ()


def test_a_secret_laid_out_otherwise_is_rewritten_with_the_same_credentials() -> None:
    spec = ServiceTokenSpec.model_validate({"duration": "100h", "secretName": "tok"})
    token = TokenView(spec=spec, status=ServiceTokenStatus.model_validate(issued()), name="tok")
    stale = SecretView(exists=True, owned=True, client_id=CID, secret_hash=H1, data_current=False)
    plan = decide(token, stale, NEW, T0 + H)
    assert plan.action is Action.NONE  # not a reissue: the credentials stay
    assert plan.pending is None
    assert plan.secret is not None
    assert (plan.secret.client_id, plan.secret.rerender) == (None, True)
    assert [e.reason for e in plan.events] == ["SecretUpdated"]
    assert (plan.status.client_id, plan.status.secret_hash) == (CID, H1)


def test_someone_elses_secret_is_never_relabelled() -> None:
    spec = ServiceTokenSpec.model_validate({"secretTemplate": {"labels": {"team": "a"}}})
    token = TokenView(spec=spec, status=ServiceTokenStatus(), name="tok")
    assert decide(token, SecretView(exists=True, owned=False), NEW, T0).secret is None


def test_a_secret_from_before_the_template_record_gets_it_quietly() -> None:
    spec = ServiceTokenSpec.model_validate({"duration": "100h", "secretTemplate": {"labels": {"team": "a"}}})
    token = TokenView(spec=spec, status=ServiceTokenStatus.model_validate(issued()), name="tok")
    older = SecretView(exists=True, owned=True, client_id=CID, secret_hash=H1, labels={"team": "a", **LABELS})
    plan = decide(token, older, NEW, T0 + H)
    assert plan.secret is not None
    assert SECRET_TEMPLATE_ANNOTATION in plan.secret.metadata.annotations
    assert plan.events == ()  # an upgrade does not post an Event per token
