"""Which tokens policies name: only an application's own namespace counts."""

from __future__ import annotations

from typing import Any

from gatepass.operator.policynames import PolicyNames, named_tokens


def app(namespace: str, name: str, *rules: dict[str, Any], where: str = "include") -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "policies": [{"decision": "serviceAuth", "include": [{"everyone": {}}], where: list(rules)}]
        },
    }


def ref(name: str, namespace: str | None = None) -> dict[str, Any]:
    return {"serviceToken": {"name": name, **({"namespace": namespace} if namespace else {})}}


def test_named_tokens_reads_every_rule_list_of_every_policy() -> None:
    for where in ("include", "require", "exclude"):
        assert named_tokens(app("a", "x", ref("t1"), ref("t2", "a"), where=where)) == {"t1", "t2"}


def test_another_namespaces_token_is_not_named_here() -> None:
    assert named_tokens(app("b", "x", ref("t1", "a"), {"anyServiceToken": {}})) == frozenset()


def test_junk_names_nothing() -> None:
    junk: list[Any] = [
        {},
        {"metadata": {}, "spec": {"policies": "x"}},
        {"metadata": {"namespace": "a"}, "spec": {"policies": [1, {"include": "x"}, {"include": [3]}]}},
        {
            "metadata": {"namespace": "a"},
            "spec": {"policies": [{"include": [{"serviceToken": {"name": 5}}]}]},
        },
    ]
    for body in junk:
        assert named_tokens(body) == frozenset()


def test_the_index_follows_applications_and_says_whose_exemption_changed() -> None:
    index = PolicyNames()
    assert index.put(("a", "x"), app("a", "x", ref("t1"))) == {("a", "t1")}
    assert index.put(("a", "y"), app("a", "y", ref("t1"), ref("t2"))) == {("a", "t1"), ("a", "t2")}
    assert index.named_by(("a", "t1")) == "a/x"
    assert index.named_by(("b", "t1")) is None  # same name, another namespace
    assert index.put(("a", "x"), app("a", "x", ref("t1"))) == set()  # no change
    assert index.put(("a", "x"), None) == {("a", "t1")}  # deleted: t1 is still named by y
    assert index.named_by(("a", "t1")) == "a/y"
    assert index.put(("a", "y"), app("a", "y", ref("t2"))) == {("a", "t1")}
    assert index.named_by(("a", "t1")) is None
    assert index.named_by(("a", "t2")) == "a/y"
