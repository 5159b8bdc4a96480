"""Why the gateway answered as it did, one name each, and the exception that refuses.

Each value is public API: the JSON body's ``error``, the ``outcome`` (or upstream errors'
``reason``) metric label and the access log's ``reason`` (README: "Access log", "Metrics").
Never rename one. A refusal is raised as :class:`Refused` wherever it is decided; one
middleware (gateway/middlewares.py) turns it into the body, the metric and the log entry.
"""

# ruff: noqa: S105 (names of refusals, not passwords)
from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from gatepass.decisions.policy import Identity
from gatepass.routing.clientip import Address


class Reason(StrEnum):
    # admitted
    ALLOWED = "allowed"
    BYPASS = "bypass"
    # before any credential is looked at
    AMBIGUOUS_PATH = "ambiguous_path"
    MALFORMED_FORWARDED_FOR = "malformed_forwarded_for"
    MISSING_FORWARDED_URI = "missing_forwarded_uri"
    UNKNOWN_HOST = "unknown_host"
    UPSTREAM_NOT_ALLOWED = "upstream_not_allowed"
    # credentials: a Client ID and Secret
    DUPLICATE_CREDENTIALS = "duplicate_credentials"
    INCOMPLETE_CREDENTIALS = "incomplete_credentials"
    MALFORMED_CREDENTIALS = "malformed_credentials"
    INVALID_CREDENTIALS = "invalid_credentials"
    NO_CREDENTIALS = "no_credentials"
    # the token behind them (gateway/state.py: TokenRecord.usable_at)
    TOKEN_DISABLED = "token_disabled"
    TOKEN_INACTIVE = "token_inactive"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    SECRET_REPLACED = "secret_replaced"
    # session JWTs (gateway/sessions.py)
    MALFORMED_JWT = "malformed_jwt"
    INVALID_JWT = "invalid_jwt"
    BAD_ALGORITHM = "bad_algorithm"
    UNKNOWN_KEY = "unknown_key"
    WRONG_AUDIENCE = "wrong_audience"
    SESSION_EXPIRED = "session_expired"
    SESSION_REVOKED = "session_revoked"
    SESSION_NOT_ACCEPTED = "session_not_accepted"
    NO_SIGNING_KEY = "no_signing_key"
    # ServiceAccount tokens (gateway/workload.py)
    SERVICE_ACCOUNTS_UNAVAILABLE = "service_accounts_unavailable"
    UNKNOWN_SERVICE_ACCOUNT_KEY = "unknown_service_account_key"
    INVALID_SERVICE_ACCOUNT_TOKEN = "invalid_service_account_token"
    SERVICE_ACCOUNT_TOKEN_EXPIRED = "service_account_token_expired"
    UNSUPPORTED_BINDING = "unsupported_binding"
    SERVICE_ACCOUNT_GONE = "service_account_gone"
    POD_GONE = "pod_gone"
    # policies and limits
    DENIED_BY_POLICY = "denied_by_policy"
    NOT_ALLOWED = "not_allowed"
    RATE_LIMITED = "rate_limited"
    # the upstream, once admitted (counted in upstream_errors_total, not requests_total)
    UPSTREAM_BUSY = "upstream_busy"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"

    @property
    def upstream(self) -> bool:
        return self in UPSTREAM


UPSTREAM = frozenset(
    {Reason.UPSTREAM_NOT_ALLOWED, Reason.UPSTREAM_BUSY, Reason.UPSTREAM_TIMEOUT, Reason.UPSTREAM_UNAVAILABLE}
)


class InvalidSession(Exception):
    """A JWT or ServiceAccount token does not authenticate, and why (gateway/sessions.py,
    gateway/workload.py raise it; auth.py turns it into a refusal)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(Exception):
    """The request is refused with ``status`` and ``{"error": reason}``. ``identity`` and
    ``policy``: who it was and which policy decided, for the access log; ``headers``: sent
    with the answer; ``app``: the application's metric label, when one was found."""

    def __init__(
        self,
        reason: Reason,
        status: int = 401,
        *,
        identity: Identity | None = None,
        policy: str = "",
        headers: Mapping[str, str] | None = None,
        app: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.identity = identity
        self.policy = policy
        self.headers = headers
        self.app = app
        self.client: Address | None = None
        self.weighed = False  # refused once credentials were weighed: the log says "deny"

    def placed(self, app: str, client: Address | None, headers: Mapping[str, str] | None) -> Refused:
        """The credentials' refusal, placed by the server: which application, whose address,
        and any header the answer adds (a Basic challenge)."""
        self.app, self.client, self.weighed = app, client, True
        if headers:
            self.headers = {**(self.headers or {}), **headers}
        return self
