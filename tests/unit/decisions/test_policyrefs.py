"""Resolving policyRefs (decisions/policyrefs.py): in place, in order, fail closed."""

from __future__ import annotations

from typing import Any

import pytest

from gatepass.decisions.policy import Identity, evaluate
from gatepass.decisions.policyrefs import nobody, resolve
from gatepass.models.accessapplication import AccessApplicationSpec, Policy

A = Identity("ns", "a", "a.access")
B = Identity("ns", "b", "b.access")


def allow(token: str, name: str | None = None) -> Policy:
    return Policy.model_validate(
        {"name": name, "decision": "serviceAuth", "include": [{"serviceToken": {"name": token}}]}
    )


def entries(*items: dict[str, Any]) -> AccessApplicationSpec:
    return AccessApplicationSpec.model_validate(
        {"hosts": ["x.test"], "upstream": "http://x", "policies": items}
    )


REF = {"policyRef": {"name": "shared"}}
INLINE_B = {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "b"}}]}


@pytest.mark.parametrize(
    ("found", "admitted", "missing", "unreadable"),
    [
        ({"shared": allow("a", "shared")}, {"a", "b"}, (), ()),  # resolved: both admit
        ({}, {"b"}, ("shared",), ()),  # missing: matches nobody, the inline one still serves
        ({"shared": None}, {"b"}, (), ("shared",)),  # unreadable: the same
        ({"other": allow("a")}, {"b"}, ("shared",), ()),  # another name is no match
    ],
)
def test_resolution_table(
    found: dict[str, Policy | None], admitted: set[str], missing: tuple[str, ...], unreadable: tuple[str, ...]
) -> None:
    spec = entries(REF, INLINE_B)
    r = resolve(spec.policies, found)
    assert (r.missing, r.unreadable, r.complete) == (missing, unreadable, not missing and not unreadable)
    assert len(r.policies) == 2  # one per entry: indexes and labels stay where written
    assert {w.name for w in (A, B) if evaluate(r.policies, "ns", w).decision == "serviceAuth"} == admitted


def test_order_is_kept_the_ref_decides_in_its_place() -> None:
    bypass = Policy.model_validate({"name": "open", "decision": "bypass", "include": [{"everyone": {}}]})
    spec = entries(REF, INLINE_B)
    r = resolve(spec.policies, {"shared": bypass})
    assert evaluate(r.policies, "ns", B).policy == "open"  # the first matching allowing policy
    assert r.policies[1] == spec.policies[1]


def test_a_missing_policy_never_admits_more_whatever_it_was() -> None:
    """Every caller admitted without the policy is admitted with it: nobody() only takes."""
    for written in (allow("a"), Policy.model_validate({"decision": "deny", "include": [{"everyone": {}}]})):
        for who in (A, B, None):
            with_it = evaluate(
                resolve(entries(REF, INLINE_B).policies, {"shared": written}).policies, "ns", who
            )
            without = evaluate(resolve(entries(REF, INLINE_B).policies, {}).policies, "ns", who)
            if without.decision in ("serviceAuth", "bypass"):
                assert with_it.decision in ("serviceAuth", "bypass")


def test_nobody_matches_no_one_and_names_the_reference() -> None:
    p = nobody("shared")
    assert p.name == "shared"
    assert p.decision == "deny"
    assert evaluate([p], "ns", A).decision is None
    assert evaluate([p], "ns", None).decision is None


def test_a_name_referenced_twice_is_reported_once() -> None:
    r = resolve(entries(REF, REF).policies, {})
    assert r.missing == ("shared",)


def test_an_entry_is_a_ref_or_inline_and_refs_carry_no_namespace() -> None:
    spec = entries({"policyRef": {"name": "shared", "namespace": "other"}}, INLINE_B)
    assert spec.policy_refs == {"shared"}  # a namespace (an older CRD let it through) is ignored
    assert spec.inline_policies == [spec.policies[1]]


def test_the_condition_names_what_is_missing_and_what_does_not_parse() -> None:
    from datetime import UTC, datetime

    from gatepass.decisions.accessapplication import decide_app
    from gatepass.models.accessapplication import AccessApplication
    from gatepass.models.conditions import find

    app = AccessApplication.model_validate(
        {
            "metadata": {"namespace": "ns", "name": "app", "generation": 1},
            "spec": {
                "hosts": ["x.test"],
                "upstream": "http://x",
                "policies": [REF, {"policyRef": {"name": "broken"}}],
            },
        }
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    plan = decide_app(app, [], "aud", now, resolution=resolve(app.spec.policies, {"broken": None}))
    cond = find(plan.status.conditions, "PoliciesResolved")
    assert cond is not None
    assert (cond.status, cond.reason) == ("False", "PolicyNotFound")
    assert "shared" in (cond.message or "")
    assert "broken" in (cond.message or "")
    assert "PolicyNotFound" in [e.reason for e in plan.events]
    ok = decide_app(
        app,
        [],
        "aud",
        now,
        resolution=resolve(app.spec.policies, {"shared": allow("a"), "broken": allow("b")}),
    )
    cond = find(ok.status.conditions, "PoliciesResolved")
    assert cond is not None
    assert (cond.status, cond.reason) == ("True", "Resolved")
