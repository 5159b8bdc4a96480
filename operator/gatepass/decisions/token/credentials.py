"""Which credential action a token needs (:data:`CREDENTIAL_CHECKS`), and what it
changes in status: times, the previous secret's grace, the Event that says so."""

from __future__ import annotations

from datetime import datetime, timedelta

from gatepass.contract import ROTATE_GRACE_ANNOTATION
from gatepass.decisions.token.chains import Action, Chain, Input, first
from gatepass.decisions.token.draft import Draft, ts
from gatepass.decisions.token.inputs import TokenView
from gatepass.models.durations import grace_error, parse
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus

Verdict = tuple[Action, str]  # the action, and why (for logs and Events)


def _interrupted_issuance(i: Input) -> Verdict | None:
    st, secret = i.token.status, i.secret
    if st.pending_secret_hash and secret.owned and secret.secret_hash == st.pending_secret_hash:
        return Action.FINALIZE, "completing an interrupted issuance"
    return None


def _secret_missing(i: Input) -> Verdict | None:
    if i.secret.exists:
        return None
    if i.token.status.client_id is None:
        return Action.ISSUE, "new token"
    return Action.REISSUE, "the Secret was deleted"


def _secret_not_ours(i: Input) -> Verdict | None:
    if not i.secret.owned:
        return Action.CONFLICT, "a Secret of that name exists and is not owned by this ServiceToken"
    return None


def _status_untrusted(i: Input) -> Verdict | None:
    if i.token.tampered:
        return Action.REISSUE, "the credential record in status was not written by the operator"
    return None


def _status_lost(i: Input) -> Verdict | None:
    # Our own Secret but no credentials in status: we cannot tell whether its secret is ours.
    if i.token.status.client_id is None:
        return Action.REISSUE, "status had no record of the Secret's credentials"
    return None


def _secret_changed(i: Input) -> Verdict | None:
    st = i.token.status
    if i.secret.secret_hash != st.secret_hash or i.secret.client_id != st.client_id:
        return Action.REISSUE, "the Secret no longer holds the issued credentials"
    return None


def _rotation_requested(i: Input) -> Verdict | None:
    token = i.token
    if token.rotate_request and token.rotate_request != token.status.last_rotate_request:
        return Action.ROTATE, f"rotation requested ({token.rotate_request})"
    return None


def rotation_due(spec: ServiceTokenSpec, st: ServiceTokenStatus) -> datetime | None:
    """When spec.rotation wants the next secret: ``every`` after the last one was written
    (issue or rotation); None without a schedule or while the token cannot be used."""
    period = spec.rotation_period
    written = st.rotated_at or st.created_at
    if period is None or written is None or not spec.enabled:
        return None
    return written + period


def _rotation_scheduled(i: Input) -> Verdict | None:
    spec, st, now = i.token.spec, i.token.status, i.now
    due, rotation = rotation_due(spec, st), spec.rotation
    expired = st.expires_at is not None and now >= st.expires_at
    if due is not None and rotation is not None and now >= due and not expired:
        return Action.ROTATE, f"scheduled by spec.rotation.every {rotation.every}"
    return None


CREDENTIAL_CHECKS: Chain[Verdict] = (
    ("InterruptedIssuance", _interrupted_issuance),
    ("SecretMissing", _secret_missing),
    ("SecretNotOwned", _secret_not_ours),
    ("StatusUntrusted", _status_untrusted),
    ("StatusLost", _status_lost),
    ("SecretChanged", _secret_changed),
    ("RotationRequested", _rotation_requested),
    ("RotationScheduled", _rotation_scheduled),
)


def credential_action(facts: Input) -> Verdict:
    """Does the token need a (new) secret written? Returns the action and why."""
    return first(CREDENTIAL_CHECKS, facts) or (Action.NONE, "")


def change_credentials(d: Draft, token: TokenView, action: Action, now: datetime) -> None:
    """The record of a new secret (issue, rotation, reissue) in status."""
    st, life = d.status, token.spec.lifetime
    # A new secret: whatever was followed of the last one's grace is over.
    st.consumers_rolled_out_at = st.previous_secret_last_seen_at = None
    st.previous_secret_last_seen_application = st.previous_secret_last_seen_client = None
    if action is Action.ISSUE:
        st.created_at = now
        st.expires_at = None if life is None else now + life
        st.observed_duration = token.spec.duration
        # Requests present at creation are part of the initial state, not asks.
        st.last_refresh_request = token.refresh_request
        st.last_rotate_request = token.rotate_request
        st.last_previous_secret_expires_request = token.previous_expires_request
        st.previous_secret_hash = st.previous_secret_expires_at = None
    elif action is Action.ROTATE:
        grace = _rotation_grace(d, token)
        if grace > timedelta(0) and token.status.secret_hash:
            st.previous_secret_hash = token.status.secret_hash
            st.previous_secret_expires_at = now + grace
        else:
            st.previous_secret_hash = st.previous_secret_expires_at = None
        st.rotated_at = now
        st.last_rotate_request = token.rotate_request
    elif action is Action.REISSUE:
        # A lost or tampered secret must stop working at once: no grace.
        st.previous_secret_hash = st.previous_secret_expires_at = None
        st.reissued_at = now
        if st.created_at is None:
            st.created_at = now
            st.expires_at = None if life is None else now + life
            st.observed_duration = token.spec.duration


def credential_event(d: Draft, action: Action, why: str, token: TokenView) -> None:
    st = d.status
    if action is Action.ISSUE:
        d.events.append(Event("Normal", "Issued", f"issued credentials into Secret {token.secret_name}"))
    elif action is Action.ROTATE:
        until = (
            f"; the previous secret works until {ts(st.previous_secret_expires_at)}"
            if st.previous_secret_expires_at
            else "; the previous secret no longer works"
        )
        d.events.append(Event("Normal", "Rotated", f"rotated the Client Secret ({why}){until}"))
    elif action is Action.REISSUE:
        d.events.append(
            Event(
                "Warning",
                "CredentialsReissued",
                f"{why}; issued a new Client Secret (the old one cannot be recovered and no longer works)",
            )
        )


def _rotation_grace(d: Draft, token: TokenView) -> timedelta:
    """The grace of this rotation: the annotation's when it is valid (it is not checked by
    the API server), else spec.rotationGracePeriod."""
    text = token.rotate_grace
    if text is None:
        return token.spec.grace
    try:
        grace = parse(text)
        problem = grace_error(grace)
    except ValueError as e:
        problem = str(e)
    if problem is None:
        return grace
    d.events.append(
        Event(
            "Warning",
            "InvalidAnnotation",
            f"ignored {ROTATE_GRACE_ANNOTATION}={text!r} ({problem}); "
            f"used spec.rotationGracePeriod {token.spec.rotation_grace_period}",
        )
    )
    return token.spec.grace
