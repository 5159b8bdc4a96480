from gatepass.contract import last_seen_shard, last_seen_shards
from gatepass.gateway.lastseen import LastSeen, by_shard

A = ("ns", "a")


def test_batches_keep_the_latest_use_and_survive_a_failed_flush() -> None:
    seen = LastSeen()
    seen.saw("ns", "a", 10.0, "ns/app", "10.0.0.1")
    seen.saw("ns", "a", 20.0, "ns/other", "10.0.0.2")
    batch = seen.take()
    assert batch == {(A, False): (20.0, "ns/other", "10.0.0.2")}
    assert seen.take() == {}
    seen.saw("ns", "a", 15.0, "ns/app", None)  # used again while the failed flush was in flight
    seen.give_back(batch)
    assert seen.take() == {(A, False): (20.0, "ns/other", "10.0.0.2")}
    seen.saw("ns", "a", 30.0, "ns/app", None)  # newer than the batch given back: kept
    seen.give_back(batch)
    assert seen.take() == {(A, False): (30.0, "ns/app", None)}


def test_a_use_of_the_previous_secret_is_reported_apart_and_is_a_use_too() -> None:
    seen = LastSeen()
    seen.saw("ns", "a", 10.0, "ns/app", "10.0.0.1", previous=True)
    seen.saw("ns", "a", 20.0, "ns/app", "10.0.0.2")  # the new secret, from elsewhere
    assert seen.take() == {
        (A, False): (20.0, "ns/app", "10.0.0.2"),
        (A, True): (10.0, "ns/app", "10.0.0.1"),  # not overwritten by the current secret's use
    }


def test_a_flush_is_one_patch_per_shard_used_with_a_tokens_entries_together() -> None:
    seen = LastSeen()
    tokens = [("ns", f"t{i}") for i in range(200)]
    for ns, name in tokens:
        seen.saw(ns, name, 10.0, "ns/app", None, previous=name == "t7")
    shards = by_shard("gp-last-seen", seen.take())
    assert set(shards) == set(last_seen_shards("gp-last-seen"))  # 200 tokens touch all sixteen
    assert sum(len(batch) for batch in shards.values()) == 201
    home = last_seen_shard("gp-last-seen", ("ns", "t7"))
    assert {(("ns", "t7"), False), (("ns", "t7"), True)} <= shards[home].keys()
    one = LastSeen()
    one.saw("ns", "t1", 10.0, "ns/app", None)
    assert list(by_shard("gp-last-seen", one.take())) == [last_seen_shard("gp-last-seen", ("ns", "t1"))]


def test_a_session_counts_as_used_when_it_was_minted_never_later() -> None:
    seen = LastSeen()
    seen.saw("ns", "a", 100.0, "ns/app", "10.0.0.1", session_iat=40.0)  # a session minted at 40
    assert seen.take() == {(A, False): (40.0, "ns/app", "10.0.0.1")}
    seen.saw("ns", "a", 100.0, "ns/app", "10.0.0.1")  # the credentials themselves
    seen.saw("ns", "a", 110.0, "ns/origin", "10.9.9.9", session_iat=40.0)  # replayed later
    assert seen.take() == {(A, False): (100.0, "ns/app", "10.0.0.1")}  # not hidden by the older time
    # A previous secret's session keeps its grace from ending early: reported as used now.
    seen.saw("ns", "a", 120.0, "ns/app", None, previous=True, session_iat=40.0)
    assert seen.take() == {(A, False): (40.0, "ns/app", None), (A, True): (120.0, "ns/app", None)}
