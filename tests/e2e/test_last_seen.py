"""The last-seen report on a real API server: the shards the gateway patches, the
operator's housekeeping (deleted tokens, ended graces, gatepass 0.2's single ConfigMap),
and what a tenant can do to another's reports.

The gateway's side (a use reaches status) is in test_gateway.py; here entries are written
as the gateway would write them (its own flush, in this process, where a test needs more
uses than real requests would make quickly), so each test is about what the API server
and the operator do with them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig

from gatepass.contract import (
    LAST_SEEN_LABEL,
    LAST_SEEN_SHARDS,
    MANAGED_BY,
    REFRESH_ANNOTATION,
    LastUse,
    ObjectKey,
    last_seen_entry,
    last_seen_key,
    last_seen_shards,
)
from gatepass.decisions.shardbudget import entry_cost
from gatepass.gateway.lastseen import LastSeen, flush
from gatepass.trust.seal import Sealer
from tests.support.apps import Apps
from tests.support.cluster import ClusterInfo
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.reports import PREFIX, cluster_sealer, shard_data, shard_of
from tests.support.tenants import new_namespace, tenant_api
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


# --- a tenant against another's reports ---------------------------------------------------
# The longest names: an AccessApplication's, as the API server admits it, and a token's
# that can be used (its Secret carries the name in a label, at most 63 characters).
LONGEST_APP, LONGEST_TOKEN = 253, 63


@pytest.fixture
def attacker(api: client.ApiClient, cluster: ClusterInfo) -> Iterator[tuple[str, client.ApiClient]]:
    """A tenant's namespace (the longest name) and identity (`*` on gatepass.dev there)."""
    ns = new_namespace(api, "attacker-" + "n" * 47)
    with tenant_api(cluster, api, ns) as tenant:
        yield ns, tenant
    client.CoreV1Api(api).delete_namespace(ns)


def longest_names(namespace: str, landing: Callable[[ObjectKey], bool], count: int) -> list[str]:
    """Token names of the longest length whose reports land where ``landing`` says (the
    tests aim with the seal key, which no tenant holds: a stronger attacker than any)."""
    names: list[str] = []
    for i in itertools.count():
        if len(names) == count:
            return names
        name = f"{i:07d}" + "x" * (LONGEST_TOKEN - 7)
        if landing((namespace, name)):
            names.append(name)
    raise AssertionError("unreachable")


async def gateway_flush(
    cluster: ClusterInfo, sealer: Sealer, uses: list[tuple[ObjectKey, datetime, str]]
) -> int:
    """One flush of the gateway's report (gateway/lastseen.py, as the gateway runs it) of
    ``uses`` (token, when, application); the entries written."""
    seen = LastSeen()
    for (ns, name), at, app in uses:
        seen.saw(ns, name, at.timestamp(), app, "10.9.8.7")
    cfg = aclient.Configuration()
    await aconfig.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    async with aclient.ApiClient(cfg) as aapi:
        return await flush(aclient.CoreV1Api(aapi), OPERATOR_NAMESPACE, PREFIX, seen, sealer)


def restart(op: OperatorProcess, budget: int | None = None) -> None:
    """The session operator again (with a shard budget of its own, when given)."""
    op.stop()
    op.proc = None
    if budget is None:
        op.start()
    else:
        op.start(GATEPASS_LAST_SEEN_SHARD_BUDGET=str(budget))


@pytest.mark.soak  # a scale run: thousands of entries, hundreds of tokens
@pytest.mark.asyncio
async def test_a_tenant_filling_a_shard_to_its_limit_cannot_keep_anothers_use_from_being_recorded(
    cluster: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    attacker: tuple[str, client.ApiClient],
) -> None:
    """The attacker uses tokens and an application with the longest names the API server
    admits it (made here through its own identity; their thousands of uses are written as
    the gateway's flush writes them) until the victim's shard refuses any more. The victim
    uses its token again: its report is still written, and reaches status. Before, the
    flush patched the shard's whole batch or nothing: refused at every flush, the victim's
    use never recorded, and spec.inactivity would delete a token in use."""
    core, tokens = client.CoreV1Api(api), Tokens(api, namespace)
    hostile_ns, tenant = attacker
    app = "a" * LONGEST_APP
    Apps(tenant, hostile_ns).create(
        app, {"hosts": [f"h.{hostile_ns}.test"], "upstream": f"http://web.{hostile_ns}"}
    )
    sealer = cluster_sealer(api)
    victim = (namespace, "victim-bot")
    shard = sealer.last_seen_shard(PREFIX, victim)
    names = longest_names(hostile_ns, lambda key: sealer.last_seen_shard(PREFIX, key) == shard, 9000)
    Tokens(tenant, hostile_ns).create(names[0])  # such a name is the tenant's to choose
    tokens.create("victim-bot")
    tokens.wait_ready("victim-bot")
    first, hostile_app = recent(20), f"{hostile_ns}/{app}"
    await gateway_flush(cluster, sealer, [(victim, first, f"{namespace}/api")])
    wait_for(lambda: tokens.status("victim-bot").get("lastSeenAt") == stamp(first), timeout=10, what="a use")
    # While the attacker fills the shard no operator runs: it would remove the entries of
    # tokens that do not exist (these, bar one), and this test is about the flush.
    running_operator.stop()
    try:
        filled = False
        for start in range(0, len(names) - 1000, 1000):
            chunk = [((hostile_ns, n), recent(0), hostile_app) for n in names[start : start + 1000]]
            if await gateway_flush(cluster, sealer, chunk) < len(chunk):
                filled = True  # the API server refused some: the shard is at its limit
                break
        assert filled, "the shard never filled"
        size = sum(len(k) + len(v) for k, v in shard_data(core, shard).items())
        assert size > 1024 * 1024, size
        # The victim's next use, flushed with more of the attacker's.
        again = recent(0)
        uses = [(victim, again, f"{namespace}/api")]
        uses += [((hostile_ns, n), again, hostile_app) for n in names[-1000:]]
        await gateway_flush(cluster, sealer, uses)
        assert shard_data(core, shard)[f"{namespace}.victim-bot"].startswith(stamp(again))
    finally:
        restart(running_operator)
    wait_for(lambda: tokens.status("victim-bot").get("lastSeenAt") == stamp(again), timeout=15, what="status")
    # And the entries of the attacker's tokens that do not exist are gone again.
    wait_for(lambda: len(shard_data(core, shard)) < 10, timeout=20, what="the shard emptied of non-tokens")


