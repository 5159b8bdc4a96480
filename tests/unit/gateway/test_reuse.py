"""How long a forward-auth answer may be reused: the bound, the session's exp, whole seconds."""

from __future__ import annotations

import pytest

from gatepass.gateway.reuse import NO_STORE, cache_headers


@pytest.mark.parametrize(
    ("until", "now", "bound", "max_age", "last_second"),
    [
        (10_000.0, 100.25, 1, 1, 100),  # nginx keeps it to 101.0: 0.75 s, within the bound
        (10_000.0, 100.0, 1, 1, 100),
        (10_000.0, 100.5, 5, 5, 104),
        (103.0, 100.5, 5, 2, 102),  # the session's exp comes first: gone at 103.0
    ],
)
def test_reuse_ends_by_the_bound_and_the_sessions_exp(
    until: float, now: float, bound: int, max_age: int, last_second: int
) -> None:
    headers = cache_headers(until, now, bound)
    assert next(iter(headers)) == "X-Accel-Expires"  # before Cache-Control: nginx 1.22 reads it so
    assert headers["X-Accel-Expires"] == f"@{last_second}"
    assert headers["Cache-Control"] == f"private, max-age={max_age}"
    assert last_second + 1 <= min(until, now + bound)


@pytest.mark.parametrize(
    ("until", "now", "bound"),
    [(None, 100.0, 1), (10_000.0, 100.0, 0), (100.9, 100.0, 1), (101.5, 100.9, 5)],
)
def test_otherwise_nothing_is_reused(until: float | None, now: float, bound: int) -> None:
    assert cache_headers(until, now, bound) == NO_STORE
