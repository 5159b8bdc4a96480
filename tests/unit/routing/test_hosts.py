from gatepass.routing.hosts import Claim, HostIndex, claim_of, conflicts, destination, owners, reserved_hosts

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
