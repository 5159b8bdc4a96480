"""The wire contract: encodings both sides must read back exactly."""

from datetime import UTC, datetime, timedelta, timezone

from gatepass.contract import format_ts, last_seen_entry, parse_last_seen, parse_ts


def test_last_seen_entries_round_trip_names_with_dots() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    key, value = last_seen_entry(("team-a", "ci.bot.v2"), when)
    assert (key, value) == ("team-a.ci.bot.v2", "2026-01-02T03:04:05Z")
    assert parse_last_seen(key, value) == (("team-a", "ci.bot.v2"), when)


def test_unreadable_last_seen_entries_are_ignored() -> None:
    assert parse_last_seen("nodot", "2026-01-02T03:04:05Z") is None
    assert parse_last_seen(".name", "2026-01-02T03:04:05Z") is None
    assert parse_last_seen("ns.name", "yesterday") is None
    assert parse_last_seen("ns.name", "2026-01-02T03:04:05") is None  # no zone: ambiguous


def test_timestamps_are_whole_seconds_in_utc() -> None:
    t = datetime(2026, 1, 2, 4, 4, 5, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert format_ts(t) == "2026-01-02T03:04:05Z"
    assert parse_ts(format_ts(t)) == t.replace(microsecond=0)
