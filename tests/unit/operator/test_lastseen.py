"""The operator's reading of the gateway's last-seen reports (the ConfigMaps themselves, on
a real API server: tests/e2e/test_last_seen.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from gatepass.contract import LastUse, last_seen_entry
from gatepass.decisions.shardbudget import entry_cost
from gatepass.decisions.token.lifetime import LAST_SEEN_STEP
from gatepass.operator.lastseen import Reports
from tests.support.fakestores import fake_stores

T0 = datetime(2026, 12, 6, tzinfo=UTC)
KEY = ("ns", "ci-bot")
M = timedelta(minutes=1)


def reported(at: datetime, previous: bool = False) -> dict[str, str]:
    return dict([last_seen_entry(KEY, LastUse(at, "ns/app", "10.0.0.1"), previous)])


def test_a_use_asks_for_a_reconcile_once_per_status_step_and_is_kept_exactly() -> None:
    """Every minute's report of a busy token must not cost a reconcile (two GETs) each."""
    reports = reports_with(Dropped())
    assert reports.read(reported(T0)) == {KEY}  # the first use: status has none
    assert reports.read(reported(T0 + M)) == set()  # within the step
    assert reports.current[KEY].at == T0 + M  # ...yet known exactly (inactivity reads it)
    assert reports.read(reported(T0 - M)) == set()  # an older report (another replica)
    assert reports.current[KEY].at == T0 + M
    assert reports.read(reported(T0 + LAST_SEEN_STEP)) == {KEY}  # a step past the last ask
    assert reports.read(reported(T0 + LAST_SEEN_STEP + M)) == set()


def test_a_use_of_the_previous_secret_always_asks() -> None:
    """It is what ends a rotation's grace early: rare, and wanted at once."""
    reports = reports_with(Dropped())
    assert reports.read(reported(T0, previous=True)) == {KEY}
    assert reports.read(reported(T0 + M, previous=True)) == {KEY}
    assert reports.read(reported(T0 + M, previous=True)) == set()  # nothing new
    assert KEY not in reports.current


class Dropped:
    """A Sweeper's stand-in: what it was asked to remove, per shard."""

    def __init__(self) -> None:
        self.asked: dict[str, set[str]] = {}

    def drop(self, shard: str, keys: Iterable[str]) -> None:
        self.asked.setdefault(shard, set()).update(keys)


def reports_with(
    dropped: Dropped, serves: Callable[[str], bool] = lambda _: True, budget: int = 10**6
) -> Reports:
    configmaps = fake_stores().configmaps
    return Reports(
        "gatepass-system", "gp-last-seen", serves, configmaps=configmaps, sweeper=dropped, budget=budget
    )


def test_a_deleted_tokens_entries_leave_the_shard_they_were_read_from() -> None:
    dropped = Dropped()
    reports = reports_with(dropped)
    reports.read({**reported(T0), **reported(T0, previous=True)}, "gp-last-seen-07")
    reports.forget(KEY)
    assert dropped.asked == {"gp-last-seen-07": {"ns.ci-bot", "previous_ns.ci-bot"}}
    assert KEY not in {**reports.current, **reports.previous, **reports.shard_of}


def test_a_shard_read_drops_entries_of_tokens_that_do_not_exist_in_served_namespaces() -> None:
    dropped = Dropped()
    reports = reports_with(dropped, serves=lambda ns: ns != "elsewhere")
    data = {
        **reported(T0),
        **dict([last_seen_entry(("ns", "gone"), LastUse(T0))]),
        **dict([last_seen_entry(("elsewhere", "theirs"), LastUse(T0))]),  # another operator's
    }
    reports.read(data, "gp-last-seen-03", {KEY}.__contains__)
    assert dropped.asked == {"gp-last-seen-03": {"ns.gone"}}
    assert ("ns", "gone") not in reports.current


def test_a_copy_left_in_another_shard_goes_once_the_newer_is_an_hour_ahead() -> None:
    """A new seal key (or a gateway of another release) writes a token's entries into
    another shard: the old copy must not hold room there forever."""
    dropped = Dropped()
    reports = reports_with(dropped)
    old, new = reported(T0), reported(T0 + timedelta(hours=2))
    reports.read(old, "gp-last-seen-01", lambda _: True)
    reports.read(new, "gp-last-seen-02", lambda _: True)
    assert dropped.asked == {}  # the old copy was the newest when it was read
    reports.read(old, "gp-last-seen-01", lambda _: True)  # its shard's next event
    assert dropped.asked == {"gp-last-seen-01": {"ns.ci-bot"}}
    assert reports.shard_of[KEY] == "gp-last-seen-02"
    # Replicas a flush apart are no left-overs.
    dropped.asked.clear()
    reports.read(reported(T0 + timedelta(hours=2) - timedelta(minutes=2)), "gp-last-seen-01", lambda _: True)
    assert dropped.asked == {}


def test_past_its_budget_a_shard_loses_the_largest_writers_oldest_entries_only() -> None:
    dropped = Dropped()
    reports = reports_with(dropped, budget=20_000)
    hog = {
        k: v
        for i in range(100)
        for k, v in [last_seen_entry(("hog", f"{i:03d}" + "x" * 200), LastUse(T0 + i * M))]
    }
    data = {**hog, **reported(T0 - LAST_SEEN_STEP)}  # the victim's, the oldest of all
    assert sum(map(len, hog)) + sum(map(len, hog.values())) > 20_000
    reports.read(data, "gp-last-seen-05", lambda _: True)
    gone = dropped.asked["gp-last-seen-05"]
    assert "ns.ci-bot" not in gone
    assert gone == set(sorted(hog)[: len(gone)])  # the hog's oldest
    left = {k: v for k, v in data.items() if k not in gone}
    assert sum(entry_cost(k, v) for k, v in left.items()) <= 20_000
