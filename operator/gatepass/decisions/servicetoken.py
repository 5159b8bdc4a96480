"""What a ServiceToken needs now: pure decisions over (token, Secret, candidate, now).

The operator reads the token and its Secret, generates a candidate credential,
calls :func:`decide`, and carries out the returned :class:`Plan` step by step:
the pending status, the Secret write, the final status, the Events. The plan is
whole: the executor decides nothing. Nothing here does I/O or sees a secret
value: the Secret is described by the hash of what it holds, and the candidate
by the hash of its secret (the executor keeps the secret, and uses the candidate
only if the plan says so).

Crash safety. A new secret is written in three steps: status gets
``pendingSecretHash``, then the Secret gets the secret, then status gets the
final fields. After a crash:

* Secret holds the pending secret -> finish the issuance (``FINALIZE``), no new
  credential;
* Secret does not -> it was never delivered; forget it and decide afresh;
* Secret holds something that matches neither -> tampered: reissue.

Status itself may be written by tenants (``*`` on the API group includes
status). The operator seals what it writes (trust/seal.py); a status whose
seal does not verify is read as if its credential record were lost
(:func:`distrust`), so the token gets new credentials and nothing a tenant
wrote is ever sealed.

The decisions are ordered lists of named checks (:data:`CREDENTIAL_CHECKS`,
:data:`READY_CHECKS`): the first that answers decides, as in cert-manager's
policy chains.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gatepass.contract import (
    PREVIOUS_SECRET_EXPIRES_ANNOTATION,
    REACTIVATE_ANNOTATION,
    ROTATE_GRACE_ANNOTATION,
    SECRET_TEMPLATE_ANNOTATION,
    LastUse,
    format_ts,
    parse_ts,
)
from gatepass.decisions import rollout
from gatepass.decisions.inactivity import Assessment, Rule, State, assess, last_activity, rule_for
from gatepass.decisions.rollout import Following
from gatepass.decisions.secretmeta import SecretMetadata, desired
from gatepass.models.conditions import (
    EXPIRING_SOON,
    INACTIVE_SOON,
    READY,
    ROTATING,
    ConditionStatus,
    drop_condition,
    find,
    set_condition,
)
from gatepass.models.durations import GRACE_MAX, grace_error, parse
from gatepass.models.events import Event, EventType
from gatepass.models.servicetoken import Inactivity, ServiceToken, ServiceTokenSpec, ServiceTokenStatus
from gatepass.trust.seal import Sealer, has_credentials, sealed_at

log = logging.getLogger(__name__)


class Action(enum.Enum):
    NONE = "None"
    ISSUE = "Issue"  # first credentials
    REISSUE = "Reissue"  # Secret lost or tampered: new secret, same Client ID
    ROTATE = "Rotate"  # asked for: new secret, previous one kept for the grace period
    FINALIZE = "Finalize"  # the Secret already holds the pending secret
    CONFLICT = "Conflict"  # a Secret of that name belongs to someone else: touch nothing

    @property
    def generates(self) -> bool:
        return self in (Action.ISSUE, Action.REISSUE, Action.ROTATE)


@dataclass(frozen=True)
class SecretView:
    """The token's Secret as the operator read it, without the secret itself."""

    exists: bool
    owned: bool = False  # controller ownerReference to this token's uid
    client_id: str | None = None
    secret_hash: str | None = None  # None when the key is missing or malformed
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    data_current: bool = True  # the data laid out as spec.secretTemplate says (secretdata.py)


@dataclass(frozen=True)
class Candidate:
    """Fresh credentials, generated before deciding; used only if the plan writes a new secret."""

    client_id: str
    secret_hash: str


@dataclass(frozen=True)
class TokenView:
    """A token as the decision sees it: its status already checked against the seal."""

    spec: ServiceTokenSpec
    status: ServiceTokenStatus
    name: str = ""
    generation: int | None = None
    refresh_request: str | None = None  # value of gatepass.dev/refresh
    rotate_request: str | None = None  # value of gatepass.dev/rotate
    rotate_grace: str | None = None  # gatepass.dev/rotate-grace-period (unvalidated text)
    previous_expires_request: str | None = None  # gatepass.dev/previous-secret-expires-at
    last_seen: LastUse | None = None  # last use reported by the gateway
    previous_seen: LastUse | None = None  # ...and the last use of the previous secret
    following: Following | None = None  # spec.rollout Auto, allowed: the consumers as seen
    tampered: bool = False  # status claimed credentials under a seal that does not verify
    reactivate_request: str | None = None  # value of gatepass.dev/reactivate
    inactivity: Rule | None = None  # spec.inactivity, else the operator's default
    named_by: str | None = None  # an AccessApplication of its namespace whose policy names it

    @property
    def secret_name(self) -> str:
        return self.spec.secret_name or self.name

    @property
    def reported_use(self) -> datetime | None:
        return self.last_seen.at if self.last_seen is not None else None


