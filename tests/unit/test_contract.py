"""The wire contract: encodings both sides must read back exactly."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gatepass.contract import (
    APP_MAX,
    ENTRY_MAX,
    LAST_SEEN_SHARDS,
    TRUNCATED,
    LastUse,
    Report,
    format_ts,
    last_seen_entry,
    last_seen_shard_name,
    last_seen_shards,
    parse_last_seen,
    parse_ts,
)
from gatepass.decisions.shardbudget import SHARD_BUDGET
from gatepass.trust.seal import Sealer, generate_key

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


def test_the_shards_are_thirty_two_named_by_their_prefix() -> None:
    shards = last_seen_shards("gp-last-seen")
    assert len(set(shards)) == LAST_SEEN_SHARDS == 32
    assert (shards[0], shards[-1]) == ("gp-last-seen-00", "gp-last-seen-31")
    assert last_seen_shard_name("gp-last-seen", 32 + 3) == "gp-last-seen-03"


def test_a_hundred_thousand_used_tokens_fit_every_shard_under_the_operators_budget() -> None:
    """Realistic names: 40 namespaces of 2,500 tokens, an application each, IPv4 clients;
    5 % in a grace. Under the budget past which the operator evicts (so a large but honest
    cluster never sees an eviction), far under the API server's ~1.5 MiB."""
    sealer = Sealer(generate_key())
    sizes = dict.fromkeys(last_seen_shards("gatepass-last-seen"), 0)
    for i in range(100_000):
        key = (f"team-{i % 40:02d}-production", f"deploy-bot-{i:06d}")
        use = LastUse(WHEN, f"{key[0]}/internal-api", f"10.{i % 250}.{i % 200}.{i % 254}")
        shard = sealer.last_seen_shard("gatepass-last-seen", key)
        for previous in (False, True) if i % 20 == 0 else (False,):
            entry, value = last_seen_entry(key, use, previous)
            sizes[shard] += len(entry) + len(value)
    assert max(sizes.values()) < 0.5 * SHARD_BUDGET  # room to spare: ~200k fit
    assert max(sizes.values()) < 1.15 * min(sizes.values())  # evenly spread


CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")  # what the API server admits


@pytest.mark.parametrize("previous", [False, True])
def test_an_entry_is_bounded_whatever_a_tenant_names_things_or_a_client_sends(previous: bool) -> None:
    """The longest namespace (63) and token name (253), used at the longest application name
    from a hostile address: a key the API server admits (a longer one made it refuse the whole
    shard's patch) and at most ENTRY_MAX bytes, read back to the same token."""
    key = ("n" * 63, "t" * 253)
    use = LastUse(WHEN, "a" * 63 + "/" + "b" * 253, "f" * 40 + "%" + "e" * 200)
    entry, value = last_seen_entry(key, use, previous)
    assert CONFIGMAP_KEY.match(entry)
    assert len(entry) + len(value) <= ENTRY_MAX < 600
    parsed = parse_last_seen(entry, value)
    assert parsed is not None
    assert (parsed.key, parsed.previous, parsed.use.at, parsed.use.client) == (key, previous, WHEN, None)
    assert parsed.use.app == "a" * 63 + "/" + "b" * (APP_MAX - 64 - len(TRUNCATED)) + TRUNCATED
    assert len(parsed.use.app) == APP_MAX


def test_a_key_within_the_limit_stays_namespace_dot_name_and_only_longer_ones_are_digests() -> None:
    fits = ("n" * 63, "t" * (253 - 64))
    assert last_seen_entry(fits, LastUse(WHEN))[0] == f"{fits[0]}.{fits[1]}"
    longer = ("n" * 63, "t" * (253 - 63))
    entry, value = last_seen_entry(longer, LastUse(WHEN))
    assert entry.startswith(f"{'n' * 63}._")
    assert len(entry) < 253
    assert value.endswith(f" {longer[1]}")
    # A digest key whose value names another token is no one's.
    forged = value.replace(" " + longer[1], " " + "u" * 190)
    assert parse_last_seen(entry, forged) is None
    assert parse_last_seen(entry, value.removesuffix(" " + longer[1])) is None
