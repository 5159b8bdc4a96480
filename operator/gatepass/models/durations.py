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
    return timedelta(microseconds=round(micros))


def parse_lifetime(text: str) -> timedelta | None:
    """A token duration: a positive Go duration, or None for ``forever``."""
    if text == FOREVER:
        return None
    value = parse(text)
    if value <= timedelta(0):
        raise ValueError(f"duration must be positive, got {text!r}")
    return value
