"""The gateway's state with policyRefs: an AccessPolicy's arrival, change and removal
reach the applications naming it (and only those), fail closed."""

from __future__ import annotations

from typing import Any

from gatepass.decisions.policy import Identity, evaluate
from gatepass.gateway.state import State, app_record, policy_entry
from gatepass.routing.hosts import claim_of
from tests.unit.gateway.test_state import root_app, sealed_state

A = Identity("team", "a", "a.access")
B = Identity("team", "b", "b.access")


def app(name: str, ns: str = "team", *policies: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": ns, "name": name, "uid": f"uid-{ns}-{name}", "creationTimestamp": "t"},
        "spec": {"hosts": [f"{name}.{ns}.test"], "upstream": "http://u", "policies": list(policies)},
    }


def policy(name: str, token: str, ns: str = "team", **extra: Any) -> dict[str, Any]:
    spec = {"decision": "serviceAuth", "include": [{"serviceToken": {"name": token}}], **extra}
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


def put_app(state: State, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    state.put_app((meta["namespace"], meta["name"]), app_record(obj), claim_of(obj))


def put_policy(state: State, obj: dict[str, Any], deleted: bool = False) -> None:
    meta = obj["metadata"]
    state.put_policy((meta["namespace"], meta["name"]), policy_entry(obj), deleted=deleted)


def admitted(state: State, host: str, who: Identity) -> bool:
    record = root_app(state, host)
    assert record is not None
    return evaluate(record.policies, record.namespace, who).decision == "serviceAuth"


REF = {"policyRef": {"name": "shared"}}


def test_a_policy_added_changed_and_deleted_reaches_every_application_naming_it() -> None:
    state = sealed_state()
    put_app(state, app("one", "team", REF))
    put_app(state, app("two", "team", REF))
    hosts = ("one.team.test", "two.team.test")
    assert not any(admitted(state, h, A) for h in hosts)  # not there yet: nobody
    put_policy(state, policy("shared", "a"))
    assert all(admitted(state, h, A) for h in hosts)
    put_policy(state, policy("shared", "b"))
    assert all(admitted(state, h, B) for h in hosts)
    assert not any(admitted(state, h, A) for h in hosts)
    put_policy(state, policy("shared", "b"), deleted=True)
    assert not any(admitted(state, h, B) or admitted(state, h, A) for h in hosts)


def test_an_unreadable_policy_matches_nobody_and_the_inline_ones_still_serve() -> None:
    state = sealed_state()
    inline_b = {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "b"}}]}
    put_app(state, app("one", "team", REF, inline_b))
    put_policy(state, policy("shared", "a"))
    assert admitted(state, "one.team.test", A)
    broken = policy("shared", "a")
    broken["spec"]["include"] = "not a list"
    put_policy(state, broken)
    assert state.policies[("team", "shared")] is None
    assert not admitted(state, "one.team.test", A)
    assert admitted(state, "one.team.test", B)


def test_another_namespaces_policy_of_the_same_name_changes_nothing() -> None:
    state = sealed_state()
    put_app(state, app("one", "team", REF))
    put_policy(state, policy("shared", "a"))
    before = root_app(state, "one.team.test")
    put_policy(state, policy("shared", "b", ns="intruder"))
    put_policy(
        state,
        {
            "metadata": {"namespace": "intruder", "name": "shared"},
            "spec": {"decision": "bypass", "include": [{"everyone": {}}]},
        },
    )
    assert root_app(state, "one.team.test") is before  # not even resolved again
    assert admitted(state, "one.team.test", A)
    assert not admitted(state, "one.team.test", B)


def test_a_change_resolves_only_the_applications_naming_the_policy() -> None:
    state = sealed_state()
    put_app(state, app("one", "team", REF))
    put_app(state, app("two", "team", {"policyRef": {"name": "other"}}))
    put_policy(state, policy("other", "a"))
    two = root_app(state, "two.team.test")
    assert two is not None
    resolved_two = state._resolved[("team", "two")][1]
    put_policy(state, policy("shared", "b"))
    assert state._resolved[("team", "two")][1] is resolved_two  # untouched
    assert admitted(state, "one.team.test", B)


def test_a_listing_replaces_the_policies_and_resolves_who_changed() -> None:
    state = sealed_state()
    put_app(state, app("one", "team", REF))
    state.set_policies({("team", "shared"): policy_entry(policy("shared", "a"))})
    assert admitted(state, "one.team.test", A)
    state.set_policies({})  # deleted while the watch was away
    assert not admitted(state, "one.team.test", A)


def test_a_referenced_policys_session_and_service_accounts_apply() -> None:
    state = sealed_state()
    put_app(state, app("one", "team", REF))
    sa = {"decision": "serviceAuth", "include": [{"serviceAccount": {"name": "ci"}}], "sessionDuration": "1h"}
    put_policy(state, {"metadata": {"namespace": "team", "name": "shared"}, "spec": sa})
    record = root_app(state, "one.team.test")
    assert record is not None
    assert record.admits_service_accounts
    assert record.lifetime(0) == 3600.0
    assert record.policies[0].name == "shared"  # labelled by the object's name


def test_a_policy_whose_session_does_not_parse_is_unreadable_not_a_crash() -> None:
    """Written past the CRD's rules (an older CRD): it matches nobody, and every other
    application keeps being served."""
    state = sealed_state()
    put_app(state, app("one", "team", REF))
    put_app(state, app("two", "team"))
    put_policy(state, policy("shared", "a", sessionDuration="99999999999h"))
    assert state.policies[("team", "shared")] is None
    assert not admitted(state, "one.team.test", A)
    assert root_app(state, "two.team.test") is not None
