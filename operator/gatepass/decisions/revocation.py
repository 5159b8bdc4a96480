"""From when an application's sessions are refused, for one revoke-sessions request.

The request is the annotation's value: the moment it was asked for (``kubectl gatepass
revoke-sessions`` writes it with microseconds). The gateway refuses a session minted
before the recorded time, so the time must never fall before the request:

* a time with a fraction stands for itself;
* a whole-second time (an older plugin, a hand-written value) may stand for any moment of
  its second: its end is taken;
* anything else ("1", "now") says nothing of when: the end of the operator's second.

The operator's clock (whole seconds, ``now``) handles the request after it was made, so
the result is never before ``now`` either (a writer's clock behind the cluster's would
otherwise spare sessions minted just before the request), and never past the end of
``now``'s second: a later value (a writer's clock ahead, a hand-written future) would
refuse every session minted until then, new ones included.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gatepass.contract import parse_ts

SECOND = timedelta(seconds=1)


def asked_moment(request: str) -> datetime | None:
    """The latest moment the request may have been made at, or None if it names none."""
    when = parse_ts(request.strip())
    if when is None:
        return None
    return when if "." in request or "," in request else when + SECOND


def revoked_before(request: str, now: datetime) -> datetime:
    """``sessionsRevokedBefore`` for a new request handled at ``now`` (whole seconds)."""
    end_of_now = now.replace(microsecond=0) + SECOND
    asked = asked_moment(request)
    return end_of_now if asked is None else min(max(asked, now), end_of_now)
