"""The last-seen report on a real API server: the shards the gateway patches, the
operator's housekeeping (deleted tokens, ended graces, gatepass 0.2's single ConfigMap),
and what a tenant can do to another's reports.

The gateway's side (a use reaches status) is in test_gateway.py; here entries are written
as the gateway would write them (its own flush, in this process, where a test needs more
uses than real requests would make quickly), so each test is about what the API server
and the operator do with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubernetes import client

from gatepass.contract import (
    LAST_SEEN_LABEL,
    MANAGED_BY,
    REFRESH_ANNOTATION,
    LastUse,
    last_seen_entry,
    last_seen_shards,
)
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.reports import PREFIX, shard_data, shard_of
from tests.support.tokens import Tokens, stamp, ts
from tests.support.waiting import wait_for


def report(core: client.CoreV1Api, namespace: str, token: str, use: LastUse, previous: bool = False) -> str:
    """Write an entry into the token's shard, as the gateway does; its key."""
    key, value = last_seen_entry((namespace, token), use, previous)
    shard = shard_of(core.api_client, (namespace, token))
    core.patch_namespaced_config_map(shard, OPERATOR_NAMESPACE, {"data": {key: value}})
    return key


def recent(minutes: int = 1) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(microsecond=0)


def test_the_operator_keeps_the_shards(api: client.ApiClient, running_operator: OperatorProcess) -> None:
    core = client.CoreV1Api(api)

    def names() -> set[str]:
        listing = core.list_namespaced_config_map(
            OPERATOR_NAMESPACE, label_selector=f"{LAST_SEEN_LABEL}=true"
        )
        return {cm.metadata.name for cm in listing.items}

    # (A deleted shard comes back: test_gateway.py, where the gateway then reports into it.)
    wait_for(lambda: set(last_seen_shards(PREFIX)) <= names(), timeout=15, what="the shards")


def test_a_report_reaches_status_and_a_deleted_tokens_entries_leave_its_shard(
    api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    core, tokens = client.CoreV1Api(api), Tokens(api, namespace)
    tokens.create("reported")
    tokens.wait_ready("reported")
    used = recent()
    key = report(core, namespace, "reported", LastUse(used, f"{namespace}/app", "10.1.2.3"))
    seen = wait_for(lambda: tokens.status("reported").get("lastSeenAt"), timeout=10, what="lastSeenAt")
    assert ts(seen) == used
    assert tokens.status("reported")["lastSeenClient"] == "10.1.2.3"
    shard = shard_of(api, (namespace, "reported"))
    tokens.delete("reported")
    wait_for(lambda: key not in shard_data(core, shard), timeout=10, what="the deleted token's entry dropped")


def test_status_last_seen_moves_in_steps(
    api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    """A report a minute later than status leaves status alone (a write per token per
    step, not per report); one past the step moves it."""
    core, tokens = client.CoreV1Api(api), Tokens(api, namespace)
    tokens.create("stepper")
    tokens.wait_ready("stepper")
    first = recent(20)
    report(core, namespace, "stepper", LastUse(first))
    wait_for(lambda: tokens.status("stepper").get("lastSeenAt") == stamp(first), timeout=10, what="first use")
    # The small step is written while no operator runs: one starting reads every report
    # before its first reconcile, so the refresh below surely decides with it known.
    running_operator.stop()
    report(core, namespace, "stepper", LastUse(first + timedelta(minutes=1)))
    running_operator.proc = None
    running_operator.start()
    # A refresh makes the operator reconcile (and write status) after that report.
    tokens.annotate("stepper", REFRESH_ANNOTATION, "after-small-step")
    tokens.wait_reasons("stepper", "Refreshed")
    assert tokens.status("stepper")["lastSeenAt"] == stamp(first)
    later = first + timedelta(minutes=10)
    report(core, namespace, "stepper", LastUse(later))
    wait_for(
        lambda: tokens.status("stepper").get("lastSeenAt") == stamp(later), timeout=10, what="the next step"
    )


def test_entries_of_tokens_deleted_while_no_operator_ran_are_pruned_at_start(
    api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    core, tokens = client.CoreV1Api(api), Tokens(api, namespace)
    tokens.create("alive")
    tokens.wait_ready("alive")
    running_operator.stop()
    stale = report(core, namespace, "long-gone", LastUse(recent()))
    kept = report(core, namespace, "alive", LastUse(recent()))
    other = report(core, "some-other-namespace", "whatever", LastUse(recent()))  # no such token either
    running_operator.proc = None
    running_operator.start()
    stale_shard = shard_of(api, (namespace, "long-gone"))
    wait_for(lambda: stale not in shard_data(core, stale_shard), timeout=20, what="the stale entry pruned")
    assert kept in shard_data(core, shard_of(api, (namespace, "alive")))
    # The session operator serves every namespace: an entry of a token that exists nowhere goes too.
    assert other not in shard_data(core, shard_of(api, ("some-other-namespace", "whatever")))


def test_gatepass_0_2s_single_configmap_is_moved_into_the_shards(
    api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    """An upgrade: the old gateway wrote one ConfigMap; its entries move into the shards
    (never over a newer one there), it is emptied, and status gets the times."""
    core, tokens = client.CoreV1Api(api), Tokens(api, namespace)
    for name in ("old-user", "both-wrote"):
        tokens.create(name)
        tokens.wait_ready(name)
    old, newer = recent(30), recent(2)
    newest_key = report(core, namespace, "both-wrote", LastUse(newer, f"{namespace}/new"))
    entries = dict(
        [
            last_seen_entry((namespace, "old-user"), LastUse(old, f"{namespace}/app", "10.0.0.7")),
            last_seen_entry((namespace, "both-wrote"), LastUse(old, f"{namespace}/old")),
            last_seen_entry((namespace, "deleted-since"), LastUse(old)),
        ]
    )
    labels = {**MANAGED_BY, LAST_SEEN_LABEL: "true"}
    meta = client.V1ObjectMeta(name=PREFIX, namespace=OPERATOR_NAMESPACE, labels=labels)
    try:
        core.create_namespaced_config_map(OPERATOR_NAMESPACE, client.V1ConfigMap(metadata=meta, data=entries))
        wait_for(lambda: not shard_data(core, PREFIX), timeout=15, what="the old ConfigMap emptied")
        moved = shard_data(core, shard_of(api, (namespace, "old-user")))
        key = f"{namespace}.old-user"
        assert moved[key] == entries[key]
        both = shard_data(core, shard_of(api, (namespace, "both-wrote")))
        assert both[newest_key].startswith(stamp(newer))  # the shard's newer use stays
        deleted = shard_of(api, (namespace, "deleted-since"))
        assert f"{namespace}.deleted-since" not in shard_data(core, deleted)
        seen = wait_for(lambda: tokens.status("old-user").get("lastSeenAt"), timeout=10, what="lastSeenAt")
        assert ts(seen) == old
    finally:
        core.delete_namespaced_config_map(PREFIX, OPERATOR_NAMESPACE)
