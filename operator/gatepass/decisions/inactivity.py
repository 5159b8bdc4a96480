"""Inactive tokens: when a ServiceToken nobody uses is deactivated or deleted.

Cloudflare's rule, mirrored: a token unused for ``after`` (30 to 365 days) is
disabled or deleted, and a token named directly by a policy is skipped. Here the
rule is ``spec.inactivity``, else the operator's default; only applications in
the token's own namespace exempt it (another namespace's policy must not change
what this namespace's tokens get).

Inactivity counts from the token's last use (``status.lastSeenAt``, reported by
the gateway), its creation if it was never used, or the last
``gatepass.dev/reactivate``, whichever is latest. The state is derived, not
latched: a token is deactivated exactly while the rule says it is overdue, so
reactivating it, naming it in a policy, or lengthening ``after`` (or setting it
to ``never``) lets it work again. A Warning comes :data:`WARNING` before.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from gatepass.models.servicetoken import Inactivity, InactivityAction, ServiceTokenStatus

# How long before acting the InactiveSoon Warning comes (after is at least 30 days).
WARNING = timedelta(days=7)

SPEC = "spec.inactivity"
DEFAULT = "the operator's default"


@dataclass(frozen=True)
class Rule:
    after: timedelta
    action: InactivityAction
    text: str  # after as written, for messages
    source: str  # SPEC or DEFAULT


def rule_for(spec: Inactivity | None, default: Inactivity | None) -> Rule | None:
    """The rule a token follows: its own, else the operator's; None when it never expires
    for disuse. Raises ValueError on an unparsable ``after``."""
    chosen, source = (spec, SPEC) if spec is not None else (default, DEFAULT)
    if chosen is None:
        return None
    period = chosen.period
    return None if period is None else Rule(period, chosen.action, chosen.after, source)


class State(enum.Enum):
    OFF = "Off"  # no rule, or nothing issued yet to measure
    EXEMPT = "Exempt"  # named by a policy in its namespace
    ACTIVE = "Active"
    SOON = "Soon"  # within WARNING of the deadline
    DUE = "Due"


@dataclass(frozen=True)
class Assessment:
    state: State
    rule: Rule | None = None
    since: datetime | None = None  # last activity: use, creation or reactivation
    named_by: str | None = None

    @property
    def deadline(self) -> datetime | None:
        return None if self.rule is None or self.since is None else self.since + self.rule.after

    @property
    def wake_at(self) -> tuple[datetime, ...]:
        """When the state changes by time alone."""
        deadline = self.deadline
        if deadline is None or self.state is State.EXEMPT:
            return ()
        return (deadline - WARNING, deadline)


def last_activity(
    status: ServiceTokenStatus, now: datetime, reported: datetime | None = None
) -> datetime | None:
    """The latest of last use (as recorded in status, or as the gateway reported it since:
    status moves in steps), creation and reactivation; never later than now (status is
    writable by the namespace's owner: a future time must not postpone forever)."""
    times = [
        t for t in (status.last_seen_at, reported, status.created_at, status.reactivated_at) if t is not None
    ]
    return min(max(times), now) if times else None


def assess(
    rule: Rule | None,
    status: ServiceTokenStatus,
    named_by: str | None,
    now: datetime,
    reported: datetime | None = None,
) -> Assessment:
    since = last_activity(status, now, reported)
    if rule is None or since is None:
        return Assessment(State.OFF)
    if named_by is not None:
        return Assessment(State.EXEMPT, rule, since, named_by)
    deadline = since + rule.after
    if now >= deadline:
        return Assessment(State.DUE, rule, since)
    return Assessment(State.SOON if now >= deadline - WARNING else State.ACTIVE, rule, since)