def view(
    token: ServiceToken,
    sealer: Sealer,
    last_seen: LastUse | None = None,
    inactivity: Inactivity | None = None,
    named_by: str | None = None,
    previous_seen: LastUse | None = None,
    following: Following | None = None,
    newest: int = 0,
) -> TokenView:
    """What decide() needs of a token: a status the seal vouches for, or one read as lost.
    ``inactivity``: the operator's default rule; ``named_by``: an application of the token's
    namespace whose policy names it; ``newest``: the newest sealed time the operator knows
    for it (trust/seal.py Freshness): an older sealed record was written back."""
    meta, status = token.metadata, token.status
    # A stored status that does not parse was read as empty (models/servicetoken.py): lost.
    trusted = (
        status.unreadable is None
        and sealer.trusts(meta.uid, meta.namespace, meta.name, status)
        and not (has_credentials(status) and sealed_at(status.seal_v2) < newest)
    )
    return TokenView(
        spec=token.spec,
        status=status if trusted else distrust(status),
        name=meta.name,
        tampered=not trusted,
        generation=meta.generation,
        refresh_request=token.refresh_request,
        rotate_request=token.rotate_request,
        rotate_grace=token.rotate_grace_request,
        previous_expires_request=token.previous_expires_request,
        last_seen=last_seen,
        previous_seen=previous_seen,
        following=following,
        reactivate_request=token.reactivate_request,
        inactivity=rule_for(token.spec.inactivity, inactivity),
        named_by=named_by,
    )


@dataclass(frozen=True)
class SecretWrite:
    """The Secret as it must be written: the candidate's credentials, or its data kept."""

    metadata: SecretMetadata
    # With the candidate's secret: the Client ID that goes with it. None: only
    # labels/annotations change, the data stays (or, rerender, is laid out anew).
    client_id: str | None = None
    rerender: bool = False


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


@dataclass
class _Draft:
    status: ServiceTokenStatus
    events: list[Event] = field(default_factory=list)


# --- which credential action: the first check that answers decides ------------------
Verdict = tuple[Action, str]
CredentialCheck = Callable[[TokenView, SecretView, datetime], Verdict | None]


