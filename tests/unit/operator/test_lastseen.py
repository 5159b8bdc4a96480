"""The operator's reading of the gateway's last-seen reports (the ConfigMaps themselves, on
a real API server: tests/e2e/test_last_seen.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gatepass.contract import LastUse, last_seen_entry
from gatepass.decisions.servicetoken import LAST_SEEN_STEP
from gatepass.operator.lastseen import Reports

T0 = datetime(2026, 12, 6, tzinfo=UTC)
KEY = ("ns", "ci-bot")
M = timedelta(minutes=1)


def reported(at: datetime, previous: bool = False) -> dict[str, str]:
    return dict([last_seen_entry(KEY, LastUse(at, "ns/app", "10.0.0.1"), previous)])


def test_a_use_asks_for_a_reconcile_once_per_status_step_and_is_kept_exactly() -> None:
    """Every minute's report of a busy token must not cost a reconcile (two GETs) each."""
    reports = Reports("gatepass-system", "gp-last-seen", lambda _: True)
    assert reports.read(reported(T0)) == {KEY}  # the first use: status has none
    assert reports.read(reported(T0 + M)) == set()  # within the step
    assert reports.current[KEY].at == T0 + M  # ...yet known exactly (inactivity reads it)
    assert reports.read(reported(T0 - M)) == set()  # an older report (another replica)
    assert reports.current[KEY].at == T0 + M
    assert reports.read(reported(T0 + LAST_SEEN_STEP)) == {KEY}  # a step past the last ask
    assert reports.read(reported(T0 + LAST_SEEN_STEP + M)) == set()


def test_a_use_of_the_previous_secret_always_asks() -> None:
    """It is what ends a rotation's grace early: rare, and wanted at once."""
    reports = Reports("gatepass-system", "gp-last-seen", lambda _: True)
    assert reports.read(reported(T0, previous=True)) == {KEY}
    assert reports.read(reported(T0 + M, previous=True)) == {KEY}
    assert reports.read(reported(T0 + M, previous=True)) == set()  # nothing new
    assert KEY not in reports.current
