"""The operator with policyRefs: the application's PoliciesResolved condition from what it
reads, and which applications a policy's change re-checks."""

from __future__ import annotations

from typing import Any

import pytest

from gatepass.operator.appevent import app_event, policy_of
from gatepass.operator.policyusers import PolicyUsers
from tests.support.fakestores import fake_stores
from tests.unit.operator.test_applications import KEY, reconciler

SPEC: dict[str, Any] = {
    "hosts": ["api.example.com"],
    "upstream": "http://api.team-a:80",
    "policies": [{"policyRef": {"name": "shared"}}],
}
SHARED = {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci-bot"}}]}


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [c for c in body["status"]["conditions"] if c["type"] == kind]
    return dict(found)


@pytest.mark.asyncio
async def test_missing_then_present_then_unreadable() -> None:
    stores = fake_stores()
    stores.apps.create(*KEY, SPEC)
    reconcile = reconciler(stores)
    await reconcile(KEY)
    cond = condition(stores.apps.body(*KEY), "PoliciesResolved")
    assert (cond["status"], cond["reason"]) == ("False", "PolicyNotFound")
    assert "shared" in cond["message"]
    assert "PolicyNotFound" in stores.events.reasons()
    stores.policies.put("team-a", "shared", SHARED)
    await reconcile(KEY)
    assert condition(stores.apps.body(*KEY), "PoliciesResolved")["status"] == "True"
    stores.policies.put("team-a", "shared", {"decision": "maybe", "include": []})
    await reconcile(KEY)
    cond = condition(stores.apps.body(*KEY), "PoliciesResolved")
    assert (cond["status"], cond["reason"]) == ("False", "PolicyInvalid")


@pytest.mark.asyncio
async def test_only_the_applications_own_namespace_is_read() -> None:
    stores = fake_stores()
    stores.apps.create(*KEY, SPEC)
    stores.policies.put("intruder", "shared", SHARED)  # the same name elsewhere: not this one
    await reconciler(stores)(KEY)
    assert condition(stores.apps.body(*KEY), "PoliciesResolved")["reason"] == "PolicyNotFound"


@pytest.mark.asyncio
async def test_tokens_named_in_a_referenced_policy_are_checked() -> None:
    stores = fake_stores()
    stores.apps.create(*KEY, SPEC)
    stores.policies.put("team-a", "shared", SHARED)
    reconcile = reconciler(stores)
    reconcile.token_exists = lambda _: False
    await reconcile(KEY)
    cond = condition(stores.apps.body(*KEY), "TokensResolved")
    assert "team-a/ci-bot" in cond["message"]


def put(users: PolicyUsers, key: tuple[str, str], body: dict[str, Any] | None) -> None:
    """As the operator takes an application event: parsed once (operator/appevent.py)."""
    users.put(key, app_event(key, body).spec)


def test_a_policy_concerns_the_applications_of_its_namespace_naming_it() -> None:
    users = PolicyUsers()
    body = {"spec": SPEC}
    put(users, ("team-a", "api"), body)
    put(users, ("team-a", "web"), body)
    put(users, ("intruder", "api"), body)
    assert users.apps_using(("team-a", "shared")) == {("team-a", "api"), ("team-a", "web")}
    assert users.apps_using(("intruder", "shared")) == {("intruder", "api")}
    put(users, ("team-a", "web"), None)
    put(users, ("team-a", "api"), {"spec": {**SPEC, "policies": []}})
    assert users.apps_using(("team-a", "shared")) == set()
    put(users, ("team-a", "x"), {"spec": {"hosts": 3}})  # unreadable: names nothing
    assert users.apps_using(("team-a", "shared")) == set()


def test_a_referenced_policys_session_holds_replaced_signing_keys_longer() -> None:
    from datetime import timedelta

    from gatepass.operator.infra import LongestSession

    mark = LongestSession()
    mark.see(app_event(KEY, {"spec": SPEC}).spec)
    assert mark.value == timedelta(hours=24)
    meta = {"namespace": "team-a", "name": "shared"}
    assert mark.see_policy(policy_of({"metadata": meta, "spec": {**SHARED, "sessionDuration": "720h"}}))
    assert mark.value == timedelta(hours=720)
