from ipaddress import ip_address
from typing import Any

import pytest
from pydantic import ValidationError

from gatepass.decisions.policy import Identity, Overruled, Verdict, evaluate, overruled_denies
from gatepass.models.accessapplication import Policy
from gatepass.routing.clientip import Address

A = Identity("team-a", "ci", "1" * 32 + ".access")
B = Identity("team-b", "ci", "2" * 32 + ".access")
# Pods by their ServiceAccount: named "ci" too, to show names never cross kinds.
SA = Identity("team-a", "ci", "system:serviceaccount:team-a:ci", service_account=True, pod="ci-1")
SA_B = Identity("team-b", "ci", "system:serviceaccount:team-b:ci", service_account=True, pod="ci-1")


def pol(decision: str, include: list[Any], **kw: Any) -> Policy:
    return Policy.model_validate({"decision": decision, "include": include, **kw})


CASES = [
    ("named token", [pol("serviceAuth", [{"serviceToken": {"name": "ci"}}])], A, "serviceAuth"),
    ("named token, other namespace", [pol("serviceAuth", [{"serviceToken": {"name": "ci"}}])], B, None),
    (
        "named token with namespace",
        [pol("serviceAuth", [{"serviceToken": {"name": "ci", "namespace": "team-b"}}])],
        B,
        "serviceAuth",
    ),
    ("any token, this namespace", [pol("serviceAuth", [{"anyServiceToken": {}}])], A, "serviceAuth"),
    ("any token, not other namespaces", [pol("serviceAuth", [{"anyServiceToken": {}}])], B, None),
    (
        "any token, listed namespaces only",
        [pol("serviceAuth", [{"anyServiceToken": {"namespaces": ["team-b"]}}])],
        A,
        None,
    ),
    ("no identity never matches a token rule", [pol("serviceAuth", [{"anyServiceToken": {}}])], None, None),
    ("everyone matches without identity", [pol("bypass", [{"everyone": {}}])], None, "bypass"),
    ("named account", [pol("serviceAuth", [{"serviceAccount": {"name": "ci"}}])], SA, "serviceAuth"),
    (
        "named account, other namespace",
        [pol("serviceAuth", [{"serviceAccount": {"name": "ci"}}])],
        SA_B,
        None,
    ),
    (
        "named account with namespace",
        [pol("serviceAuth", [{"serviceAccount": {"name": "ci", "namespace": "team-b"}}])],
        SA_B,
        "serviceAuth",
    ),
    ("any account, this namespace", [pol("serviceAuth", [{"anyServiceAccount": {}}])], SA, "serviceAuth"),
    ("any account, not other namespaces", [pol("serviceAuth", [{"anyServiceAccount": {}}])], SA_B, None),
    (
        "any account, listed namespaces",
        [pol("serviceAuth", [{"anyServiceAccount": {"namespaces": ["team-b"]}}])],
        SA_B,
        "serviceAuth",
    ),
    (
        "a token rule never matches an account",
        [pol("serviceAuth", [{"serviceToken": {"name": "ci"}}])],
        SA,
        None,
    ),
    ("any token never matches an account", [pol("serviceAuth", [{"anyServiceToken": {}}])], SA, None),
    (
        "an account rule never matches a token",
        [pol("serviceAuth", [{"serviceAccount": {"name": "ci"}}])],
        A,
        None,
    ),
    ("any account never matches a token", [pol("serviceAuth", [{"anyServiceAccount": {}}])], A, None),
    (
        "an account excluded",
        [pol("serviceAuth", [{"anyServiceAccount": {}}], exclude=[{"serviceAccount": {"name": "ci"}}])],
        SA,
        None,
    ),
    (
        "allowing policies before deny, wherever listed",
        [pol("deny", [{"serviceToken": {"name": "ci"}}]), pol("serviceAuth", [{"anyServiceToken": {}}])],
        A,
        "serviceAuth",
    ),
    (
        "bypass everyone above deny: bypass",
        [pol("bypass", [{"everyone": {}}]), pol("deny", [{"serviceToken": {"name": "ci"}}])],
        A,
        "bypass",
    ),
    (
        "deny above bypass everyone: still bypass (Cloudflare)",
        [pol("deny", [{"serviceToken": {"name": "ci"}}]), pol("bypass", [{"everyone": {}}])],
        A,
        "bypass",
    ),
    (
        "deny applies when no allowing policy matches",
        [pol("serviceAuth", [{"serviceToken": {"name": "other"}}]), pol("deny", [{"anyServiceToken": {}}])],
        A,
        "deny",
    ),
    (
        "deny everyone catches the anonymous caller",
        [pol("serviceAuth", [{"anyServiceToken": {}}]), pol("deny", [{"everyone": {}}])],
        None,
        "deny",
    ),
    (
        "among allowing policies the first listed wins",
        [pol("serviceAuth", [{"anyServiceToken": {}}]), pol("bypass", [{"everyone": {}}])],
        A,
        "serviceAuth",
    ),
    (
        "an exclude is how an allowing policy leaves a token out",
        [
            pol("bypass", [{"everyone": {}}], exclude=[{"serviceToken": {"name": "ci"}}]),
            pol("deny", [{"serviceToken": {"name": "ci"}}]),
        ],
        A,
        "deny",
    ),
    (
        "exclude removes a match",
        [pol("serviceAuth", [{"anyServiceToken": {}}], exclude=[{"serviceToken": {"name": "ci"}}])],
        A,
        None,
    ),
    (
        "require must hold too",
        [
            pol(
                "serviceAuth",
                [{"anyServiceToken": {"namespaces": ["team-a", "team-b"]}}],
                require=[{"anyServiceToken": {"namespaces": ["team-b"]}}],
            )
        ],
        A,
        None,
    ),
    ("no policies", [], A, None),
]


