"""The operator with policyRefs: the application's PoliciesResolved condition from what it
reads, and which applications a policy's change re-checks."""

from __future__ import annotations

from typing import Any

import pytest

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


def test_a_policy_concerns_the_applications_of_its_namespace_naming_it() -> None:
    users = PolicyUsers()
    body = {"spec": SPEC}
    users.put(("team-a", "api"), body)
    users.put(("team-a", "web"), body)
    users.put(("intruder", "api"), body)
    assert users.apps_using(("team-a", "shared")) == {("team-a", "api"), ("team-a", "web")}
    assert users.apps_using(("intruder", "shared")) == {("intruder", "api")}
    users.put(("team-a", "web"), None)
    users.put(("team-a", "api"), {"spec": {**SPEC, "policies": []}})
    assert users.apps_using(("team-a", "shared")) == set()
    users.put(("team-a", "x"), {"spec": {"hosts": 3}})  # unreadable: names nothing
    assert users.apps_using(("team-a", "shared")) == set()


def test_a_referenced_policys_session_holds_replaced_signing_keys_longer() -> None:
    from datetime import timedelta

    from gatepass.operator.infra import LongestSession

    mark = LongestSession()
    mark.see({"spec": SPEC})
    assert mark.value == timedelta(hours=24)
    assert mark.see({"spec": {**SHARED, "sessionDuration": "720h"}})
    assert mark.value == timedelta(hours=720)
