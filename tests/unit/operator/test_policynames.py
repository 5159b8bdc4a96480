"""Which tokens policies name: any namespace for TokensResolved, only the token's own
namespace for the inactivity exemption."""

from __future__ import annotations

from typing import Any

from gatepass.models.accessapplication import AccessApplicationSpec
from gatepass.operator.appevent import app_event, policy_of
from gatepass.operator.policynames import PolicyNames, named_tokens

EVERYONE: dict[str, Any] = {"everyone": {}}


def app(namespace: str, name: str, *rules: dict[str, Any], where: str = "include") -> dict[str, Any]:
    lists: dict[str, Any] = {"include": [EVERYONE]}
    lists[where] = [*lists.get(where, []), *rules]
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "hosts": ["h.test"],
            "upstream": "http://u",
            "policies": [{"decision": "serviceAuth", **lists}],
        },
    }


def spec(body: dict[str, Any] | None) -> AccessApplicationSpec | None:
    """The spec as the operator parses an event (operator/appevent.py)."""
    return app_event(("any", "app"), body).spec


def ref(name: str, namespace: str | None = None) -> dict[str, Any]:
    return {"serviceToken": {"name": name, **({"namespace": namespace} if namespace else {})}}


def test_named_tokens_reads_every_rule_list_of_every_policy() -> None:
    for where in ("include", "require", "exclude"):
        body = app("a", "x", ref("t1"), ref("t2", "a"), where=where)
        assert named_tokens(("a", "x"), spec(body)) == {("a", "t1"), ("a", "t2")}


def test_another_namespaces_token_is_named_but_does_not_exempt_it() -> None:
    index = PolicyNames()
    index.put(("b", "x"), spec(app("b", "x", ref("t1", "a"), {"anyServiceToken": {}})))
    assert index.apps_naming(("a", "t1")) == {("b", "x")}  # b's TokensResolved cares about it
    assert index.named_by(("a", "t1")) is None  # but b cannot keep a's token alive


def test_junk_names_nothing() -> None:
    junk: list[Any] = [
        None,
        {},
        {"metadata": {}, "spec": {"policies": "x"}},
        {"metadata": {"namespace": "a"}, "spec": {"policies": [1, {"include": "x"}, {"include": [3]}]}},
        {
            "metadata": {"namespace": "a"},
            "spec": {"policies": [{"include": [{"serviceToken": {"name": 5}}]}]},
        },
    ]
    for body in junk:
        assert named_tokens(("a", "x"), spec(body)) == frozenset()


def test_the_index_follows_applications_and_says_whose_exemption_changed() -> None:
    index = PolicyNames()
    assert index.put(("a", "x"), spec(app("a", "x", ref("t1")))) == {("a", "t1")}
    assert index.put(("a", "y"), spec(app("a", "y", ref("t1"), ref("t2")))) == {("a", "t1"), ("a", "t2")}
    assert index.named_by(("a", "t1")) == "a/x"
    assert index.named_by(("b", "t1")) is None  # same name, another namespace
    assert index.apps_naming(("a", "t1")) == {("a", "x"), ("a", "y")}
    assert index.put(("a", "x"), spec(app("a", "x", ref("t1")))) == set()  # no change
    assert index.put(("a", "x"), None) == {("a", "t1")}  # deleted: t1 is still named by y
    assert index.named_by(("a", "t1")) == "a/y"
    assert index.put(("a", "y"), spec(app("a", "y", ref("t2")))) == {("a", "t1")}
    assert index.named_by(("a", "t1")) is None
    assert index.apps_naming(("a", "t1")) == set()
    assert index.named_by(("a", "t2")) == "a/y"


def test_tokens_named_in_a_referenced_access_policy_are_named_by_the_application() -> None:
    index = PolicyNames()
    uses = {"metadata": {}, "spec": {"hosts": ["h.test"], "upstream": "http://u",
                                     "policies": [{"policyRef": {"name": "shared"}}]}}  # fmt: skip
    assert index.put(("a", "x"), spec(uses)) == set()  # the policy is not known yet
    rules = [ref("t1"), ref("t9", "b")]
    meta = {"namespace": "a", "name": "shared"}
    policy = policy_of({"metadata": meta, "spec": {"decision": "serviceAuth", "include": rules}})
    assert index.put_policy(("a", "shared"), policy) == {("a", "t1"), ("b", "t9")}
    assert index.named_by(("a", "t1")) == "a/x"  # exempt from inactivity, as if written inline
    assert index.named_by(("b", "t9")) is None  # another namespace's token: named, not exempt
    assert index.apps_naming(("b", "t9")) == {("a", "x")}
    # Another namespace's policy of the same name changes nothing here.
    assert index.put_policy(("c", "shared"), policy) == set()
    assert index.put_policy(("a", "shared"), None) == {("a", "t1"), ("b", "t9")}  # deleted
    assert index.named_by(("a", "t1")) is None
    assert index.put_policy(("a", "shared"), policy) == {("a", "t1"), ("b", "t9")}
    assert index.put(("a", "x"), None) == {("a", "t1"), ("b", "t9")}  # the application went
    assert index.named_by(("a", "t1")) is None
