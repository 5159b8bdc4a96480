"""The conditions a person reads: Ready (:data:`READY_CHECKS`), ExpiringSoon and
InactiveSoon, and the Event when one of them turns."""

from __future__ import annotations

from datetime import datetime

from gatepass.contract import REACTIVATE_ANNOTATION
from gatepass.decisions.inactivity import Assessment, State, last_activity
from gatepass.decisions.token.chains import Action, Chain, Input, first
from gatepass.decisions.token.draft import Draft, human, ts
from gatepass.decisions.token.inputs import TokenView
from gatepass.models.conditions import (
    EXPIRING_SOON,
    INACTIVE_SOON,
    READY,
    ConditionStatus,
    drop_condition,
    find,
    set_condition,
)
from gatepass.models.events import Event, EventType

Ready = tuple[ConditionStatus, str, str]


def _conflict(i: Input) -> Ready | None:
    if i.action is Action.CONFLICT:
        return (
            "False",
            "SecretConflict",
            f"Secret {i.token.secret_name} exists and is not owned by this token",
        )
    return None


def _disabled(i: Input) -> Ready | None:
    return (
        None if i.token.spec.enabled else ("False", "Disabled", "the token is disabled (spec.enabled: false)")
    )


def _inactive(i: Input) -> Ready | None:
    token, st, rule = i.token, i.status, i.token.inactivity
    if st.deactivated_at is None or rule is None:
        return None
    since = last_activity(st, i.now, token.reported_use)
    return (
        "False",
        "Inactive",
        f"not used since {ts(since)} ({rule.source}: after {rule.text}); deactivated at"
        f" {ts(st.deactivated_at)}: annotate {REACTIVATE_ANNOTATION} (kubectl gatepass reactivate"
        f" {token.name}) to use it again",
    )


def _expired(i: Input) -> Ready | None:
    st = i.status
    if st.expires_at is not None and i.now >= st.expires_at:
        return "False", "Expired", f"expired at {ts(st.expires_at)}; refresh it to extend"
    return None


def _issued(i: Input) -> Ready:
    st = i.status
    until = "never expire" if st.expires_at is None else f"are valid until {ts(st.expires_at)}"
    return "True", "Issued", f"credentials in Secret {i.token.secret_name} {until}"


READY_CHECKS: Chain[Ready] = (
    ("SecretConflict", _conflict),
    ("Disabled", _disabled),
    ("Inactive", _inactive),
    ("Expired", _expired),
    ("Issued", _issued),
)
# When Ready turns to one of these reasons, an Event of that type says so.
READY_EVENTS: dict[str, EventType] = {
    "Expired": "Warning",
    "Disabled": "Normal",
    "Inactive": "Warning",
    "SecretConflict": "Warning",
}


def ready(facts: Input) -> Ready:
    answer = first(READY_CHECKS, facts)
    assert answer is not None, "the last Ready check always answers"
    return answer


def set_ready(d: Draft, facts: Input) -> None:
    """Ready as the chain answers, and the Event when its reason changes."""
    st, token = d.status, facts.token
    old = find(token.status.conditions, READY)
    status, reason, message = ready(facts)
    st.conditions = set_condition(st.conditions, READY, status, reason, message, facts.now, token.generation)
    if reason == (old.reason if old else None):
        return
    if reason in READY_EVENTS:
        d.events.append(Event(READY_EVENTS[reason], reason, message))
    elif old is not None and old.reason == "Disabled":
        d.events.append(Event("Normal", "Enabled", "the token is enabled again"))
    elif old is not None and old.reason == "Inactive" and not d.has("Reactivated"):
        d.events.append(Event("Normal", "Reactivated", "the token is no longer inactive"))


def _inactive_answer(idle: Assessment, deactivated_at: datetime | None) -> tuple[ConditionStatus, str, str]:
    rule = idle.rule
    assert rule is not None
    verb = "deactivated" if rule.action == "disable" else "deleted"
    by = f"{rule.source}: after {rule.text}"
    if idle.state is State.EXEMPT:
        return "False", "Exempt", f"named by a policy of AccessApplication {idle.named_by}: never {verb}"
    if idle.state is State.DUE:
        return "False", "Deactivated", f"deactivated at {ts(deactivated_at)} ({by})"
    if idle.state is State.SOON:
        msg = (
            f"not used since {ts(idle.since)}: {verb} at {ts(idle.deadline)} ({by}) unless used,"
            f" or reactivated with {REACTIVATE_ANNOTATION}"
        )
        return "True", "InactiveSoon", msg
    return "False", "Active", f"last active {ts(idle.since)}; {verb} if unused until {ts(idle.deadline)}"


def inactive_soon(d: Draft, token: TokenView, idle: Assessment, now: datetime) -> None:
    """The InactiveSoon condition (absent when no inactivity rule applies), and its Warning."""
    st = d.status
    if idle.state is State.OFF or idle.rule is None:
        st.conditions = drop_condition(st.conditions, INACTIVE_SOON)
        return
    old = find(token.status.conditions, INACTIVE_SOON)
    status, reason, message = _inactive_answer(idle, st.deactivated_at)
    st.conditions = set_condition(
        st.conditions, INACTIVE_SOON, status, reason, message, now, token.generation
    )
    if status == "True" and (old is None or old.status != "True"):
        d.events.append(Event("Warning", "InactiveSoon", message))


def expiring_soon(d: Draft, token: TokenView, now: datetime) -> None:
    st, spec, gen = d.status, token.spec, token.generation
    alert = spec.alert_window
    old_soon = find(token.status.conditions, EXPIRING_SOON)
    expired = st.expires_at is not None and now >= st.expires_at
    if (
        st.expires_at is not None
        and alert is not None
        and spec.enabled
        and st.expires_at - alert <= now < st.expires_at
    ):
        left = st.expires_at - now
        msg = f"expires at {ts(st.expires_at)} (in {human(left)}); refresh it or set renewBefore"
        st.conditions = set_condition(st.conditions, EXPIRING_SOON, "True", "ExpiringSoon", msg, now, gen)
        if old_soon is None or old_soon.status != "True":
            d.events.append(Event("Warning", "ExpiringSoon", msg))
    else:
        reason = "Expired" if expired else "NotExpiringSoon"
        msg = "already expired" if expired else "not within alertBefore of expiry"
        st.conditions = set_condition(st.conditions, EXPIRING_SOON, "False", reason, msg, now, gen)
