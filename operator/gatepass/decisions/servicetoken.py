"""What a ServiceToken needs now: pure decisions over (spec, status, Secret, now).

The operator reads the token and its Secret, calls :func:`decide`, and carries
out the returned :class:`Plan`. Nothing here does I/O or sees a secret value:
the Secret is described by the hash of what it holds.

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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gatepass.models.conditions import EXPIRING_SOON, READY, ConditionStatus, find, set_condition
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus


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


@dataclass(frozen=True)
class TokenView:
    spec: ServiceTokenSpec
    status: ServiceTokenStatus
    generation: int | None = None
    refresh_request: str | None = None  # value of gatepass.dev/refresh
    rotate_request: str | None = None  # value of gatepass.dev/rotate
    rotate_grace: timedelta | None = None  # gatepass.dev/rotate-grace-period, overrides the spec
    last_seen: datetime | None = None  # last use reported by the gateway
    tampered: bool = False  # status claimed credentials under a seal that does not verify


@dataclass(frozen=True)
class Plan:
    action: Action
    # The status to write once the action is done. When ``action.generates``,
    # the executor fills in ``client_id`` (if None) and ``secret_hash``.
    status: ServiceTokenStatus
    events: tuple[Event, ...] = ()
    wake_at: datetime | None = None
    reason: str = ""  # why the action, for Events and logs


@dataclass
class _Draft:
    status: ServiceTokenStatus
    events: list[Event] = field(default_factory=list)


def credential_action(token: TokenView, secret: SecretView) -> tuple[Action, str]:
    """Does the token need a (new) secret written? Returns the action and why."""
    st = token.status
    if (
        st.pending_secret_hash
        and secret.exists
        and secret.owned
        and secret.secret_hash == st.pending_secret_hash
    ):
        return Action.FINALIZE, "completing an interrupted issuance"
    if not secret.exists:
        if st.client_id is None:
            return Action.ISSUE, "new token"
        return Action.REISSUE, "the Secret was deleted"
    if not secret.owned:
        return Action.CONFLICT, "a Secret of that name exists and is not owned by this ServiceToken"
    if token.tampered:
        return Action.REISSUE, "the credential record in status was not written by the operator"
    if st.client_id is None:
        # Our own Secret but no credentials in status: status was lost, so we
        # cannot tell whether the Secret's secret is ours.
        return Action.REISSUE, "status had no record of the Secret's credentials"
    if secret.secret_hash != st.secret_hash or secret.client_id != st.client_id:
        return Action.REISSUE, "the Secret no longer holds the issued credentials"
    if token.rotate_request and token.rotate_request != st.last_rotate_request:
        return Action.ROTATE, f"rotation requested ({token.rotate_request})"
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
                "expires_at",
                "seal",
            )
        )
    )


def decide(token: TokenView, secret: SecretView, now: datetime) -> Plan:
    """The whole reconcile decision. Raises ValueError on an unparsable spec."""
    spec = token.spec
    life = spec.lifetime
    action, why = credential_action(token, secret)
    d = _Draft(status=token.status.model_copy(deep=True))
    st = d.status
    if token.tampered:
        d.events.append(
            Event(
                "Warning",
                "UntrustedStatus",
                "status.seal does not match the credential record: status was edited by someone other "
                "than the operator; the gateway ignores the record and new credentials are issued",
            )
        )
    # FINALIZE completes the issuance recorded with the pending hash.
    kind = Action(token.status.pending_action or "Reissue") if action is Action.FINALIZE else action
    if kind.generates:
        _apply_credential_change(d, token, kind, now, life)
        _credential_event(d, kind, why, spec)
    if action is Action.FINALIZE:
        st.secret_hash, st.client_id = token.status.pending_secret_hash, token.status.pending_client_id
    # A pending secret that did not reach the Secret was never delivered: drop it.
    st.pending_secret_hash = st.pending_client_id = st.pending_action = None
    if action is not Action.CONFLICT:
        _refresh(d, token, now, life)
    _expire_previous(d, now)
    if token.last_seen is not None and (st.last_seen_at is None or token.last_seen > st.last_seen_at):
        st.last_seen_at = token.last_seen  # only forward: replicas report out of order
    _conditions(d, token, action, now)
    st.secret_name = spec.secret_name or st.secret_name
    st.observed_generation = token.generation
    return Plan(
        action=action, status=st, events=tuple(d.events), wake_at=_next_wake(st, spec, now), reason=why
    )


def _apply_credential_change(
    d: _Draft, token: TokenView, action: Action, now: datetime, life: timedelta | None
) -> None:
    st = d.status
    if action is Action.ISSUE:
        st.client_id = None
        st.created_at = now
        st.expires_at = None if life is None else now + life
        st.observed_duration = token.spec.duration
        # Requests present at creation are part of the initial state, not asks.
        st.last_refresh_request = token.refresh_request
        st.last_rotate_request = token.rotate_request
        st.previous_secret_hash = st.previous_secret_expires_at = None
    elif action is Action.ROTATE:
        grace = token.rotate_grace if token.rotate_grace is not None else token.spec.grace
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
        if st.created_at is None:
            st.created_at = now
            st.expires_at = None if life is None else now + life
            st.observed_duration = token.spec.duration
    st.secret_hash = None  # filled in by the executor


def _credential_event(d: _Draft, action: Action, why: str, spec: ServiceTokenSpec) -> None:
    st = d.status
    if action is Action.ISSUE:
        d.events.append(Event("Normal", "Issued", f"issued credentials into Secret {spec.secret_name}"))
    elif action is Action.ROTATE:
        until = (
            f"; the previous secret works until {_ts(st.previous_secret_expires_at)}"
            if st.previous_secret_expires_at
            else "; the previous secret no longer works"
        )
        d.events.append(Event("Normal", "Rotated", f"rotated the Client Secret{until}"))
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


def _expire_previous(d: _Draft, now: datetime) -> None:
    st = d.status
    if st.previous_secret_expires_at is not None and now >= st.previous_secret_expires_at:
        st.previous_secret_hash = st.previous_secret_expires_at = None


def _conditions(d: _Draft, token: TokenView, action: Action, now: datetime) -> None:
    st, spec, gen = d.status, token.spec, token.generation
    old_ready = find(token.status.conditions, READY)
    expired = st.expires_at is not None and now >= st.expires_at
    if action is Action.CONFLICT:
        ready: tuple[ConditionStatus, str, str] = (
            "False",
            "SecretConflict",
            f"Secret {spec.secret_name} exists and is not owned by this token",
        )
    elif not spec.enabled:
        ready = ("False", "Disabled", "the token is disabled (spec.enabled: false)")
    elif expired:
        ready = ("False", "Expired", f"expired at {_ts(st.expires_at)}; refresh it to extend")
    else:
        until = "never expire" if st.expires_at is None else f"are valid until {_ts(st.expires_at)}"
        ready = ("True", "Issued", f"credentials in Secret {spec.secret_name} {until}")
    status, reason, message = ready
    st.conditions = set_condition(st.conditions, READY, status, reason, message, now, gen)
    if reason != (old_ready.reason if old_ready else None):
        if reason == "Expired":
            d.events.append(Event("Warning", "Expired", message))
        elif reason == "Disabled":
            d.events.append(Event("Normal", "Disabled", message))
        elif reason == "SecretConflict":
            d.events.append(Event("Warning", "SecretConflict", message))
        elif old_ready is not None and old_ready.reason == "Disabled":
            d.events.append(Event("Normal", "Enabled", "the token is enabled again"))

    alert = spec.alert_window
    old_soon = find(token.status.conditions, EXPIRING_SOON)
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


def _next_wake(st: ServiceTokenStatus, spec: ServiceTokenSpec, now: datetime) -> datetime | None:
    """The next moment the decision could change by time alone."""
    times: list[datetime] = []
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
    return "never" if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _human(delta: timedelta) -> str:
    secs = int(delta.total_seconds())
    if secs >= 86400:
        return f"{secs // 86400}d{(secs % 86400) // 3600}h"
    if secs >= 3600:
        return f"{secs // 3600}h{(secs % 3600) // 60}m"
    return f"{secs // 60}m{secs % 60}s" if secs >= 60 else f"{secs}s"
