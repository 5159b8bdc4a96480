from random import Random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatepass.routing.hosts import (
    MAX_ROUTE_HOSTS,
    Claim,
    HostIndex,
    claim_of,
    conflicts,
    destination,
    host_of,
    owners,
    reserved_hosts,
)
from gatepass.routing.patterns import hosts_overlap

EARLY, LATE = "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"


def claim(ns: str, name: str, created: str, *hosts: str) -> Claim:
    return Claim(ns, name, created, hosts)


def test_the_first_claimant_by_creation_time_owns_a_host_whatever_its_name() -> None:
    first = claim("zeta", "zz", EARLY, "app.example.com", "only-first.example.com")
    later = claim("alpha", "aa", LATE, "app.example.com", "only-later.example.com")
    owned = owners([later, first])
    assert owned == {
        "app.example.com": ("zeta", "zz"),
        "only-first.example.com": ("zeta", "zz"),
        "only-later.example.com": ("alpha", "aa"),
    }
    (conflict,) = conflicts(later, owned, frozenset())
    assert (conflict.host, conflict.owner_namespace) == ("app.example.com", "zeta")
    assert conflicts(first, owned, frozenset()) == []


def test_ties_in_the_same_second_go_to_namespace_then_name() -> None:
    owned = owners([claim("b", "x", EARLY, "h.test"), claim("a", "y", EARLY, "h.test")])
    assert owned["h.test"] == ("a", "y")


def test_the_gateways_own_host_belongs_to_nobody() -> None:
    reserved = reserved_hosts("https://Access.Example.com:8443/path")
    assert reserved == {"access.example.com"}
    app = claim("t", "a", EARLY, "access.example.com", "mine.example.com")
    owned = owners([app], reserved)
    assert owned == {"mine.example.com": ("t", "a")}
    (conflict,) = conflicts(app, owned, reserved)
    assert (conflict.host, conflict.owner_namespace) == ("access.example.com", None)


def test_claims_come_from_api_server_fields() -> None:
    obj = {
        "metadata": {"namespace": "t", "name": "a", "creationTimestamp": EARLY},
        "spec": {"hosts": ["App.Example.com."], "upstream": "http://u"},
        "status": {"aud": "forged by a tenant"},
    }
    assert claim_of(obj) == claim("t", "a", EARLY, "app.example.com")
    assert claim_of({"metadata": {}, "spec": {"hosts": "nope"}}) is None


def test_index_says_whose_ownership_an_event_may_change() -> None:
    index = HostIndex()
    owner = claim("a", "owner", EARLY, "h.test")
    intruder = claim("b", "intruder", LATE, "h.test", "other.test")
    assert index.put(owner.key, owner) == {owner.key}
    assert index.put(intruder.key, intruder) == {owner.key, intruder.key}
    assert index.conflicts(intruder.key)[0].owner_namespace == "a"
    assert index.conflicts(owner.key) == []
    assert index.put(intruder.key, intruder) == set()  # nothing changed
    # The owner goes: the intruder gets the host, and is told so (re-reconciled).
    assert index.put(owner.key, None) == {intruder.key}
    assert index.conflicts(intruder.key) == []
    assert index.owned["h.test"] == intruder.key


def test_destinations_are_compared_normalized() -> None:
    assert destination("Reports.Example.com./Admin/") == "reports.example.com/admin"
    assert destination("reports.example.com") == "reports.example.com"
    assert destination("reports.example.com:8443//a//b") == "reports.example.com/a/b"
    assert destination("*.Example.com/*") == "*.example.com"  # "/*" is the whole host
    assert destination("*.example.com/Admin/*") == "*.example.com/admin/*"


def test_one_namespace_may_split_its_host_into_paths() -> None:
    whole = claim("t", "whole", EARLY, "r.test")
    admin = claim("t", "admin", LATE, "r.test/admin")
    owned = owners([whole, admin])
    assert owned == {"r.test": ("t", "whole"), "r.test/admin": ("t", "admin")}
    assert conflicts(admin, owned, frozenset()) == []


