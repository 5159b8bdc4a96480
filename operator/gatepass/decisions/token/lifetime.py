"""A token's lifetime in status: use observed, refresh, the previous secret's grace, the
rotation followed to its end, and the next moment time alone changes the decision."""

from __future__ import annotations

from datetime import datetime, timedelta

from gatepass.contract import PREVIOUS_SECRET_EXPIRES_ANNOTATION, REACTIVATE_ANNOTATION, parse_ts
from gatepass.decisions import rollout
from gatepass.decisions.token.credentials import rotation_due
from gatepass.decisions.token.draft import Draft, ts
from gatepass.decisions.token.inputs import TokenView
from gatepass.models.conditions import ROTATING, drop_condition, set_condition
from gatepass.models.durations import GRACE_MAX
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus

# status.lastSeenAt moves by this much at least: a status write per used token per report
# (every minute) would be ~1,700 writes a second at 100k tokens in use.
LAST_SEEN_STEP = timedelta(minutes=5)


def observe_use(d: Draft, token: TokenView, now: datetime) -> None:
    """What says the token is in use: the gateway's last-seen report, a reactivate request."""
    st, use = d.status, token.last_seen
    if use is not None and (st.last_seen_at is None or use.at >= st.last_seen_at + LAST_SEEN_STEP):
        # Only forward (replicas report out of order), and in steps: decisions read the
        # report itself (TokenView.reported_use), status is for people.
        st.last_seen_at, st.last_seen_application, st.last_seen_client = use.at, use.app, use.client
    old = token.previous_seen  # counts for the grace in progress only
    if (
        old is not None
        and st.previous_secret_hash is not None
        and st.rotated_at is not None
        and old.at >= st.rotated_at
        and (st.previous_secret_last_seen_at is None or old.at > st.previous_secret_last_seen_at)
    ):
        st.previous_secret_last_seen_at = old.at
        st.previous_secret_last_seen_application, st.previous_secret_last_seen_client = old.app, old.client
    asked = token.reactivate_request
    if not asked or asked == st.last_reactivate_request:
        return
    st.last_reactivate_request = asked
    if st.created_at is None:
        return  # present at creation: part of the initial state, not an ask
    st.reactivated_at = now
    rule = token.inactivity
    counts = "no inactivity rule applies to this token" if rule is None else "inactivity counts from now"
    d.events.append(Event("Normal", "Reactivated", f"{REACTIVATE_ANNOTATION}={asked}: {counts}"))


def refresh(d: Draft, token: TokenView, now: datetime) -> None:
    """A new expiry on a changed duration, a refresh request, or within renewBefore."""
    st, life = d.status, token.spec.lifetime
    asks: list[str] = []
    if st.observed_duration is not None and st.observed_duration != token.spec.duration:
        asks.append(f"duration changed to {token.spec.duration}")
    if token.refresh_request and token.refresh_request != st.last_refresh_request:
        asks.append(f"refresh requested ({token.refresh_request})")
    renew = token.spec.renew_window
    if (
        renew is not None
        and token.spec.enabled
        and st.expires_at is not None
        and life is not None
        and now >= st.expires_at - renew
    ):
        asks.append(f"within renewBefore ({token.spec.renew_before}) of expiry")
    st.observed_duration = token.spec.duration
    st.last_refresh_request = token.refresh_request
    if not asks:
        return
    st.expires_at = None if life is None else now + life
    st.refreshed_at = now
    until = "never expires" if life is None else f"expires at {ts(st.expires_at)}"
    d.events.append(Event("Normal", "Refreshed", f"{'; '.join(asks)}: now {until}"))


def change_grace(d: Draft, token: TokenView, now: datetime) -> None:
    """gatepass.dev/previous-secret-expires-at: end the previous secret's grace early, or
    move it, within gatepass's bound (at most 30 days after the rotation; Cloudflare states
    none). Once per value."""
    st, asked = d.status, token.previous_expires_request
    if not asked or asked == st.last_previous_secret_expires_request:
        return
    st.last_previous_secret_expires_request = asked
    name = PREVIOUS_SECRET_EXPIRES_ANNOTATION
    at = parse_ts(asked)
    if at is None:
        d.events.append(
            Event("Warning", "InvalidAnnotation", f"ignored {name}={asked!r}: not an RFC 3339 time")
        )
        return
    if st.previous_secret_hash is None:
        msg = f"ignored {name}={asked}: no previous secret is in its grace period"
        d.events.append(Event("Warning", "InvalidAnnotation", msg))
        return
    limit = (st.rotated_at or now) + GRACE_MAX
    if at > limit:
        msg = (
            f"ignored {name}={asked}: a previous secret works at most 30 days after the rotation"
            f" (until {ts(limit)})"
        )
        d.events.append(Event("Warning", "InvalidAnnotation", msg))
        return
    if at <= now:
        st.previous_secret_hash = st.previous_secret_expires_at = None
        d.events.append(Event("Normal", "GraceEnded", f"the previous secret no longer works ({name})"))
        return
    st.previous_secret_expires_at = at
    d.events.append(Event("Normal", "GraceChanged", f"the previous secret works until {ts(at)} ({name})"))


def expire_previous(d: Draft, now: datetime) -> None:
    st = d.status
    if st.previous_secret_expires_at is not None and now >= st.previous_secret_expires_at:
        st.previous_secret_hash = st.previous_secret_expires_at = None


def rotating(d: Draft, token: TokenView, now: datetime) -> tuple[datetime, ...]:
    """The Rotating condition; with spec.rollout Auto, the grace ended early once every
    consumer rolled out and the previous secret went unused (decisions/rollout.py).
    Returns when to look again."""
    st = d.status
    tracked = rollout.track(st, token.following, now)
    if tracked.condition is None:
        st.conditions = drop_condition(st.conditions, ROTATING)
        return ()
    if tracked.completed_at is not None and st.consumers_rolled_out_at is None:
        st.consumers_rolled_out_at = tracked.completed_at
        d.events.append(Event("Normal", "ConsumersRolledOut", tracked.condition[2]))
    if tracked.end_grace is not None:
        st.previous_secret_hash = st.previous_secret_expires_at = None
        ended = f"the previous secret no longer works: {tracked.end_grace}"
        d.events.append(Event("Normal", "GraceEnded", ended))
    status, reason, message = tracked.condition
    st.conditions = set_condition(st.conditions, ROTATING, status, reason, message, now, token.generation)
    return () if tracked.wake_at is None else (tracked.wake_at,)


def next_wake(
    st: ServiceTokenStatus, spec: ServiceTokenSpec, now: datetime, also: tuple[datetime, ...]
) -> datetime | None:
    """The next moment the decision could change by time alone (``also``: the inactivity
    rule's and the rollout's)."""
    times: list[datetime] = [*also]
    due = rotation_due(spec, st)
    if due is not None:
        times.append(due)
    if st.previous_secret_expires_at is not None:
        times.append(st.previous_secret_expires_at)
    if st.expires_at is not None:
        times.append(st.expires_at)
        if spec.alert_window is not None:
            times.append(st.expires_at - spec.alert_window)
        if spec.renew_window is not None and spec.enabled:
            times.append(st.expires_at - spec.renew_window)
    future = [t for t in times if t > now]
    return min(future) if future else None
