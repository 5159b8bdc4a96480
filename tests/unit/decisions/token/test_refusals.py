"""What a refused Secret write and a spec that does not parse say, in status and Events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gatepass.decisions.token.refusals import invalid, refusal_message, refused
from gatepass.models.conditions import READY, Condition, find
from gatepass.models.servicetoken import ServiceTokenStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ISSUED = ServiceTokenStatus(
    client_id="a" * 32 + ".access",
    conditions=[Condition(type=READY, status="True", reason="Issued", last_transition_time=T0)],
)


def test_a_refused_secret_says_so_in_ready_and_once_in_a_warning() -> None:
    message = refusal_message("tok", 403, "Forbidden")
    first = refused(ISSUED, 4, message, T0 + timedelta(hours=1))
    ready = find(first.status.conditions, READY)
    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == ("False", "SecretRefused", message)
    assert ready.observed_generation == 4
    assert first.event is not None
    assert (first.event.type, first.event.reason, first.event.message) == (
        "Warning",
        "SecretRefused",
        message,
    )
    again = refused(first.status, 4, message, T0 + timedelta(hours=2))
    assert again.event is None  # the same refusal is said once
    other = refused(first.status, 4, refusal_message("tok", 422, "Unprocessable Entity"), T0)
    assert other.event is not None  # a different one is said again
    assert ISSUED.conditions[0].reason == "Issued"  # the status read is not edited


def test_a_refusal_names_the_code_and_reason_only() -> None:
    assert refusal_message("tok", 403, "Forbidden") == (
        "the API server refused to write Secret tok: 403 Forbidden; retrying with backoff"
    )


def test_an_invalid_spec_is_said_in_ready_without_an_event() -> None:
    said = invalid(ISSUED, 7, "spec.duration: not a duration", T0)
    ready = find(said.status.conditions, READY)
    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == (
        "False",
        "InvalidSpec",
        "spec.duration: not a duration",
    )
    assert said.status.observed_generation == 7
    assert said.status.client_id == ISSUED.client_id  # the record is kept as read
    assert said.event is None
