"""The status and Events a decision builds up, and how times read in their messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gatepass.contract import format_ts
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceTokenStatus


@dataclass
class Draft:
    """Mutable on purpose: one copy of the status, edited by the steps of one decision in
    order (plan.py), never seen outside it."""

    status: ServiceTokenStatus
    events: list[Event] = field(default_factory=list)

    def has(self, reason: str) -> bool:
        return any(e.reason == reason for e in self.events)


def ts(t: datetime | None) -> str:
    return "never" if t is None else format_ts(t)


def human(delta: timedelta) -> str:
    secs = int(delta.total_seconds())
    if secs >= 86400:
        return f"{secs // 86400}d{(secs % 86400) // 3600}h"
    if secs >= 3600:
        return f"{secs // 3600}h{(secs % 3600) // 60}m"
    return f"{secs // 60}m{secs % 60}s" if secs >= 60 else f"{secs}s"
