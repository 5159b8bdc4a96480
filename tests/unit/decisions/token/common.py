"""What the token decision tests share: a token issued at T0, its Secret, a candidate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gatepass.contract import MANAGED_BY, TOKEN_LABEL
from gatepass.decisions.token.inputs import Candidate, SecretView
from gatepass.models.conditions import EXPIRING_SOON, READY, Condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
CID = "0123456789abcdef0123456789abcdef.access"
H1 = "sha256:" + "1" * 64
H2 = "sha256:" + "2" * 64
H9 = "sha256:" + "9" * 64
NEW = Candidate("fedcba9876543210fedcba9876543210.access", H9)  # what the executor generated
LABELS = {**MANAGED_BY, TOKEN_LABEL: "tok"}  # what the operator puts on the Secret
OURS = SecretView(exists=True, owned=True, client_id=CID, secret_hash=H1, labels=LABELS)
NONE = SecretView(exists=False)


def cond(type_: str, status: str, reason: str) -> Condition:
    return Condition(type=type_, status=status, reason=reason, last_transition_time=T0)


def issued(**over: Any) -> dict[str, Any]:
    """Status of a token issued at T0 with duration 100h."""
    base: dict[str, Any] = {
        "client_id": CID,
        "secret_name": "tok",
        "secret_hash": H1,
        "created_at": T0,
        "expires_at": T0 + 100 * H,
        "observed_duration": "100h",
        "conditions": [cond(READY, "True", "Issued"), cond(EXPIRING_SOON, "False", "NotExpiringSoon")],
    }
    return {**base, **over}
