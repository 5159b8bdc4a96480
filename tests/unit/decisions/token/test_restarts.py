"""spec.rollout Auto for one token: what is followed, when a rollout is due, what is
recorded and said; and how the plan carries it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gatepass.contract import LastUse
from gatepass.decisions.rollout import Consumer, Following, Workload, rotation_name
from gatepass.decisions.token import restarts
from gatepass.decisions.token.inputs import Candidate, SecretView, TokenView
from gatepass.decisions.token.plan import decide
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
SETTLE = timedelta(minutes=10)
CID = "0123456789abcdef0123456789abcdef.access"
H1, H2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
AUTO = ServiceTokenSpec(duration="100h", secret_name="tok", rollout="Auto")
NEW = Candidate("fedcba9876543210fedcba9876543210.access", "sha256:" + "9" * 64)
OURS = SecretView(exists=True, owned=True, client_id=CID, secret_hash=H2)
ROTATION = rotation_name(T0, H2)
# Rotated at T0 to H2, H1 in its grace: the consumers are still to be restarted.
ROTATED = ServiceTokenStatus(
    client_id=CID,
    secret_hash=H2,
    previous_secret_hash=H1,
    previous_secret_expires_at=T0 + 24 * H,
    created_at=T0 - H,
    rotated_at=T0,
    expires_at=T0 + 99 * H,
    observed_duration="100h",
)


def test_only_a_rollout_allowed_and_asked_for_is_followed() -> None:
    assert restarts.follow(AUTO, ROTATED, False, SETTLE) is None
    assert restarts.follow(ServiceTokenSpec(), ROTATED, True, SETTLE) is None
    # Not yet restarted for this rotation: nothing to list.
    assert restarts.follow(AUTO, ROTATED, True, SETTLE) == Following(SETTLE)
    done = ROTATED.model_copy(update={"rolled_out_for": ROTATION})
    assert restarts.follow(AUTO, done, True, SETTLE) == restarts.Look(ROTATION)
    over = done.model_copy(update={"consumers_rolled_out_at": T0 + H})
    assert restarts.follow(AUTO, over, True, SETTLE) == Following(SETTLE)


def test_a_listing_says_which_consumers_are_still_rolling_out() -> None:
    pending = Workload(Consumer("Deployment", "api", True, ROTATION, done=False), True)
    finished = Workload(Consumer("Deployment", "web", True, ROTATION, done=True), True)
    look = restarts.Look(ROTATION)
    seen = restarts.looked(look, SETTLE, [pending, finished], None)
    assert seen == Following(SETTLE, ROTATION, ("Deployment/api",))
    assert restarts.looked(look, SETTLE, None, None) is None  # refused (403): not followed


def test_a_rollout_is_due_once_per_new_secret() -> None:
    assert restarts.due(AUTO, ROTATED) == ROTATION
    assert restarts.due(AUTO, restarts.recorded(ROTATED, ROTATION)) is None
    assert restarts.due(ServiceTokenSpec(), ROTATED) is None


def test_what_a_rollout_says() -> None:
    api, files = Consumer("Deployment", "api", True, None), Consumer("StatefulSet", "db", False, None)
    event = restarts.rolled_out([api], [api, files], ["Deployment/gone"])
    assert (event.type, event.reason) == ("Normal", "RolledOut")
    assert "restarted Deployment/api" in event.message
    assert "StatefulSet/db read the Secret as a file" in event.message
    assert "Deployment/gone, not found" in event.message
    refused = restarts.forbidden("team-a", "Forbidden")
    assert (refused.type, refused.reason) == ("Warning", "RolloutNotAllowed")
    assert "workloads of namespace team-a (Forbidden)" in refused.message


def test_allowed_the_plan_restarts_after_the_status_and_records_nothing_yet() -> None:
    plan = decide(TokenView(spec=AUTO, status=ROTATED, name="tok", rollout_allowed=True), OURS, NEW, T0 + H)
    assert plan.restart == ROTATION
    assert plan.status.rolled_out_for is None  # recorded once the restarts are done
    assert "RolloutNotAllowed" not in [e.reason for e in plan.events]


def test_not_allowed_the_plan_records_the_rotation_and_warns_in_its_one_status_write() -> None:
    plan = decide(TokenView(spec=AUTO, status=ROTATED, name="tok"), OURS, NEW, T0 + H)
    assert plan.restart is None
    assert plan.status.rolled_out_for == ROTATION
    assert [e.reason for e in plan.events].count("RolloutNotAllowed") == 1
    again = decide(TokenView(spec=AUTO, status=plan.status, name="tok"), OURS, NEW, T0 + 2 * H)
    assert "RolloutNotAllowed" not in [e.reason for e in again.events]  # once per new secret


def test_the_report_of_the_previous_secret_goes_with_its_grace() -> None:
    use = LastUse(T0 + H)
    in_grace = decide(TokenView(spec=AUTO, status=ROTATED, previous_seen=use), OURS, NEW, T0 + H)
    assert not in_grace.forget_previous
    over = decide(TokenView(spec=AUTO, status=ROTATED, previous_seen=use), OURS, NEW, T0 + 25 * H)
    assert over.status.previous_secret_hash is None
    assert over.forget_previous
    unreported = decide(TokenView(spec=AUTO, status=ROTATED), OURS, NEW, T0 + 25 * H)
    assert not unreported.forget_previous  # nothing to drop