@pytest.mark.parametrize(("policies", "who", "decision"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluate(policies: list[Policy], who: Identity | None, decision: str | None) -> None:
    assert evaluate(policies, "team-a", who).decision == decision


def test_verdict_names_the_policy() -> None:
    named = Policy.model_validate(
        {"name": "ci-only", "decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}
    )
    assert evaluate([named], "team-a", A).policy == "ci-only"
    unnamed = pol("serviceAuth", [{"anyServiceToken": {}}])
    assert (
        evaluate([pol("deny", [{"serviceToken": {"name": "x"}}]), unnamed], "team-a", A).policy
        == "policies[1]"
    )


def test_verdict_names_a_deny_by_its_place_in_the_list() -> None:
    policies = [pol("serviceAuth", [{"serviceToken": {"name": "x"}}]), pol("deny", [{"anyServiceToken": {}}])]
    assert evaluate(policies, "team-a", A) == Verdict("deny", "policies[1]")


TOKEN_CI: dict[str, Any] = {"serviceToken": {"name": "ci"}}
TOKEN_B: dict[str, Any] = {"serviceToken": {"name": "ci", "namespace": "team-b"}}
ANY_HERE: dict[str, Any] = {"anyServiceToken": {}}
ANY_B: dict[str, Any] = {"anyServiceToken": {"namespaces": ["team-b"]}}
EVERYONE: dict[str, Any] = {"everyone": {}}

OVERRULED = [
    (
        "deny above bypass everyone",
        [pol("deny", [TOKEN_CI]), pol("bypass", [EVERYONE])],
        [("policies[0]", "policies[1]")],
    ),
    (
        "deny everyone above serviceAuth",
        [pol("deny", [EVERYONE]), pol("serviceAuth", [TOKEN_CI])],
        [("policies[0]", "policies[1]")],
    ),
    (
        "deny of a token above any token of its namespace",
        [pol("deny", [TOKEN_CI]), pol("serviceAuth", [ANY_HERE])],
        [("policies[0]", "policies[1]")],
    ),
    (
        "deny of a namespace above a token in it",
        [pol("deny", [ANY_B]), pol("serviceAuth", [TOKEN_B])],
        [("policies[0]", "policies[1]")],
    ),
    (
        "the named allowing policy is the first below",
        [
            pol("deny", [TOKEN_CI], name="no-ci"),
            pol("serviceAuth", [ANY_HERE], name="team"),
            pol("bypass", [EVERYONE]),
        ],
        [("no-ci", "team")],
    ),
    ("deny below: order unchanged", [pol("serviceAuth", [ANY_HERE]), pol("deny", [EVERYONE])], []),
    ("disjoint tokens", [pol("deny", [TOKEN_CI]), pol("serviceAuth", [TOKEN_B])], []),
    ("disjoint namespaces", [pol("deny", [ANY_B]), pol("serviceAuth", [ANY_HERE])], []),
    ("deny above deny", [pol("deny", [TOKEN_CI]), pol("deny", [EVERYONE])], []),
    (
        "deny of an account above any account of its namespace",
        [pol("deny", [{"serviceAccount": {"name": "ci"}}]), pol("serviceAuth", [{"anyServiceAccount": {}}])],
        [("policies[0]", "policies[1]")],
    ),
    (
        "an account and a token of one name are disjoint",
        [pol("deny", [{"serviceAccount": {"name": "ci"}}]), pol("serviceAuth", [TOKEN_CI])],
        [],
    ),
    (
        "accounts of a namespace and its tokens are disjoint",
        [pol("deny", [{"anyServiceAccount": {}}]), pol("serviceAuth", [ANY_HERE])],
        [],
    ),
    (
        "deny of an address range above a token: a token may come from anywhere",
        [pol("deny", [{"ip": {"ranges": ["203.0.113.0/24"]}}]), pol("serviceAuth", [TOKEN_CI])],
        [("policies[0]", "policies[1]")],
    ),
]


@pytest.mark.parametrize(("policies", "expected"), [c[1:] for c in OVERRULED], ids=[c[0] for c in OVERRULED])
def test_overruled_denies(policies: list[Policy], expected: list[tuple[str, str]]) -> None:
    assert overruled_denies(policies, "team-a") == [Overruled(d, b) for d, b in expected]


OFFICE: dict[str, Any] = {"ip": {"ranges": ["203.0.113.0/24", "2001:db8::/32"]}}
IN, OUT, IN6 = ip_address("203.0.113.9"), ip_address("198.51.100.1"), ip_address("2001:db8::5")

IP_CASES = [
    ("bypass from the office", [pol("bypass", [OFFICE])], None, IN, "bypass"),
    ("bypass from the office, IPv6", [pol("bypass", [OFFICE])], None, IN6, "bypass"),
    ("not from elsewhere", [pol("bypass", [OFFICE])], None, OUT, None),
    ("an unknown address matches no range", [pol("bypass", [OFFICE])], None, None, None),
    (
        "a token, required to come from the office",
        [pol("serviceAuth", [TOKEN_CI], require=[OFFICE])],
        A,
        IN,
        "serviceAuth",
    ),
    ("the same token from elsewhere", [pol("serviceAuth", [TOKEN_CI], require=[OFFICE])], A, OUT, None),
    (
        "require fails on an unknown address",
        [pol("serviceAuth", [TOKEN_CI], require=[OFFICE])],
        A,
        None,
        None,
    ),
    ("a token, except from the office", [pol("serviceAuth", [TOKEN_CI], exclude=[OFFICE])], A, IN, None),
    (
        "a token, except from the office, elsewhere",
        [pol("serviceAuth", [TOKEN_CI], exclude=[OFFICE])],
        A,
        OUT,
        "serviceAuth",
    ),
    ("deny an address range", [pol("deny", [OFFICE])], A, IN, "deny"),
    (
        "a bypass by address comes before a deny",
        [pol("deny", [EVERYONE]), pol("bypass", [OFFICE])],
        None,
        IN,
        "bypass",
    ),
    (
        "a single address is a /32",
        [pol("bypass", [{"ip": {"ranges": ["198.51.100.1"]}}])],
        None,
        OUT,
        "bypass",
    ),
]


@pytest.mark.parametrize(
    ("policies", "who", "ip", "decision"), [c[1:] for c in IP_CASES], ids=[c[0] for c in IP_CASES]
)
def test_ip_rules(
    policies: list[Policy], who: Identity | None, ip: Address | None, decision: str | None
) -> None:
    assert evaluate(policies, "team-a", who, ip).decision == decision


def test_an_unparsable_range_makes_the_policy_unreadable() -> None:
    with pytest.raises(ValidationError):
        pol("bypass", [{"ip": {"ranges": ["10.0.0.0/33"]}}])
