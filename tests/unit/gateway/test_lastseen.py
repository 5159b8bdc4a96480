from datetime import UTC, datetime

from gatepass.gateway.lastseen import LastSeen, entry_key, parse_entry


def test_entry_keys_round_trip_names_with_dots() -> None:
    key = entry_key("team-a", "ci.bot.v2")
    assert parse_entry(key, "2026-01-02T03:04:05Z") == (
        ("team-a", "ci.bot.v2"),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert parse_entry("nodot", "2026-01-02T03:04:05Z") is None
    assert parse_entry(key, "yesterday") is None


def test_batches_keep_the_latest_use_and_survive_a_failed_flush() -> None:
    seen = LastSeen()
    seen.saw("ns", "a", 10.0)
    seen.saw("ns", "a", 20.0)
    batch = seen.take()
    assert batch == {("ns", "a"): 20.0}
    assert seen.take() == {}
    seen.saw("ns", "a", 15.0)  # used again while the failed flush was in flight
    seen.give_back(batch)
    assert seen.take() == {("ns", "a"): 20.0}