def _interrupted_issuance(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
    st = token.status
    if st.pending_secret_hash and secret.owned and secret.secret_hash == st.pending_secret_hash:
        return Action.FINALIZE, "completing an interrupted issuance"
    return None


def _secret_missing(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
    if secret.exists:
        return None
    if token.status.client_id is None:
        return Action.ISSUE, "new token"
    return Action.REISSUE, "the Secret was deleted"


def _secret_not_ours(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
    if not secret.owned:
        return Action.CONFLICT, "a Secret of that name exists and is not owned by this ServiceToken"
    return None


def _status_untrusted(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
    if token.tampered:
        return Action.REISSUE, "the credential record in status was not written by the operator"
    return None


def _status_lost(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
    # Our own Secret but no credentials in status: we cannot tell whether its secret is ours.
    if token.status.client_id is None:
        return Action.REISSUE, "status had no record of the Secret's credentials"
    return None


def _secret_changed(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
    st = token.status
    if secret.secret_hash != st.secret_hash or secret.client_id != st.client_id:
        return Action.REISSUE, "the Secret no longer holds the issued credentials"
    return None


def _rotation_requested(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
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


def _rotation_scheduled(token: TokenView, secret: SecretView, now: datetime) -> Verdict | None:
    due, rotation = rotation_due(token.spec, token.status), token.spec.rotation
    expired = token.status.expires_at is not None and now >= token.status.expires_at
    if due is not None and rotation is not None and now >= due and not expired:
        return Action.ROTATE, f"scheduled by spec.rotation.every {rotation.every}"
    return None


CREDENTIAL_CHECKS: tuple[tuple[str, CredentialCheck], ...] = (
    ("InterruptedIssuance", _interrupted_issuance),
    ("SecretMissing", _secret_missing),
    ("SecretNotOwned", _secret_not_ours),
    ("StatusUntrusted", _status_untrusted),
    ("StatusLost", _status_lost),
    ("SecretChanged", _secret_changed),
    ("RotationRequested", _rotation_requested),
    ("RotationScheduled", _rotation_scheduled),
)


def credential_action(token: TokenView, secret: SecretView, now: datetime) -> Verdict:
    """Does the token need a (new) secret written? Returns the action and why."""
    for _, check in CREDENTIAL_CHECKS:
        verdict = check(token, secret, now)
        if verdict is not None:
            return verdict
    return Action.NONE, ""


def distrust(status: ServiceTokenStatus) -> ServiceTokenStatus:
    """The status with its unverifiable credential record dropped (and the times that
    go with it, so a reissue starts a fresh lifetime instead of sealing an edited one)."""
    return status.model_copy(
        update=dict.fromkeys(
            (
                "client_id",
                "secret_hash",
                "pending_secret_hash",
                "pending_client_id",
                "pending_action",
                "previous_secret_hash",
                "previous_secret_expires_at",
                "created_at",
                "refreshed_at",
                "rotated_at",
                "reissued_at",
                "expires_at",
                "deactivated_at",
                "seal",
                "seal_v2",
            )
        )
    )


UNTRUSTED = Event(
    "Warning",
    "UntrustedStatus",
    "status was edited by someone other than the operator (status.seal does not match the "
    "credential record, the record is older than one the operator wrote since, or a value does "
    "not parse): the gateway ignores the record and new credentials are issued",
)


def decide(token: TokenView, secret: SecretView, candidate: Candidate, now: datetime) -> Plan:
    """The whole reconcile decision. Raises ValueError on an unparsable spec."""
    spec = token.spec
    life = spec.lifetime
    d = _Draft(status=token.status.model_copy(deep=True))
    st = d.status
    _observe_use(d, token, now)
    idle = assess(token.inactivity, st, token.named_by, now, token.reported_use)
    if idle.state is State.DUE and idle.rule is not None and idle.rule.action == "delete":
        return _deletion(token, idle)
    action, why = credential_action(token, secret, now)
    if token.tampered:
        d.events.append(UNTRUSTED)
    # FINALIZE completes the issuance recorded with the pending hash.
    kind = Action(token.status.pending_action or "Reissue") if action is Action.FINALIZE else action
    if kind.generates:
        _apply_credential_change(d, token, kind, now, life)
        _credential_event(d, kind, why, token)
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
    if action is not Action.CONFLICT:
        _refresh(d, token, now, life)
    _change_grace(d, token, now)
    _expire_previous(d, now)
    rotation_wake = _rotating(d, token, now)
    idle = assess(token.inactivity, st, token.named_by, now, token.reported_use)  # new: counts from now
    overdue = idle.state is State.DUE and idle.rule is not None and idle.rule.action == "disable"
    st.deactivated_at = (st.deactivated_at or now) if overdue else None
    _conditions(d, token, action, now)
    _inactive_soon(d, token, idle, now)
    st.secret_name = token.secret_name
    st.observed_generation = token.generation
    return Plan(
        action=action,
        status=st,
        pending=pending,
        secret=_secret_write(d, token, secret, action, st.client_id),
        events=tuple(d.events),
        wake_at=_next_wake(st, spec, now, (*idle.wake_at, *rotation_wake)),
        reason=why,
    )


# status.lastSeenAt moves by this much at least: a status write per used token per report
# (every minute) would be ~1,700 writes a second at 100k tokens in use.
LAST_SEEN_STEP = timedelta(minutes=5)


def _observe_use(d: _Draft, token: TokenView, now: datetime) -> None:
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


def _deletion(token: TokenView, idle: Assessment) -> Plan:
    """spec.inactivity action delete, overdue: the token goes (its Secret with it, by GC)."""
    assert idle.rule is not None
    msg = (
        f"not used since {_ts(idle.since)} ({idle.rule.source}: after {idle.rule.text}, action delete):"
        f" deleting the ServiceToken; its Secret {token.secret_name} goes with it"
    )
    event = Event("Warning", "DeletedInactive", msg)
    return Plan(Action.NONE, token.status, events=(event,), reason=msg, delete=True)


def _secret_write(
    d: _Draft, token: TokenView, secret: SecretView, action: Action, client_id: str | None
) -> SecretWrite | None:
    """The new secret, or the template's labels and annotations put right (data untouched)."""
    if action is Action.CONFLICT:
        return None
    if action.generates:
        # A replaced Secret keeps what others put on it; a new one starts clean.
        found = (secret.labels, secret.annotations) if secret.exists else (None, None)
        return SecretWrite(desired(token.spec.secret_template, token.name, *found), client_id)
    want = desired(token.spec.secret_template, token.name, secret.labels, secret.annotations)
    if not secret.data_current:
        d.events.append(
            Event(
                "Normal",
                "SecretUpdated",
                f"Secret {token.secret_name} holds the same credentials, laid out as spec.secretTemplate"
                " says (keys, files)",
            )
        )
        return SecretWrite(want, rerender=True)
    if (want.labels, want.annotations) == (dict(secret.labels), dict(secret.annotations)):
        return None
    # Only the operator's own record of the template's keys (a Secret written by a version
    # before it existed): written quietly, not announced once per token on upgrade.
    if (want.labels, _visible(want.annotations)) != (dict(secret.labels), _visible(secret.annotations)):
        d.events.append(
            Event(
                "Normal",
                "SecretUpdated",
                f"labels and annotations of Secret {token.secret_name} follow spec.secretTemplate",
            )
        )
    return SecretWrite(want)


def _visible(annotations: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if k != SECRET_TEMPLATE_ANNOTATION}


def _apply_credential_change(
    d: _Draft, token: TokenView, action: Action, now: datetime, life: timedelta | None
) -> None:
    st = d.status
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


def _credential_event(d: _Draft, action: Action, why: str, token: TokenView) -> None:
    st = d.status
    if action is Action.ISSUE:
        d.events.append(Event("Normal", "Issued", f"issued credentials into Secret {token.secret_name}"))
    elif action is Action.ROTATE:
        until = (
            f"; the previous secret works until {_ts(st.previous_secret_expires_at)}"
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


def _refresh(d: _Draft, token: TokenView, now: datetime, life: timedelta | None) -> None:
    st = d.status
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
    until = "never expires" if life is None else f"expires at {_ts(st.expires_at)}"
    d.events.append(Event("Normal", "Refreshed", f"{'; '.join(asks)}: now {until}"))


def _rotation_grace(d: _Draft, token: TokenView) -> timedelta:
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


def _change_grace(d: _Draft, token: TokenView, now: datetime) -> None:
    """gatepass.dev/previous-secret-expires-at: end the previous secret's grace early, or
    move it, within Cloudflare's bounds (at most 30 days after the rotation). Once per value."""
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
            f" (until {_ts(limit)})"
        )
        d.events.append(Event("Warning", "InvalidAnnotation", msg))
        return
    if at <= now:
        st.previous_secret_hash = st.previous_secret_expires_at = None
        d.events.append(Event("Normal", "GraceEnded", f"the previous secret no longer works ({name})"))
        return
    st.previous_secret_expires_at = at
    d.events.append(Event("Normal", "GraceChanged", f"the previous secret works until {_ts(at)} ({name})"))


def _expire_previous(d: _Draft, now: datetime) -> None:
    st = d.status
    if st.previous_secret_expires_at is not None and now >= st.previous_secret_expires_at:
        st.previous_secret_hash = st.previous_secret_expires_at = None


def _rotating(d: _Draft, token: TokenView, now: datetime) -> tuple[datetime, ...]:
    """The Rotating condition; with spec.rollout Auto, the grace ended early once every
    consumer rolled out and the previous secret went unused (decisions/rollout.py)."""
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


# --- the Ready condition: the first check that answers decides ----------------------
Ready = tuple[ConditionStatus, str, str]
ReadyCheck = Callable[[TokenView, ServiceTokenStatus, Action, datetime], Ready | None]


def _conflict(token: TokenView, st: ServiceTokenStatus, action: Action, now: datetime) -> Ready | None:
    if action is Action.CONFLICT:
        return "False", "SecretConflict", f"Secret {token.secret_name} exists and is not owned by this token"
    return None


def _disabled(token: TokenView, st: ServiceTokenStatus, action: Action, now: datetime) -> Ready | None:
    return (
        None if token.spec.enabled else ("False", "Disabled", "the token is disabled (spec.enabled: false)")
    )


def _inactive(token: TokenView, st: ServiceTokenStatus, action: Action, now: datetime) -> Ready | None:
    rule = token.inactivity
    if st.deactivated_at is None or rule is None:
        return None
    since = last_activity(st, now, token.reported_use)
    return (
        "False",
        "Inactive",
        f"not used since {_ts(since)} ({rule.source}: after {rule.text}); deactivated at"
        f" {_ts(st.deactivated_at)}: annotate {REACTIVATE_ANNOTATION} (kubectl gatepass reactivate"
        f" {token.name}) to use it again",
    )


def _expired(token: TokenView, st: ServiceTokenStatus, action: Action, now: datetime) -> Ready | None:
    if st.expires_at is not None and now >= st.expires_at:
        return "False", "Expired", f"expired at {_ts(st.expires_at)}; refresh it to extend"
    return None


def _issued(token: TokenView, st: ServiceTokenStatus, action: Action, now: datetime) -> Ready:
    until = "never expire" if st.expires_at is None else f"are valid until {_ts(st.expires_at)}"
    return "True", "Issued", f"credentials in Secret {token.secret_name} {until}"


READY_CHECKS: tuple[tuple[str, ReadyCheck], ...] = (
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


def ready(token: TokenView, st: ServiceTokenStatus, action: Action, now: datetime) -> Ready:
    for _, check in READY_CHECKS:
        answer = check(token, st, action, now)
        if answer is not None:
            return answer
    raise AssertionError("the last Ready check always answers")  # pragma: no cover


def _conditions(d: _Draft, token: TokenView, action: Action, now: datetime) -> None:
    st, gen = d.status, token.generation
    old = find(token.status.conditions, READY)
    status, reason, message = ready(token, st, action, now)
    st.conditions = set_condition(st.conditions, READY, status, reason, message, now, gen)
    if reason != (old.reason if old else None):
        if reason in READY_EVENTS:
            d.events.append(Event(READY_EVENTS[reason], reason, message))
        elif old is not None and old.reason == "Disabled":
            d.events.append(Event("Normal", "Enabled", "the token is enabled again"))
        elif old is not None and old.reason == "Inactive" and not _has(d.events, "Reactivated"):
            d.events.append(Event("Normal", "Reactivated", "the token is no longer inactive"))
    _expiring_soon(d, token, now)


def _has(events: list[Event], reason: str) -> bool:
    return any(e.reason == reason for e in events)


def _inactive_soon(d: _Draft, token: TokenView, idle: Assessment, now: datetime) -> None:
    """The InactiveSoon condition (absent when no inactivity rule applies), and its Warning."""
    st, rule = d.status, idle.rule
    if idle.state is State.OFF or rule is None:
        st.conditions = drop_condition(st.conditions, INACTIVE_SOON)
        return
    old = find(token.status.conditions, INACTIVE_SOON)
    verb = "deactivated" if rule.action == "disable" else "deleted"
    by = f"{rule.source}: after {rule.text}"
    answer: tuple[ConditionStatus, str, str]
    if idle.state is State.EXEMPT:
        answer = "False", "Exempt", f"named by a policy of AccessApplication {idle.named_by}: never {verb}"
    elif idle.state is State.DUE:
        answer = "False", "Deactivated", f"deactivated at {_ts(st.deactivated_at)} ({by})"
    elif idle.state is State.SOON:
        msg = (
            f"not used since {_ts(idle.since)}: {verb} at {_ts(idle.deadline)} ({by}) unless used,"
            f" or reactivated with {REACTIVATE_ANNOTATION}"
        )
        answer = "True", "InactiveSoon", msg
    else:
        answer = (
            "False",
            "Active",
            f"last active {_ts(idle.since)}; {verb} if unused until {_ts(idle.deadline)}",
        )
    status, reason, message = answer
    st.conditions = set_condition(
        st.conditions, INACTIVE_SOON, status, reason, message, now, token.generation
    )
    if status == "True" and (old is None or old.status != "True"):
        d.events.append(Event("Warning", "InactiveSoon", message))


def _expiring_soon(d: _Draft, token: TokenView, now: datetime) -> None:
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
        msg = f"expires at {_ts(st.expires_at)} (in {_human(left)}); refresh it or set renewBefore"
        st.conditions = set_condition(st.conditions, EXPIRING_SOON, "True", "ExpiringSoon", msg, now, gen)
        if old_soon is None or old_soon.status != "True":
            d.events.append(Event("Warning", "ExpiringSoon", msg))
    else:
        reason = "Expired" if expired else "NotExpiringSoon"
        msg = "already expired" if expired else "not within alertBefore of expiry"
        st.conditions = set_condition(st.conditions, EXPIRING_SOON, "False", reason, msg, now, gen)


def _next_wake(
    st: ServiceTokenStatus, spec: ServiceTokenSpec, now: datetime, idle: tuple[datetime, ...]
) -> datetime | None:
    """The next moment the decision could change by time alone."""
    times: list[datetime] = [*idle]
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


def _ts(t: datetime | None) -> str:
    return "never" if t is None else format_ts(t)


def _human(delta: timedelta) -> str:
    secs = int(delta.total_seconds())
    if secs >= 86400:
        return f"{secs // 86400}d{(secs % 86400) // 3600}h"
    if secs >= 3600:
        return f"{secs // 3600}h{(secs % 3600) // 60}m"
    return f"{secs // 60}m{secs % 60}s" if secs >= 60 else f"{secs}s"
