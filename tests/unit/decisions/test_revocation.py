"""The time revoke-sessions records: never before the moment the request was made, nor
past the end of the second the operator handles it in."""

from datetime import UTC, datetime

import pytest

from gatepass.decisions.revocation import revoked_before

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)  # the operator's clock: whole seconds


def at(second: int, microsecond: int = 0) -> datetime:
    return NOW.replace(second=second, microsecond=microsecond)


@pytest.mark.parametrize(
    ("request_value", "expected"),
    [
        # The plugin's moment, handled within its second: that very microsecond.
        ("2026-03-01T12:00:05.250000Z", at(5, 250000)),
        ("2026-03-01T12:00:05.25Z", at(5, 250000)),
        ("2026-03-01T13:00:05.999999+01:00", at(5, 999999)),
        ("2026-03-01T12:00:05,5Z", at(5, 500000)),
        # A whole second may mean any moment of it: everything up to its end.
        ("2026-03-01T12:00:05Z", at(6)),
        # An explicit zero fraction is a moment, not a second.
        ("2026-03-01T12:00:05.0Z", at(5)),
        # Handled seconds later (or the writer's clock behind): the operator's now.
        ("2026-03-01T12:00:01.500000Z", at(5)),
        ("2026-03-01T12:00:01Z", at(5)),
        # No time at all ("1", a hand-written word): the end of the operator's second.
        ("1", at(6)),
        ("now", at(6)),
        ("", at(6)),
        # Later than the operator's second (a clock ahead, a hand-written future): never
        # past its end, or every new session would be refused until then.
        ("2026-03-01T12:00:07.5Z", at(6)),
        ("2099-01-01T00:00:00Z", at(6)),
        ("9999-12-31T23:59:59Z", at(6)),
    ],
)
def test_revoked_before(request_value: str, expected: datetime) -> None:
    assert revoked_before(request_value, NOW) == expected
