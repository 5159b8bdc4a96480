"""Inactive tokens (spec.inactivity) as tables: the rule, the state, and the whole plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gatepass.contract import MANAGED_BY, TOKEN_LABEL, LastUse
from gatepass.decisions.inactivity import DEFAULT, SPEC, WARNING, State, assess, last_activity, rule_for
from gatepass.decisions.token.chains import Action
from gatepass.decisions.token.inputs import Candidate, SecretView, TokenView
from gatepass.decisions.token.plan import decide
from gatepass.models.conditions import INACTIVE_SOON, READY, find
from gatepass.models.servicetoken import Inactivity, ServiceTokenSpec, ServiceTokenStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = timedelta(days=1)
CID = "0123456789abcdef0123456789abcdef.access"
H1 = "sha256:" + "1" * 64
LABELS = {**MANAGED_BY, TOKEN_LABEL: "tok"}
SECRET = SecretView(exists=True, owned=True, client_id=CID, secret_hash=H1, labels=LABELS)
NEW = Candidate("fedcba9876543210fedcba9876543210.access", "sha256:" + "9" * 64)
DAYS90 = Inactivity(after="2160h")


# --- the rule -----------------------------------------------------------------------------
def test_a_tokens_own_rule_wins_over_the_default_and_never_opts_out() -> None:
    own = rule_for(Inactivity(after="720h", action="delete"), DAYS90)
    assert own is not None
    assert (own.after, own.action, own.source) == (30 * D, "delete", SPEC)
    default = rule_for(None, DAYS90)
    assert default is not None
    assert (default.after, default.action, default.source) == (
        90 * D,
        "disable",
        DEFAULT,
    )
    assert rule_for(Inactivity(after="never"), DAYS90) is None
    assert rule_for(None, None) is None


@pytest.mark.parametrize("after", ["719h", "8761h", "10d", "", "forever"])
def test_after_outside_cloudflares_bounds_is_refused(after: str) -> None:
    with pytest.raises(ValueError, match=r"720h and 8760h|duration"):
        rule_for(Inactivity(after=after), None)


# --- the state ----------------------------------------------------------------------------
def status(**over: Any) -> ServiceTokenStatus:
    return ServiceTokenStatus.model_validate({"client_id": CID, "secret_hash": H1, "created_at": T0, **over})


RULE = rule_for(DAYS90, None)


@pytest.mark.parametrize(
    ("case", "st", "named_by", "now", "state", "since"),
    [
        ("never used: counts from creation", status(), None, T0 + 10 * D, State.ACTIVE, T0),
        ("a week before: soon", status(), None, T0 + 83 * D, State.SOON, T0),
        ("overdue", status(), None, T0 + 90 * D, State.DUE, T0),
        (
            "used since: counts from the use",
            status(last_seen_at=T0 + 50 * D),
            None,
            T0 + 90 * D,
            State.ACTIVE,
            T0 + 50 * D,
        ),
        (
            "reactivated: counts from then",
            status(reactivated_at=T0 + 85 * D),
            None,
            T0 + 100 * D,
            State.ACTIVE,
            T0 + 85 * D,
        ),
        ("named by a policy: exempt", status(), "ns/app", T0 + 400 * D, State.EXEMPT, T0),
        ("not issued yet: nothing to measure", ServiceTokenStatus(), None, T0 + 400 * D, State.OFF, None),
        # status is tenant-writable: a last use in the future does not postpone forever
        (
            "a future last use counts as now",
            status(last_seen_at=T0 + 9999 * D),
            None,
            T0 + 10 * D,
            State.ACTIVE,
            T0 + 10 * D,
        ),
    ],
)
def test_assess(
    case: str,
    st: ServiceTokenStatus,
    named_by: str | None,
    now: datetime,
    state: State,
    since: datetime | None,
) -> None:
    idle = assess(RULE, st, named_by, now)
    assert (idle.state, idle.since) == (state, since)


def test_no_rule_is_off_and_wakes_for_nothing() -> None:
    idle = assess(None, status(), None, T0 + 400 * D)
    assert idle.state is State.OFF
    assert idle.wake_at == ()


def test_it_wakes_for_the_warning_and_the_deadline_but_not_when_exempt() -> None:
    assert assess(RULE, status(), None, T0).wake_at == (T0 + 90 * D - WARNING, T0 + 90 * D)
    assert assess(RULE, status(), "ns/app", T0).wake_at == ()


def test_last_activity_is_the_latest_of_use_creation_and_reactivation() -> None:
    st = status(last_seen_at=T0 + 2 * D, reactivated_at=T0 + D)
    assert last_activity(st, T0 + 10 * D) == T0 + 2 * D


def test_a_use_reported_since_status_last_moved_counts() -> None:
    """status.lastSeenAt moves in steps; a use inside a step still postpones the deadline."""
    st = status(last_seen_at=T0 + 2 * D)
    assert last_activity(st, T0 + 10 * D, reported=T0 + 2 * D + timedelta(minutes=4)) == (
        T0 + 2 * D + timedelta(minutes=4)
    )
    assert last_activity(st, T0 + 10 * D, reported=T0 + D) == T0 + 2 * D  # an older report
    assert last_activity(st, T0 + 3 * D, reported=T0 + 30 * D) == T0 + 3 * D  # never after now
    due = T0 + 2 * D + RULE.after
    assert assess(RULE, st, None, due).state is State.DUE
    assert assess(RULE, st, None, due, reported=T0 + 2 * D + timedelta(minutes=4)).state is State.SOON


# --- the whole plan -----------------------------------------------------------------------
@dataclass
class Case:
    name: str
    now: datetime
    spec: dict[str, Any] = field(default_factory=lambda: {"inactivity": {"after": "2160h"}})
    status: dict[str, Any] = field(default_factory=dict)
    default: Inactivity | None = None
    named_by: str | None = None
    last_seen: datetime | None = None
    reactivate: str | None = None
    # expectations
    events: tuple[str, ...] = ()
    ready: tuple[str, str] = ("True", "Issued")
    soon: tuple[str, str] | None = ("False", "Active")  # InactiveSoon (status, reason); None: absent
    deactivated: bool = False
    delete: bool = False
    wake: datetime | str | None = "any"


def was(ready: str, soon: str | None) -> dict[str, Any]:
    """A status whose conditions say Ready's reason and InactiveSoon's status, as last written."""
    conds = [
        {
            "type": READY,
            "status": "False" if ready == "Inactive" else "True",
            "reason": ready,
            "lastTransitionTime": T0,
        }
    ]
    if soon is not None:
        conds.append({"type": INACTIVE_SOON, "status": soon, "reason": "x", "lastTransitionTime": T0})
    return {"conditions": conds}


CASES = [
    Case("no rule: nothing said", T0 + 400 * D, spec={}, soon=None, wake=None),
    Case("a token of 10 days: active, wakes a week before day 90", T0 + 10 * D, wake=T0 + 83 * D),
    Case(
        "a week before: a Warning, once",
        T0 + 84 * D,
        events=("InactiveSoon",),
        soon=("True", "InactiveSoon"),
        wake=T0 + 90 * D,
    ),
    Case(
        "still within the week: no second Warning",
        T0 + 85 * D,
        status=was("Issued", "True"),
        soon=("True", "InactiveSoon"),
    ),
    Case(
        "overdue with disable: deactivated, Ready False Inactive, a Warning",
        T0 + 90 * D,
        status=was("Issued", "True"),
        events=("Inactive",),
        ready=("False", "Inactive"),
        soon=("False", "Deactivated"),
        deactivated=True,
        wake=None,  # nothing changes by time alone any more
    ),
    Case(
        "overdue by the operator's default",
        T0 + 91 * D,
        spec={},
        default=DAYS90,
        events=("Inactive",),
        ready=("False", "Inactive"),
        soon=("False", "Deactivated"),
        deactivated=True,
    ),
    Case(
        "overdue with delete: the plan deletes the token, with a Warning first",
        T0 + 90 * D,
        spec={"inactivity": {"after": "2160h", "action": "delete"}},
        events=("DeletedInactive",),
        delete=True,
    ),
    Case(
        "named by a policy of its namespace: never touched",
        T0 + 400 * D,
        spec={"inactivity": {"after": "2160h", "action": "delete"}},
        named_by="team-a/reports",
        soon=("False", "Exempt"),
        wake=None,
    ),
    Case(
        "a use reported: no longer overdue, deactivation lifted",
        T0 + 95 * D,
        status={"deactivated_at": T0 + 90 * D, **was("Inactive", "False")},
        last_seen=T0 + 94 * D,
        events=("Reactivated",),
    ),
    Case(
        "reactivate annotation: counts from now",
        T0 + 95 * D,
        status={"deactivated_at": T0 + 90 * D, **was("Inactive", "False")},
        reactivate="r1",
        events=("Reactivated",),  # one Event, not one per cause
        wake=T0 + 95 * D + 83 * D,
    ),
    Case(
        "reactivate annotation already acted on: still overdue",
        T0 + 95 * D,
        status={"deactivated_at": T0 + 90 * D, "last_reactivate_request": "r1", **was("Inactive", "False")},
        reactivate="r1",
        ready=("False", "Inactive"),
        soon=("False", "Deactivated"),
        deactivated=True,
    ),
    Case(
        "after raised to never: deactivation lifted, the condition gone",
        T0 + 95 * D,
        spec={"inactivity": {"after": "never"}},
        status={"deactivated_at": T0 + 90 * D, **was("Inactive", "False")},
        events=("Reactivated",),
        soon=None,
    ),
    Case(
        "disabled and overdue: Disabled says it first, still deactivated",
        T0 + 91 * D,
        spec={"enabled": False, "inactivity": {"after": "2160h"}},
        status=was("Disabled", "False"),
        ready=("False", "Disabled"),
        soon=("False", "Deactivated"),
        deactivated=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    spec = ServiceTokenSpec.model_validate({"duration": "forever", **case.spec})
    st = ServiceTokenStatus.model_validate(
        {"client_id": CID, "secret_hash": H1, "created_at": T0, "observed_duration": "forever", **case.status}
    )
    token = TokenView(
        spec=spec,
        status=st,
        name="tok",
        last_seen=None if case.last_seen is None else LastUse(case.last_seen),
        reactivate_request=case.reactivate,
        inactivity=rule_for(spec.inactivity, case.default),
        named_by=case.named_by,
    )
    plan = decide(token, SECRET, NEW, case.now)
    assert [e.reason for e in plan.events] == list(case.events)
    assert plan.delete is case.delete
    if case.delete:  # nothing else is written: the token goes
        assert (plan.action, plan.secret, plan.pending, plan.status) == (Action.NONE, None, None, st)
        return
    assert plan.action is Action.NONE
    assert plan.secret is None
    ready = find(plan.status.conditions, READY)
    assert ready is not None
    assert (ready.status, ready.reason) == case.ready
    soon = find(plan.status.conditions, INACTIVE_SOON)
    assert (soon and (soon.status, soon.reason)) == case.soon
    assert (plan.status.deactivated_at is not None) is case.deactivated
    if case.wake != "any":
        assert plan.wake_at == case.wake


def test_a_deactivation_keeps_its_time_and_says_how_to_undo_it() -> None:
    spec = ServiceTokenSpec.model_validate({"inactivity": {"after": "720h"}})
    st = ServiceTokenStatus(client_id=CID, secret_hash=H1, created_at=T0, deactivated_at=T0 + 31 * D)
    token = TokenView(spec=spec, status=st, name="tok", inactivity=rule_for(spec.inactivity, None))
    plan = decide(token, SECRET, NEW, T0 + 40 * D)
    assert plan.status.deactivated_at == T0 + 31 * D  # sealed: rewritten only when it changes
    ready = find(plan.status.conditions, READY)
    assert ready is not None
    assert ready.message == (
        "not used since 2026-01-01T00:00:00Z (spec.inactivity: after 720h); deactivated at"
        " 2026-02-01T00:00:00Z: annotate gatepass.dev/reactivate (kubectl gatepass reactivate tok)"
        " to use it again"
    )


def test_a_reactivate_annotation_present_at_creation_is_not_an_ask() -> None:
    spec = ServiceTokenSpec.model_validate({"inactivity": {"after": "720h"}})
    token = TokenView(
        spec=spec,
        status=ServiceTokenStatus(),
        name="tok",
        reactivate_request="r0",
        inactivity=rule_for(spec.inactivity, None),
    )
    plan = decide(token, SecretView(exists=False), NEW, T0)
    assert [e.reason for e in plan.events] == ["Issued"]
    assert (plan.status.last_reactivate_request, plan.status.reactivated_at) == ("r0", None)
    assert plan.wake_at == T0 + 23 * D  # the first InactiveSoon: a week before day 30
