from typing import Any

import pytest

from gatepass.gateway.policy import Identity, evaluate
from gatepass.models.accessapplication import Policy

A = Identity("team-a", "ci", "1" * 32 + ".access")
B = Identity("team-b", "ci", "2" * 32 + ".access")


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
    (
        "first match wins",
        [pol("deny", [{"serviceToken": {"name": "ci"}}]), pol("serviceAuth", [{"anyServiceToken": {}}])],
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
