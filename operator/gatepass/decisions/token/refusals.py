"""What the operator says when it cannot do what a plan asks: a Secret the API server
refuses to write (SecretRefused), a spec that does not parse (InvalidSpec)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gatepass.models.conditions import READY, find, set_condition
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceTokenStatus


def refusal_message(secret_name: str, code: int | None, reason: str | None) -> str:
    # Status code and reason only: an API error body may echo the request (the secret).
    return f"the API server refused to write Secret {secret_name}: {code} {reason}; retrying with backoff"


@dataclass(frozen=True)
class Report:
    status: ServiceTokenStatus  # written sealed (refused) or as read (invalid)
    event: Event | None = None


def refused(st: ServiceTokenStatus, generation: int | None, message: str, now: datetime) -> Report:
    """Ready False SecretRefused, and a Warning once per distinct message."""
    old = find(st.conditions, READY)
    status = st.model_copy(deep=True)
    status.conditions = set_condition(
        status.conditions, READY, "False", "SecretRefused", message, now, generation
    )
    said = old is not None and (old.reason, old.message) == ("SecretRefused", message)
    return Report(status, None if said else Event("Warning", "SecretRefused", message))


def invalid(st: ServiceTokenStatus, generation: int | None, message: str, now: datetime) -> Report:
    """A spec the CRD should have rejected (e.g. an older CRD): Ready False InvalidSpec,
    said in status only."""
    status = st.model_copy(deep=True)
    status.conditions = set_condition(
        status.conditions, READY, "False", "InvalidSpec", message, now, generation
    )
    status.observed_generation = generation
    return Report(status)