@pytest.mark.soak  # a scale run: thousands of entries, hundreds of tokens
@pytest.mark.asyncio
async def test_past_its_budget_a_shard_loses_the_largest_writers_entries_never_the_victims(
    cluster: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    attacker: tuple[str, client.ApiClient],
) -> None:
    """A shard the attacker's real tokens fill: past the operator's budget (made small
    here: sixty tokens instead of thousands) its entries go, oldest first, until the shard
    is under it; the victim's, in the same shard, stays and reaches status. Without the
    budget, a full shard keeps refusing the victim's first report."""
    budget = 16 * 1024
    restart(running_operator, budget)
    try:
        core, tokens = client.CoreV1Api(api), Tokens(api, namespace)
        hostile_ns, tenant = attacker
        sealer = cluster_sealer(api)
        victim = (namespace, "victim-bot")
        shard = sealer.last_seen_shard(PREFIX, victim)
        names = longest_names(hostile_ns, lambda key: sealer.last_seen_shard(PREFIX, key) == shard, 60)
        hostile = Tokens(tenant, hostile_ns)
        for name in names:
            hostile.create(name)
        tokens.create("victim-bot")
        tokens.wait_ready("victim-bot")
        for name in names:
            hostile.wait_ready(name, timeout=60)
        app = f"{hostile_ns}/" + "a" * LONGEST_APP
        early = recent(30)
        uses = [((hostile_ns, n), early + timedelta(seconds=i), app) for i, n in enumerate(names)]
        used = recent(2)
        assert await gateway_flush(cluster, sealer, [*uses, (victim, used, f"{namespace}/api")]) == 61

        def cost() -> int:
            return sum(entry_cost(k, v) for k, v in shard_data(core, shard).items())

        wait_for(lambda: cost() <= budget, timeout=15, what="the shard back under its budget")
        data = shard_data(core, shard)
        assert data[f"{namespace}.victim-bot"].startswith(stamp(used))
        kept = [n for n in names if last_seen_key((hostile_ns, n)) in data]
        assert 0 < len(kept) < len(names)
        assert kept == names[len(names) - len(kept) :]  # the oldest went
        wait_for(
            lambda: tokens.status("victim-bot").get("lastSeenAt") == stamp(used), timeout=10, what="status"
        )
    finally:
        restart(running_operator)


def api_writes(op: OperatorProcess) -> float:
    """The operator's PATCH requests so far (its ConfigMap writes; status is PUT)."""
    for line in op.metrics().splitlines():
        if line.startswith("gatepass_operator_api_requests_total{") and 'method="PATCH"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.soak  # a scale run: thousands of entries, hundreds of tokens
@pytest.mark.asyncio
async def test_deleting_many_tokens_costs_a_write_per_shard_not_one_per_token(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    """Each write of a shard rewrites all of it in etcd. Before, every deleted token's
    entries were removed by a patch of their own: 600 deletions in one large shard wrote
    ~2 GB to etcd and made the API server answer 504 to everyone for minutes."""
    core, tokens = client.CoreV1Api(api), Tokens(api, namespace)
    count = 200
    names = [f"bulk-{i:03d}" for i in range(count)]
    for name in names:
        tokens.create(name)
    for name in names:
        tokens.wait_ready(name, timeout=60)
    sealer = cluster_sealer(api)
    used = recent(1)
    assert (
        await gateway_flush(cluster, sealer, [((namespace, n), used, f"{namespace}/api") for n in names])
        == count
    )
    wait_for(
        lambda: all(tokens.status(n).get("lastSeenAt") for n in names), timeout=60, what="every use read"
    )
    shards = {sealer.last_seen_shard(PREFIX, (namespace, n)) for n in names}
    before = api_writes(running_operator)
    tokens.custom.delete_collection_namespaced_custom_object(
        "gatepass.dev", "v1alpha1", namespace, "servicetokens"
    )

    def left() -> int:
        return sum(k.startswith(f"{namespace}.") for s in shards for k in shard_data(core, s))

    wait_for(lambda: left() == 0, timeout=30, what="every deleted token's entry removed")
    writes = api_writes(running_operator) - before
    assert writes <= 2 * LAST_SEEN_SHARDS, f"{writes} writes for {count} deletions"
