"""What an application takes from the HTTPRoutes it names: never less than the route
serves without saying so (decisions/httproute.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gatepass.decisions.httproute import (
    MAX_PATHS,
    MAX_ROUTE_DESTINATIONS,
    RouteRead,
    take,
    take_all,
)
from gatepass.models.accessapplication import TargetRef
from gatepass.routing.hosts import destination
from gatepass.routing.paths import Routes, segments

ROOT = Path(__file__).resolve().parents[3]
REF = TargetRef(name="web")


def route(*hostnames: str, rules: Any = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"spec": {"hostnames": list(hostnames), **spec}}
    if rules is not None:
        body["spec"]["rules"] = rules
    return body


def prefix(value: str, kind: str = "PathPrefix") -> dict[str, Any]:
    return {"matches": [{"path": {"type": kind, "value": value}}]}


def hosts(body: dict[str, Any], ref: TargetRef = REF) -> tuple[str, ...]:
    return take(RouteRead(ref, body)).hosts


def test_hostnames_with_path_prefixes_are_the_destinations() -> None:
    body = route("a.example.com", "b.example.com", rules=[prefix("/api"), prefix("/admin/")])
    assert hosts(body) == (
        "a.example.com/admin",
        "a.example.com/api",
        "b.example.com/admin",
        "b.example.com/api",
    )
    assert take(RouteRead(REF, body)).problem is None


@pytest.mark.parametrize(
    "rules",
    [
        None,  # Gateway API's default: one rule, PathPrefix /
        [],
        [{}],  # a rule without matches
        [{"matches": []}],
        [{"matches": [{"headers": [{"name": "x", "value": "y"}]}]}],  # no path: PathPrefix /
        [prefix("/")],
        [prefix("/api"), prefix("/")],  # one whole-host match covers the rest
        [prefix("^/api/.*", "RegularExpression")],
        [prefix("/api", "SomethingNew")],
    ],
)
def test_what_matches_the_whole_host_covers_the_whole_host(rules: Any) -> None:
    assert hosts(route("a.example.com", rules=rules)) == ("a.example.com",)


def test_an_exact_path_is_covered_as_a_prefix_and_said() -> None:
    taken = take(RouteRead(REF, route("a.example.com", rules=[prefix("/login", "Exact")])))
    assert taken.hosts == ("a.example.com/login",)
    assert taken.problem is None
    assert any("Exact path /login" in n for n in taken.notes)


def test_a_regular_expression_is_said_to_cover_the_whole_host() -> None:
    taken = take(RouteRead(REF, route("a.example.com", rules=[prefix("/v[0-9]+", "RegularExpression")])))
    assert taken.hosts == ("a.example.com",)
    assert any("RegularExpression path /v[0-9]+" in n for n in taken.notes)


def test_a_path_is_read_as_the_gateway_reads_requests() -> None:
    # Case, percent-encoding and ;parameters: the request reading (routing/paths.py).
    body = route("a.example.com", rules=[prefix("/Admin;jsessionid=1/%61pi")])
    assert hosts(body) == ("a.example.com/admin/api",)


def test_a_segment_a_destination_cannot_hold_cuts_the_path_there_and_says_so() -> None:
    taken = take(RouteRead(REF, route("a.example.com", rules=[prefix("/ok/caf%C3%A9/x")])))
    assert taken.hosts == ("a.example.com/ok",)
    assert taken.notes
    assert "covered from /ok" in taken.notes[0]
    whole = take(RouteRead(REF, route("a.example.com", rules=[prefix("/%C3%A9")])))
    assert whole.hosts == ("a.example.com",)


def test_paths_under_another_path_add_nothing() -> None:
    body = route("a.example.com", rules=[prefix("/api"), prefix("/api/v1"), prefix("/apis")])
    assert hosts(body) == ("a.example.com/api", "a.example.com/apis")


def test_too_many_paths_cover_the_hosts_whole_and_say_so() -> None:
    rules = [prefix(f"/p{i}") for i in range(MAX_PATHS + 1)]
    taken = take(RouteRead(REF, route("a.example.com", rules=rules)))
    assert taken.hosts == ("a.example.com",)
    assert any("more than" in n for n in taken.notes)


def test_a_gateway_api_wildcard_is_not_taken_and_is_named() -> None:
    # Gateway API: *.example.com matches a.b.example.com too; gatepass's one label only.
    taken = take(RouteRead(REF, route("*.example.com", "www.example.com")))
    assert taken.hosts == ("www.example.com",)
    assert taken.problem == "RouteHostnameNotTaken"
    assert "*.example.com" in taken.missing[0]
    assert "web" in taken.missing[0]


def test_a_route_without_hostnames_gives_nothing_and_says_why() -> None:
    taken = take(RouteRead(REF, route()))
    assert taken.hosts == ()
    assert taken.problem == "RouteWithoutHostnames"
    assert "listener" in taken.missing[0]


def test_a_section_name_takes_that_rule_only() -> None:
    body = route("a.example.com", rules=[{"name": "api", **prefix("/api")}, {"name": "ui", **prefix("/")}])
    assert hosts(body, TargetRef(name="web", section_name="api")) == ("a.example.com/api",)
    assert hosts(body) == ("a.example.com",)
    missing = take(RouteRead(TargetRef(name="web", section_name="nope"), body))
    assert (missing.hosts, missing.problem) == ((), "RouteSectionNotFound")


@pytest.mark.parametrize(
    "problem", ["RouteNotFound", "RouteAPIUnavailable", "RouteUnreadable", "RoutesDisabled"]
)
def test_a_route_that_cannot_be_read_gives_nothing_and_is_named(problem: Any) -> None:
    taken = take(RouteRead(REF, problem=problem))
    assert (taken.hosts, taken.problem) == ((), problem)
    assert taken.missing[0].startswith("HTTPRoute web ")


@pytest.mark.parametrize(
    "hostname",
    ["UPPER.example.com.", "a..example.com", "a.example.com:80", "10.0.0.1/x", "a" * 254, "é.example.com"],
)
def test_hostnames_that_are_not_host_names_are_not_taken(hostname: str) -> None:
    taken = take(RouteRead(REF, route(hostname)))
    assert all(re.match(r"^[a-z0-9.-]+$", h) for h in taken.hosts)
    if not taken.hosts:
        assert taken.problem == "RouteHostnameNotTaken"


def test_an_application_takes_at_most_its_budget_from_all_routes() -> None:
    many = [f"h{i}.example.com" for i in range(16)]
    paths = [prefix(f"/p{i}") for i in range(4)]
    reads = [RouteRead(TargetRef(name=f"r{i}"), route(*many, rules=paths)) for i in range(6)]
    taken = take_all(reads)
    assert len(taken.hosts) == MAX_ROUTE_DESTINATIONS == 16 * 4
    first, *rest = taken.taken
    assert len(first.hosts) == 16 * 4  # the first fits whole
    assert all(t.problem == "RouteTooLarge" and not t.hosts for t in rest)  # the rest do not, said
    assert "r1 is not taken" in rest[0].missing[0]


def test_a_route_over_the_budget_keeps_its_hosts_whole_when_they_fit() -> None:
    paths = [prefix(f"/p{i}") for i in range(8)]
    reads = [
        RouteRead(TargetRef(name="a"), route(*[f"a{i}.example.com" for i in range(7)], rules=paths)),
        RouteRead(TargetRef(name="b"), route("b.example.com", "c.example.com", rules=paths)),
    ]
    a, b = take_all(reads).taken
    assert len(a.hosts) == 56
    assert b.hosts == ("b.example.com", "c.example.com")  # 16 paths would not fit: covered whole
    assert b.problem is None
    assert any("whole" in n for n in b.notes)


def _host_rules() -> list[str]:
    """The CEL rules of spec.hosts entries (the CRD checks status.routes hosts by the same)."""
    crd = yaml.safe_load((ROOT / "crds" / "accessapplications.gatepass.dev.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    items = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["hosts"]["items"]
    return [rule["rule"] for rule in items["x-kubernetes-validations"]]


def _cel(rule: str, value: str) -> bool:
    negated = rule.startswith("!")
    parts = re.findall(r"matches\('((?:[^'\\]|\\.)*)'\)", rule)
    found = [re.search(p.replace("\\\\", "\\").replace("\\'", "'"), value) is not None for p in parts]
    if "||" in rule:  # "!a || b"
        return (not found[0]) or found[1]
    return not found[0] if negated else found[0]


PATH_VALUE = st.lists(
    st.sampled_from([*list("abcXYZ019-._~!$&'()*+,;=:@/"), "%2e", "%41", "%C3%A9", "%25"]), max_size=40
).map(lambda parts: "/" + "".join(parts))


@given(value=PATH_VALUE, kind=st.sampled_from(["PathPrefix", "Exact"]))
def test_every_destination_taken_is_one_spec_hosts_could_hold(value: str, kind: str) -> None:
    """The CRD checks status.routes hosts as it checks spec.hosts: the operator's own write
    must pass those rules (else it would never be written)."""
    for dest in hosts(route("a.example.com", rules=[prefix(value, kind)])):
        for rule in _host_rules():
            assert _cel(rule, dest), (rule, dest)


@given(value=PATH_VALUE, request_tail=st.lists(st.sampled_from(["x", "Y", "%2F", "a;b", "*"]), max_size=3))
def test_every_request_a_path_prefix_matches_falls_under_the_destination(
    value: str, request_tail: list[str]
) -> None:
    """Never less: a request whose path starts with the route's prefix (segment-wise, as
    Gateway API's PathPrefix) is routed to the application's destination."""
    if "//" in value or "/./" in value or "/../" in value or value.endswith(("/.", "/..")):
        return  # Gateway API's CRD refuses these
    (dest,) = hosts(route("a.example.com", rules=[prefix(value)]))
    table = Routes([(destination(dest), "app")])
    request = value.rstrip("/") + "".join("/" + t for t in request_tail)
    try:
        path = segments(request)
    except ValueError:
        return  # the gateway refuses it (ambiguous): nothing is served
    found = table.match("a.example.com", path)
    assert found is not None, (value, request, dest)
    assert found.value == "app"


def test_a_long_path_is_cut_to_what_status_may_hold() -> None:
    """status.routes hosts are at most 800 characters (the CRD: its CEL rules' cost)."""
    host = ("a" * 63 + ".") * 3 + "b" * 49 + ".example.com"  # 253 characters
    value = "/" + "/".join(["s" * 200] * 5)
    (dest,) = hosts(route(host, rules=[prefix(value)]))
    assert len(dest) <= 800
    assert dest.startswith(host + "/" + "s" * 200)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
PATH = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["PathPrefix", "Exact", "X"]) | JSON,
        "value": st.text(max_size=30) | JSON,
    },
)
MATCH = st.fixed_dictionaries({}, optional={"path": PATH | JSON})
RULE = st.fixed_dictionaries(
    {}, optional={"name": JSON, "matches": st.lists(MATCH | JSON, max_size=3) | JSON}
)
HOSTILE_SPEC = st.fixed_dictionaries(
    {},
    optional={
        "hostnames": st.lists(st.text(max_size=30) | JSON, max_size=5) | JSON,
        "rules": st.lists(RULE | JSON, max_size=3) | JSON,
    },
)


