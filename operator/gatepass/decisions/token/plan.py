"""The whole decision for one token: :func:`plan` over what was gathered, returning
the :class:`Plan` the executor (operator/reconcile.py) carries out step by step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gatepass.decisions.inactivity import Assessment, State, assess
from gatepass.decisions.token import restarts
from gatepass.decisions.token.chains import Action, Input
from gatepass.decisions.token.conditions import expiring_soon, inactive_soon, set_ready
from gatepass.decisions.token.credentials import change_credentials, credential_action, credential_event
from gatepass.decisions.token.draft import Draft, ts
from gatepass.decisions.token.inputs import Candidate, Observed, SecretView, TokenView, view
from gatepass.decisions.token.lifetime import (
    change_grace,
    expire_previous,
    next_wake,
    observe_use,
    refresh,
    rotating,
)
from gatepass.decisions.token.secret import SecretWrite, secret_write
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceTokenStatus

UNTRUSTED = Event(
    "Warning",
    "UntrustedStatus",
    "status was edited by someone other than the operator (status.seal does not match the "
    "credential record, the record is older than one the operator wrote since, or a value does "
    "not parse): the gateway ignores the record and new credentials are issued",
)


@dataclass(frozen=True)
class Plan:
    action: Action
    status: ServiceTokenStatus  # the status once everything below is done
    # Written (sealed) before the Secret when a new secret goes in: see crash safety.
    pending: ServiceTokenStatus | None = None
    secret: SecretWrite | None = None
    events: tuple[Event, ...] = ()
    wake_at: datetime | None = None
    reason: str = ""  # why the action, for logs
    delete: bool = False  # spec.inactivity: delete the token (after posting the events)
    # spec.rollout Auto, allowed: restart the consumers for this rotation once ``status`` is
    # written, then record it (restarts.recorded, restarts.rolled_out).
    restart: str | None = None
    forget_previous: bool = False  # the grace is over: drop the report of the previous secret's use


def plan(seen: Observed, candidate: Candidate) -> Plan:
    """The decision over what was gathered. Raises ValueError on an unparsable spec."""
    return decide(view(seen), seen.secret, candidate, seen.now)


def decide(token: TokenView, secret: SecretView, candidate: Candidate, now: datetime) -> Plan:
    """The whole reconcile decision. Raises ValueError on an unparsable spec."""
    d = Draft(status=token.status.model_copy(deep=True))
    st = d.status
    observe_use(d, token, now)
    idle = _assess(token, st, now)
    if idle.state is State.DUE and idle.rule is not None and idle.rule.action == "delete":
        return _deletion(token, idle)
    action, why = credential_action(Input(token, secret, now, token.status))
    if token.tampered:
        d.events.append(UNTRUSTED)
    pending = _new_secret(d, token, action, why, candidate, now)
    if action is not Action.CONFLICT:
        refresh(d, token, now)
    change_grace(d, token, now)
    expire_previous(d, now)
    rotation_wake = rotating(d, token, now)
    if st.created_at != token.status.created_at:
        # Assessed again only when this decision issued the token: inactivity counts from now.
        idle = _assess(token, st, now)
    overdue = idle.state is State.DUE and idle.rule is not None and idle.rule.action == "disable"
    st.deactivated_at = (st.deactivated_at or now) if overdue else None
    set_ready(d, Input(token, secret, now, st, action))
    expiring_soon(d, token, now)
    inactive_soon(d, token, idle, now)
    st.secret_name = token.secret_name
    st.observed_generation = token.generation
    restart = _rollout(d, token)
    return Plan(
        action=action,
        status=st,
        pending=pending,
        secret=secret_write(d, token, secret, action, st.client_id),
        events=tuple(d.events),
        wake_at=next_wake(st, token.spec, now, (*idle.wake_at, *rotation_wake)),
        reason=why,
        restart=restart,
        forget_previous=st.previous_secret_hash is None and token.previous_seen is not None,
    )


def _assess(token: TokenView, st: ServiceTokenStatus, now: datetime) -> Assessment:
    return assess(token.inactivity, st, token.named_by, now, token.reported_use)


def _new_secret(
    d: Draft, token: TokenView, action: Action, why: str, candidate: Candidate, now: datetime
) -> ServiceTokenStatus | None:
    """The credential change in status, and the pending record written before the Secret."""
    st = d.status
    # FINALIZE completes the issuance recorded with the pending hash.
    kind = Action(token.status.pending_action or "Reissue") if action is Action.FINALIZE else action
    if kind.generates:
        change_credentials(d, token, kind, now)
        credential_event(d, kind, why, token)
    pending = None
    if action.generates:
        # A Client ID stays; a new token (or a distrusted record) has none and takes the candidate's.
        st.client_id = token.status.client_id or candidate.client_id
        st.secret_hash = candidate.secret_hash
        pending = token.status.model_copy(
            update={
                "pending_secret_hash": candidate.secret_hash,
                "pending_client_id": st.client_id,
                "pending_action": action.value,
            }
        )
    if action is Action.FINALIZE:
        st.secret_hash, st.client_id = token.status.pending_secret_hash, token.status.pending_client_id
    # A pending secret that did not reach the Secret was never delivered: drop it.
    st.pending_secret_hash = st.pending_client_id = st.pending_action = None
    return pending


def _rollout(d: Draft, token: TokenView) -> str | None:
    """spec.rollout Auto, once per new secret: the rotation the executor restarts the
    consumers for. Not allowed by the cluster admin: recorded at once, with a Warning."""
    rotation = restarts.due(token.spec, d.status)
    if rotation is None or token.rollout_allowed:
        return rotation
    d.status.rolled_out_for = rotation
    d.events.append(restarts.NOT_ALLOWED)
    return None


def _deletion(token: TokenView, idle: Assessment) -> Plan:
    """spec.inactivity action delete, overdue: the token goes (its Secret with it, by GC)."""
    assert idle.rule is not None
    msg = (
        f"not used since {ts(idle.since)} ({idle.rule.source}: after {idle.rule.text}, action delete):"
        f" deleting the ServiceToken; its Secret {token.secret_name} goes with it"
    )
    event = Event("Warning", "DeletedInactive", msg)
    return Plan(Action.NONE, token.status, events=(event,), reason=msg, delete=True)
