"""The operator's clock: whole seconds, UTC, injectable for tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    # Whole seconds: status timestamps are RFC 3339 seconds, and deciding on a
    # value that a round trip through the API would change invites flapping.
    return datetime.now(UTC).replace(microsecond=0)