@given(spec=HOSTILE_SPEC | JSON, section=st.none() | st.text(max_size=5))
def test_any_route_a_tenant_stores_gives_destinations_or_says_why_never_raises(
    spec: Any, section: Any
) -> None:
    """A route is its writer's: whatever it holds (an older CRD, or none) costs that
    application only, and what it gives is always something status may hold."""
    taken = take(RouteRead(TargetRef(name="web", section_name=section), {"spec": spec}))
    for dest in taken.hosts:
        assert len(dest) <= 800
        for rule in _host_rules():
            assert _cel(rule, dest), (rule, dest)


def test_a_huge_route_costs_linear_time_and_says_little() -> None:
    """Without the Gateway API's CRD bounds (an older or edited CRD): 20,000 hostnames and
    paths are read once, and what is said of them stays short."""
    names = [f"h{i}.example.com" for i in range(20_000)] + [f"*.w{i}.example.com" for i in range(1000)]
    rules = [{"matches": [{"path": {"type": "Exact", "value": f"/p{i}"}} for i in range(20_000)]}]
    taken = take_all([RouteRead(REF, route(*names, rules=rules))]).taken[0]
    assert (taken.hosts, taken.problem) == ((), "RouteTooLarge")
    small = take(RouteRead(REF, route("a.example.com", *names[-1000:], rules=rules)))
    assert small.hosts == ("a.example.com",)  # too many paths: the host whole
    assert len(small.missing) == 5
    assert small.missing[-1] == "and 996 more"
    assert len(small.notes) <= 5
