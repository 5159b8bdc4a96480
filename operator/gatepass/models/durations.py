"""Go duration strings (``8760h``, ``90m``, ``1h30m``) as used in the CRDs.

The API server already validates them with CEL's ``duration()``, which uses Go's
grammar; this parser accepts the same non-negative subset so both sides agree.
"""

from __future__ import annotations

import re
from datetime import timedelta

FOREVER = "forever"

_UNITS_US = {
    "ns": 0.001,
    "us": 1,
    "µs": 1,  # U+00B5, as Go prints it
    "μs": 1,  # U+03BC, also accepted by Go
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_WHOLE = re.compile(rf"^(?:{_PART.pattern})+$")


def parse(text: str) -> timedelta:
    """Parse a non-negative Go duration; raise ValueError naming the bad text."""
    if text == "0":
        return timedelta(0)
    if not _WHOLE.match(text):
        raise ValueError(f"not a duration: {text!r} (use a Go duration such as 8760h, 90m or 1h30m)")
    micros = sum(float(num) * _UNITS_US[unit] for num, unit in _PART.findall(text))
    try:
        return timedelta(microseconds=round(micros))
    except OverflowError:  # past timedelta's range: unreadable, as any bad text (CEL caps it)
        raise ValueError(f"duration out of range: {text!r}") from None


def parse_lifetime(text: str) -> timedelta | None:
    """A token duration: a positive Go duration, or None for ``forever``."""
    if text == FOREVER:
        return None
    value = parse(text)
    if value <= timedelta(0):
        raise ValueError(f"duration must be positive, got {text!r}")
    return value


# How long a previous secret may keep working after a rotation: Cloudflare's bounds
# (1 h to 30 days), or 0 for not at all.
GRACE_MIN = timedelta(hours=1)
GRACE_MAX = timedelta(days=30)


def grace_error(grace: timedelta) -> str | None:
    """None if ``grace`` is within the bounds, else what is wrong with it."""
    if grace == timedelta(0) or GRACE_MIN <= grace <= GRACE_MAX:
        return None
    return f"a grace period must be 0s or between 1h and 720h, got {grace}"


# Inactive tokens (spec.inactivity.after): Cloudflare's bounds, 30 to 365 days, or never.
NEVER = "never"
INACTIVITY_MIN = timedelta(days=30)
INACTIVITY_MAX = timedelta(days=365)


def parse_inactivity(text: str) -> timedelta | None:
    """How long a token may go unused: within the bounds, or None for ``never``."""
    if text == NEVER:
        return None
    value = parse(text)
    if not INACTIVITY_MIN <= value <= INACTIVITY_MAX:
        raise ValueError(f"must be between 720h and 8760h (30 to 365 days), or never; got {text!r}")
    return value