def test_no_namespace_takes_a_path_on_another_namespaces_host() -> None:
    owner = claim("victim", "whole", EARLY, "r.test")
    intruder = claim("attacker", "admin", LATE, "r.test/admin", "own.test")
    owned = owners([owner, intruder])
    assert owned == {"r.test": ("victim", "whole"), "own.test": ("attacker", "admin")}
    (conflict,) = conflicts(intruder, owned, frozenset())
    assert (conflict.host, conflict.owner_namespace, conflict.host_held) == ("r.test/admin", "victim", True)
    # Nor the reverse: a path claimed first holds the host for its namespace.
    early_path = claim("a", "p", EARLY, "s.test/x")
    late_host = claim("b", "h", LATE, "s.test")
    owned = owners([late_host, early_path])
    assert owned == {"s.test/x": ("a", "p")}
    assert conflicts(late_host, owned, frozenset())[0].owner_namespace == "a"


def test_any_path_on_the_gateways_host_is_reserved() -> None:
    app = claim("t", "a", EARLY, "access.test/apps")
    reserved = frozenset({"access.test"})
    assert owners([app], reserved) == {}
    assert conflicts(app, {}, reserved)[0].owner_namespace is None


def test_index_tells_the_claimants_of_other_paths_on_a_host_when_its_holder_goes() -> None:
    index = HostIndex()
    holder = claim("a", "whole", EARLY, "h.test")
    waiting = claim("b", "path", LATE, "h.test/x")
    index.put(holder.key, holder)
    assert index.put(waiting.key, waiting) == {holder.key, waiting.key}
    assert index.conflicts(waiting.key)[0].host_held
    # The holder goes: the other namespace's path is now served, and it is told so.
    assert index.put(holder.key, None) == {waiting.key}
    assert index.conflicts(waiting.key) == []


def test_a_wildcard_never_takes_a_host_or_path_another_namespace_claimed_first() -> None:
    victim = claim("victim", "app", EARLY, "app.example.com", "r.example.com/admin")
    intruder = claim("attacker", "wild", LATE, "*.example.com", "*.attacker.test")
    owned = owners([intruder, victim])
    assert owned == {
        "app.example.com": ("victim", "app"),
        "r.example.com/admin": ("victim", "app"),
        "*.attacker.test": ("attacker", "wild"),
    }
    (conflict,) = conflicts(intruder, owned, frozenset())
    assert (conflict.host, conflict.owner_namespace, conflict.host_held) == ("*.example.com", "victim", True)


def test_a_host_under_a_wildcard_another_namespace_claimed_first_is_a_conflict() -> None:
    holder = claim("a", "wild", EARLY, "*.example.com")
    late = claim("b", "exact", LATE, "app.example.com/x", "api-*.example.com", "example.com")
    owned = owners([late, holder])
    assert owned == {"*.example.com": ("a", "wild"), "example.com": ("b", "exact")}  # not the apex
    assert {(c.host, c.owner_namespace) for c in conflicts(late, owned, frozenset())} == {
        ("app.example.com/x", "a"),
        ("api-*.example.com", "a"),
    }


def test_patterns_that_share_no_host_belong_to_different_namespaces() -> None:
    owned = owners(
        [
            claim("a", "x", EARLY, "*.example.com", "a*.t.test"),
            claim("b", "y", LATE, "*.b.example.com", "*z.t.test", "x.y.example.com"),
        ]
    )
    assert owned["*.b.example.com"] == ("b", "y")  # one label: never *.example.com's
    assert owned["x.y.example.com"] == ("b", "y")
    assert "*z.t.test" not in owned  # "az" fits both


def test_one_namespace_may_layer_exact_hosts_over_its_wildcard() -> None:
    wild = claim("t", "wild", EARLY, "*.example.com")
    exact = claim("t", "exact", LATE, "x.example.com", "*.example.com/admin")
    assert conflicts(exact, owners([wild, exact]), frozenset()) == []


def test_a_wildcard_covering_the_gateways_host_gets_the_others() -> None:
    app = claim("t", "a", EARLY, "*.example.com")
    assert owners([app], frozenset({"access.example.com"})) == {"*.example.com": ("t", "a")}


