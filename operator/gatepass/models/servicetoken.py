"""ServiceToken (gatepass.dev/v1alpha1): spec and status as the CRD defines them.

Field names, defaults and validation live in ``crds/servicetokens.yaml``; a
test keeps this model and that schema in step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Literal, cast

from pydantic import Field, PrivateAttr, ValidationError, ValidatorFunctionWrapHandler, field_validator

from gatepass.contract import (
    API_VERSION,
    CLIENT_ID_KEY,
    CLIENT_SECRET_KEY,
    PREVIOUS_SECRET_EXPIRES_ANNOTATION,
    REACTIVATE_ANNOTATION,
    REFRESH_ANNOTATION,
    ROTATE_ANNOTATION,
    ROTATE_GRACE_ANNOTATION,
    TOKEN_KIND,
)
from gatepass.models.base import CamelModel
from gatepass.models.conditions import Condition
from gatepass.models.durations import parse, parse_inactivity, parse_lifetime
from gatepass.models.meta import ObjectMeta
from gatepass.models.timestamps import Timestamp

DEFAULT_DURATION = "8760h"
DEFAULT_ALERT_BEFORE = timedelta(hours=168)
DEFAULT_GRACE = "24h"


class SecretKeys(CamelModel):
    """The data keys the Client ID and Secret are stored under."""

    client_id: str = CLIENT_ID_KEY
    client_secret: str = CLIENT_SECRET_KEY


SecretFormat = Literal["netrc", "headersJson", "credentialsJson"]


class SecretFile(CamelModel):
    """An extra rendering of the credentials, under its own data key (decisions/secretdata.py)."""

    key: str
    format: SecretFormat
    hosts: list[str] = Field(default_factory=list)  # netrc: one machine line per host


class SecretTemplate(CamelModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    keys: SecretKeys = Field(default_factory=SecretKeys)
    files: list[SecretFile] = Field(default_factory=list)


class Rotation(CamelModel):
    every: str  # a new secret this long after the last one was written


InactivityAction = Literal["disable", "delete"]


class Inactivity(CamelModel):
    """What happens to a token nobody uses (decisions/inactivity.py)."""

    after: str  # a Go duration within Cloudflare's 30-365 days, or "never"
    action: InactivityAction = "disable"

    @property
    def period(self) -> timedelta | None:
        return parse_inactivity(self.after)


class RateLimit(CamelModel):
    """Requests per second a token may make through one gateway replica (a token bucket)."""

    requests_per_second: float = Field(gt=0)
    burst: int | None = Field(default=None, ge=1)  # default: requestsPerSecond rounded up

    @property
    def bucket(self) -> tuple[float, int]:
        """(refill rate per second, capacity)."""
        return self.requests_per_second, self.burst or max(1, math.ceil(self.requests_per_second))

    @property
    def shared(self) -> bool:
        """One bucket across every application (only a token's own limit can ask for it)."""
        return False


# Application: a bucket per application the token reaches (the default). Token: one bucket
# across all of them, which the origin of any of them can drain by replaying the session it
# received (gateway/limits.py).
RateLimitScope = Literal["Application", "Token"]


class TokenRateLimit(RateLimit):
    """A token's own spec.rateLimit: a RateLimit, and where its bucket is kept."""

    scope: RateLimitScope = "Application"

    @property
    def shared(self) -> bool:
        return self.scope == "Token"


WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]


class ConsumerRef(CamelModel):
    """A workload of the token's namespace that spec.rollout restarts after a rotation."""

    kind: WorkloadKind
    name: str


class ServiceTokenSpec(CamelModel):
    duration: str = DEFAULT_DURATION
    enabled: bool = True
    secret_name: str | None = None
    secret_template: SecretTemplate = Field(default_factory=SecretTemplate)
    renew_before: str | None = None
    alert_before: str | None = None
    rotation_grace_period: str = DEFAULT_GRACE
    rotation: Rotation | None = None
    inactivity: Inactivity | None = None  # None: the operator's default
    rate_limit: TokenRateLimit | None = None  # None: the application's tokenRateLimit, if any
    # Auto: after a rotation, restart the workloads of this namespace that read the Secret
    # from their environment (decisions/rollout.py).
    rollout: Literal["Auto", "None"] = "None"
    # With rollout Auto: restart exactly these (they may read the Secret in ways the
    # operator cannot see); absent, the operator finds the consumers itself.
    consumers: list[ConsumerRef] | None = None

    def check(self) -> None:
        """Parse every duration; ValueError names the first bad one. (The CRD already
        rejects them; this guards against an older CRD in the cluster.)"""
        checks: tuple[tuple[str, Callable[[], object]], ...] = (
            ("duration", lambda: self.lifetime),
            ("renewBefore", lambda: self.renew_window),
            ("alertBefore", lambda: self.alert_window),
            ("rotationGracePeriod", lambda: self.grace),
            ("rotation.every", lambda: self.rotation_period),
            ("inactivity.after", lambda: self.inactivity and self.inactivity.period),
        )
        for field, parse_fn in checks:
            try:
                parse_fn()
            except ValueError as e:
                raise ValueError(f"spec.{field}: {e}") from None

    @property
    def lifetime(self) -> timedelta | None:
        """How long credentials live after issue or refresh; None = forever."""
        return parse_lifetime(self.duration)

    @property
    def renew_window(self) -> timedelta | None:
        return parse(self.renew_before) if self.renew_before else None

    @property
    def alert_window(self) -> timedelta | None:
        """Explicit, or 168h (Cloudflare's week) capped at a third of the lifetime,
        so short-lived tokens are not 'expiring soon' from birth."""
        if self.alert_before:
            return parse(self.alert_before)
        life = self.lifetime
        return None if life is None else min(DEFAULT_ALERT_BEFORE, life / 3)

    @property
    def grace(self) -> timedelta:
        return parse(self.rotation_grace_period)

    @property
    def rotation_period(self) -> timedelta | None:
        """Scheduled rotation: how long a secret serves before the next; None = only on request."""
        return None if self.rotation is None else parse(self.rotation.every)


