"""What a token's decision reads: the gathered :class:`Observed`, and the checked
:class:`TokenView` made of it (its status vouched for by the seal, or read as lost)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gatepass.contract import LastUse
from gatepass.decisions.inactivity import Rule, rule_for
from gatepass.decisions.rollout import Following
from gatepass.models.servicetoken import Inactivity, ServiceToken, ServiceTokenSpec, ServiceTokenStatus
from gatepass.trust.seal import Sealer, has_credentials, sealed_at


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


NO_SECRET = SecretView(exists=False)


@dataclass(frozen=True)
class Candidate:
    """Fresh credentials, generated before deciding; used only if the plan writes a new secret."""

    client_id: str
    secret_hash: str


@dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything one reconcile of a token knows, gathered before deciding
    (operator/gather.py): the API server's answers, the operator's indexes, the clock."""

    token: ServiceToken  # parsed once, where it arrived (a watch event or a GET)
    now: datetime
    trusted: bool = True  # its status's seal verifies and is the newest known (:func:`trusted`)
    secret: SecretView = NO_SECRET
    last_seen: LastUse | None = None  # last use reported by the gateway
    previous_seen: LastUse | None = None  # ...and the last use of the previous secret
    named_by: str | None = None  # an AccessApplication of its namespace whose policy names it
    following: Following | None = None  # spec.rollout Auto, allowed: the consumers as seen
    default_inactivity: Inactivity | None = None  # the operator's default rule
    rollout_allowed: bool = False  # the cluster admin lets spec.rollout restart workloads


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
    rollout_allowed: bool = False  # the cluster admin lets spec.rollout restart workloads

    @property
    def secret_name(self) -> str:
        return self.spec.secret_name or self.name

    @property
    def reported_use(self) -> datetime | None:
        return self.last_seen.at if self.last_seen is not None else None


def trusted(token: ServiceToken, sealer: Sealer, newest: int = 0) -> bool:
    """Does the seal vouch for the token's status? ``newest``: the newest sealed time the
    operator knows for it (trust/seal.py Freshness): an older sealed record was written
    back. A stored status that does not parse was read as empty (models/servicetoken.py):
    lost, never trusted."""
    meta, status = token.metadata, token.status
    return (
        status.unreadable is None
        and sealer.trusts(meta.uid, meta.namespace, meta.name, status)
        and not (has_credentials(status) and sealed_at(status.seal_v2) < newest)
    )


def view(seen: Observed) -> TokenView:
    """What the checks read of a token: a status the seal vouches for, or one read as lost."""
    token, meta = seen.token, seen.token.metadata
    return TokenView(
        spec=token.spec,
        status=token.status if seen.trusted else distrust(token.status),
        name=meta.name,
        tampered=not seen.trusted,
        generation=meta.generation,
        refresh_request=token.refresh_request,
        rotate_request=token.rotate_request,
        rotate_grace=token.rotate_grace_request,
        previous_expires_request=token.previous_expires_request,
        last_seen=seen.last_seen,
        previous_seen=seen.previous_seen,
        following=seen.following,
        reactivate_request=token.reactivate_request,
        inactivity=rule_for(token.spec.inactivity, seen.default_inactivity),
        named_by=seen.named_by,
        rollout_allowed=seen.rollout_allowed,
    )


def never_issued(status: ServiceTokenStatus) -> bool:
    """No credentials were ever recorded (a status that did not parse may have had some):
    the token has no Secret of ours, and the gatherer need not read one."""
    return (
        status.unreadable is None
        and status.client_id is None
        and status.secret_hash is None
        and status.pending_secret_hash is None
    )


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
