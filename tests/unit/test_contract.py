"""The wire contract: encodings both sides must read back exactly."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gatepass.contract import (
    LAST_SEEN_SHARDS,
    LastUse,
    Report,
    format_ts,
    last_seen_entry,
    last_seen_shard,
    last_seen_shards,
    parse_last_seen,
    parse_ts,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_last_seen_entries_round_trip_names_with_dots() -> None:
    use = LastUse(WHEN, "team-b/reports.v2", "2001:db8::7")
    key, value = last_seen_entry(("team-a", "ci.bot.v2"), use)
    assert (key, value) == ("team-a.ci.bot.v2", "2026-01-02T03:04:05Z team-b/reports.v2 2001:db8::7")
    assert parse_last_seen(key, value) == Report(("team-a", "ci.bot.v2"), use)
    assert parse_last_seen(*last_seen_entry(("ns", "t"), LastUse(WHEN))) == Report(("ns", "t"), LastUse(WHEN))


def test_a_use_of_the_previous_secret_has_its_own_key_which_no_token_can_have() -> None:
    use = LastUse(WHEN, "ns/app", "10.0.0.9")
    key, value = last_seen_entry(("ns", "ci.bot"), use, previous=True)
    assert key == "previous_ns.ci.bot"
    assert key != last_seen_entry(("ns", "ci.bot"), use)[0]
    assert parse_last_seen(key, value) == Report(("ns", "ci.bot"), use, previous=True)
    # A namespace named "previous" is an ordinary token's key.
    assert parse_last_seen("previous.t", value) == Report(("previous", "t"), use)


def test_a_report_of_an_older_gateway_is_the_time_alone() -> None:
    assert parse_last_seen("ns.t", "2026-01-02T03:04:05Z") == Report(("ns", "t"), LastUse(WHEN))


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-02T03:04:05Z <script>/x 10.0.0.1",
        "2026-01-02T03:04:05Z ns/app 10.0.0.1;rm",
        "2026-01-02T03:04:05Z " + "a" * 70 + "/app " + "1" * 50,
    ],
)
def test_what_does_not_look_like_an_application_or_address_is_dropped(value: str) -> None:
    parsed = parse_last_seen("ns.t", value)
    assert parsed is not None
    assert parsed.use.at == WHEN
    assert (parsed.use.app is None) or (parsed.use.client is None)
    assert "<" not in str(parsed.use.app)
    assert ";" not in str(parsed.use.client)


def test_unreadable_last_seen_entries_are_ignored() -> None:
    assert parse_last_seen("nodot", "2026-01-02T03:04:05Z") is None
    assert parse_last_seen(".name", "2026-01-02T03:04:05Z") is None
    assert parse_last_seen("ns.name", "yesterday") is None
    assert parse_last_seen("ns.name", "2026-01-02T03:04:05") is None  # no zone: ambiguous


def test_timestamps_are_whole_seconds_in_utc() -> None:
    t = datetime(2026, 1, 2, 4, 4, 5, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert format_ts(t) == "2026-01-02T03:04:05Z"
    assert parse_ts(format_ts(t)) == t.replace(microsecond=0)


def test_a_tokens_entries_share_one_shard_the_same_in_every_process() -> None:
    shards = last_seen_shards("gp-last-seen")
    assert len(set(shards)) == LAST_SEEN_SHARDS == 16
    assert (shards[0], shards[-1]) == ("gp-last-seen-00", "gp-last-seen-15")
    assert last_seen_shard("gp-last-seen", ("team-a", "ci.bot")) in shards
    # crc32 of "team-a.ci.bot": a fixed value, unlike hash(), which differs per process.
    assert last_seen_shard("gp-last-seen", ("team-a", "ci.bot")) == "gp-last-seen-06"


def test_a_hundred_thousand_used_tokens_fit_every_shard_under_the_configmap_limit() -> None:
    """The API server refuses a ConfigMap whose data exceeds 1 MiB. Realistic names:
    40 namespaces of 2,500 tokens, an application each, IPv4 clients; 5 % in a grace."""
    sizes = dict.fromkeys(last_seen_shards("gatepass-last-seen"), 0)
    for i in range(100_000):
        key = (f"team-{i % 40:02d}-production", f"deploy-bot-{i:06d}")
        use = LastUse(WHEN, f"{key[0]}/internal-api", f"10.{i % 250}.{i % 200}.{i % 254}")
        shard = last_seen_shard("gatepass-last-seen", key)
        for previous in (False, True) if i % 20 == 0 else (False,):
            entry, value = last_seen_entry(key, use, previous)
            sizes[shard] += len(entry) + len(value)
    assert max(sizes.values()) < 0.8 * 1024 * 1024  # room to spare
    assert max(sizes.values()) < 1.1 * min(sizes.values())  # evenly spread