class ServiceTokenStatus(CamelModel):
    client_id: str | None = None
    secret_name: str | None = None
    secret_hash: str | None = None
    # Written before the Secret, so a crash between the two writes can be told
    # apart from a tampered Secret (see decisions/token/).
    pending_secret_hash: str | None = None
    pending_client_id: str | None = None
    pending_action: str | None = None
    previous_secret_hash: str | None = None
    previous_secret_expires_at: Timestamp | None = None
    created_at: Timestamp | None = None
    refreshed_at: Timestamp | None = None
    rotated_at: Timestamp | None = None
    reissued_at: Timestamp | None = None  # a new secret without grace (Secret lost or edited)
    expires_at: Timestamp | None = None
    last_seen_at: Timestamp | None = None
    last_seen_application: str | None = None  # where, and from which address, that use was
    last_seen_client: str | None = None
    # spec.inactivity: when the operator deactivated the token for disuse (sealed: the
    # gateway refuses it while set), and when a gatepass.dev/reactivate restarted the count.
    deactivated_at: Timestamp | None = None
    reactivated_at: Timestamp | None = None
    last_reactivate_request: str | None = None
    rolled_out_for: str | None = None  # spec.rollout Auto: the rotation handled (decisions/rollout.py)
    consumers_rolled_out_at: Timestamp | None = None  # ...and when all its consumers had rolled out
    # The last use of the previous secret during the grace (reported by the gateway).
    previous_secret_last_seen_at: Timestamp | None = None
    previous_secret_last_seen_application: str | None = None
    previous_secret_last_seen_client: str | None = None
    observed_duration: str | None = None
    last_refresh_request: str | None = None
    last_rotate_request: str | None = None
    last_previous_secret_expires_request: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    # HMACs by the operator over the credential fields (see trust/seal.py): as 0.2 reads
    # it, and with rotatedAt and the time it was made.
    seal: str | None = None
    seal_v2: str | None = None
    # Why the status as stored could not be read (then this status is empty): not a field.
    _unreadable: str | None = PrivateAttr(None)

    @property
    def unreadable(self) -> str | None:
        return self._unreadable

    @classmethod
    def lost(cls, why: str) -> ServiceTokenStatus:
        """The empty status that stands for a stored one that does not parse."""
        status = cls()
        status._unreadable = why
        return status


class ServiceToken(CamelModel):
    """A whole ServiceToken: what the operator reads, decides on and writes back."""

    api_version: str = API_VERSION
    kind: str = TOKEN_KIND
    metadata: ObjectMeta
    spec: ServiceTokenSpec = Field(default_factory=ServiceTokenSpec)
    status: ServiceTokenStatus = Field(default_factory=ServiceTokenStatus)

    @field_validator("status", mode="wrap")
    @classmethod
    def _status_or_lost(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> ServiceTokenStatus:
        """Status is a record anyone with status RBAC can write: one that does not parse is
        read as lost (nothing in it is trusted, the operator writes a new one), never as an
        error that would stop whoever reads the token."""
        try:
            return cast(ServiceTokenStatus, handler(value))
        except ValidationError as e:
            return ServiceTokenStatus.lost(_first_error(e))

    @property
    def secret_name(self) -> str:
        """The Secret the credentials go to: spec.secretName, else the token's name."""
        return self.spec.secret_name or self.metadata.name

    @property
    def refresh_request(self) -> str | None:
        return self.metadata.annotations.get(REFRESH_ANNOTATION)

    @property
    def rotate_request(self) -> str | None:
        return self.metadata.annotations.get(ROTATE_ANNOTATION)

    @property
    def previous_expires_request(self) -> str | None:
        """Unvalidated text (an annotation): the decision code parses it."""
        return self.metadata.annotations.get(PREVIOUS_SECRET_EXPIRES_ANNOTATION)

    @property
    def reactivate_request(self) -> str | None:
        return self.metadata.annotations.get(REACTIVATE_ANNOTATION)

    @property
    def rotate_grace_request(self) -> str | None:
        """Unvalidated text (an annotation): the decision code parses it."""
        return self.metadata.annotations.get(ROTATE_GRACE_ANNOTATION)


class InvalidServiceToken(ValueError):
    """A ServiceToken whose spec does not parse (an older CRD let it in): what can still be
    said about it, to report in its status."""

    def __init__(self, metadata: ObjectMeta, status: ServiceTokenStatus, message: str) -> None:
        super().__init__(message)
        self.metadata = metadata
        self.status = status


def parse_token(body: Mapping[str, Any]) -> ServiceToken:
    """The typed token, its durations checked; InvalidServiceToken names the bad field."""
    try:
        token = ServiceToken.model_validate(body)
        token.spec.check()
        return token
    except (ValidationError, ValueError) as e:
        message = _first_error(e)
    metadata = ObjectMeta.model_validate(body.get("metadata") or {})
    try:
        status = ServiceTokenStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = ServiceTokenStatus()
    raise InvalidServiceToken(metadata, status, message)


def _first_error(e: ValueError) -> str:
    if isinstance(e, ValidationError) and e.errors():
        first = e.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(e).splitlines()[0]