HOSTS = st.sampled_from(
    ["*.e.test", "a*.e.test", "*b.e.test", "ab.e.test", "x.e.test", "e.test", "*.x.e.test"]
)
CLAIMS = st.lists(
    st.builds(
        lambda ns, name, t, hosts: claim(ns, name, f"2026-01-01T00:00:0{t}Z", *hosts),
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["p", "q"]),
        st.integers(0, 3),
        st.lists(st.one_of(HOSTS, HOSTS.map(lambda h: h + "/admin")), min_size=1, max_size=3, unique=True),
    ),
    max_size=6,
    unique_by=lambda c: c.key,
)


@given(CLAIMS, st.randoms())
def test_ownership_does_not_depend_on_the_order_events_arrive_in(claims: list[Claim], rnd: Random) -> None:
    index = HostIndex()
    events: list[Claim | None] = [*claims, *claims[: len(claims) // 2]]
    rnd.shuffle(events)
    for c in events:  # every claim at least once, some twice, any order; some deleted and back
        assert c is not None
        index.put(c.key, c)
        if rnd.random() < 0.3:
            index.put(c.key, None)
            index.put(c.key, c)
    for c in claims:
        index.put(c.key, c)
    expected = owners(claims)
    assert index.owned == expected
    # No two namespaces hold overlapping hosts, and each conflict names a namespace.
    held = {(host_of(d), k[0]) for d, k in expected.items()}
    assert not any(hosts_overlap(h, g) and m != n for h, m in held for g, n in held)
    for c in claims:
        for conflict in index.conflicts(c.key):
            assert conflict.owner_namespace is not None


def _obj(hosts: Any = None, routes: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"namespace": "ns", "name": "a"}, "spec": {"upstream": "http://u"}}
    if hosts is not None:
        body["spec"]["hosts"] = hosts
    if routes is not None:
        body["status"] = {"routes": routes}
    return body


def test_a_claim_holds_the_hosts_its_routes_gave_beside_spec_hosts() -> None:
    routes = [{"name": "r", "hosts": ["B.example.com/X"]}, {"name": "s", "hosts": ["c.example.com"]}]
    claim = claim_of(_obj(["a.example.com"], routes))
    assert claim is not None
    assert claim.hosts == ("a.example.com", "b.example.com/x", "c.example.com")
    only_routes = claim_of(_obj(routes=routes))  # targetRefs alone: no spec.hosts
    assert only_routes is not None
    assert only_routes.hosts == ("b.example.com/x", "c.example.com")


@pytest.mark.parametrize(
    "routes",
    [
        "nonsense",
        [None, 3, {"name": "r"}, {"hosts": "x"}, {"hosts": [1, None]}],
    ],
)
def test_a_malformed_status_routes_claims_nothing_more(routes: Any) -> None:
    claim = claim_of(_obj(["a.example.com"], routes))
    assert claim is not None
    assert claim.hosts == ("a.example.com",)


def test_status_route_hosts_are_read_only_as_far_as_the_crd_bounds_them() -> None:
    routes = [{"name": f"r{i}", "hosts": [f"h{i}-{j}.example.com" for j in range(100)]} for i in range(40)]
    claim = claim_of(_obj(routes=routes))
    assert claim is not None
    assert len(claim.hosts) == MAX_ROUTE_HOSTS


def test_route_hosts_conflict_with_an_earlier_namespaces_host_as_spec_hosts_do() -> None:
    early = _obj(["app.example.com"])
    early["metadata"] = {"namespace": "owner", "name": "a", "creationTimestamp": EARLY}
    late = _obj(routes=[{"name": "r", "hosts": ["app.example.com/admin", "free.example.com"]}])
    late["metadata"] = {"namespace": "thief", "name": "b", "creationTimestamp": LATE}
    claims = [c for c in (claim_of(early), claim_of(late)) if c is not None]
    owned = owners(claims)
    assert owned == {"app.example.com": ("owner", "a"), "free.example.com": ("thief", "b")}
    (conflict,) = conflicts(claims[1], owned, frozenset())
    assert (conflict.host, conflict.owner_namespace, conflict.host_held) == (
        "app.example.com/admin",
        "owner",
        True,
    )
