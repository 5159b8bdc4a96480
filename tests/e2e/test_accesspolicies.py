"""Reusable policies (AccessPolicy, named by policyRef) through the real operator and
gateway: a change reaches every application naming it within seconds; a missing one is
said and admits nobody; no namespace reaches another's."""

from __future__ import annotations

import pytest
import requests
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.apps import Apps
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OperatorProcess
from tests.support.policies import Policies, admitting
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

REF = {"policyRef": {"name": "shared-ci"}}


def call(gateway: GatewayProcess, host: str, creds: Creds) -> int:
    headers = {
        "Host": host,
        "CF-Access-Client-Id": creds.client_id,
        "CF-Access-Client-Secret": creds.client_secret,
    }
    return requests.get(gateway.url + "/x", headers=headers, timeout=10).status_code


def admits(gateway: GatewayProcess, hosts: list[str], creds: Creds, expected: bool) -> bool:
    return all((call(gateway, h, creds) == 200) == expected for h in hosts)


def test_a_shared_policy_edited_moves_every_application_naming_it(
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    tokens, apps, policies = Tokens(api, namespace), Apps(api, namespace), Policies(api, namespace)
    for t in ("a", "b"):
        tokens.create(t)
    policies.create("shared-ci", admitting("a"))
    hosts = [f"{n}.{namespace}.test" for n in ("one", "two")]
    for n, host in zip(("one", "two"), hosts, strict=True):
        apps.create(n, {"hosts": [host], "upstream": upstream.url + "/" + n, "policies": [REF]})
    for t in ("a", "b"):
        tokens.wait_ready(t)
    a, b = tokens.creds("a"), tokens.creds("b")
    wait_for(
        lambda: admits(gateway, hosts, a, True), timeout=15, what="token a admitted by the shared policy"
    )
    assert admits(gateway, hosts, b, False)
    cond = apps.condition("one", "PoliciesResolved")
    assert cond is not None
    assert cond["status"] == "True"

    policies.patch_spec("shared-ci", admitting("b"))
    wait_for(lambda: admits(gateway, hosts, b, True), timeout=5, what="both applications follow the edit")
    assert admits(gateway, hosts, a, False)

    # Gone: the applications say so, and the reference admits nobody (fail closed).
    policies.delete("shared-ci")
    wait_for(lambda: admits(gateway, hosts, b, False), timeout=5, what="a deleted policy admits nobody")
    cond = wait_for(
        lambda: (c := apps.condition("two", "PoliciesResolved")) and c["status"] == "False" and c,
        timeout=10,
        what="PoliciesResolved False",
    )
    assert cond["reason"] == "PolicyNotFound"
    assert "shared-ci" in cond["message"]


def test_a_tenant_reaches_no_other_namespaces_policies(
    api: client.ApiClient,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    ns, tenant = intruder
    tokens, apps, policies = Tokens(api, namespace), Apps(api, namespace), Policies(api, namespace)
    tokens.create("a")
    policies.create("shared-ci", admitting("a"))
    host = f"v.{namespace}.test"
    apps.create("app", {"hosts": [host], "upstream": upstream.url + "/v", "policies": [REF]})
    tokens.wait_ready("a")
    a = tokens.creds("a")
    wait_for(lambda: call(gateway, host, a) == 200, timeout=15, what="the victim served")

    # The intruder's application cannot name the victim's policy: refused by the CRD.
    mine, my_policies = Apps(tenant, ns), Policies(tenant, ns)
    ref = {"policyRef": {"name": "shared-ci", "namespace": namespace}}
    with pytest.raises(ApiException) as refused:
        mine.create("app", {"hosts": [f"i.{ns}.test"], "upstream": upstream.url + "/i", "policies": [ref]})
    assert refused.value.status == 422
    assert "cannot name another namespace" in str(refused.value.body)

    # Its own policy of the same name, admitting everyone, changes nothing for the victim.
    my_policies.create("shared-ci", {"decision": "bypass", "include": [{"everyone": {}}]})
    Tokens(tenant, ns).create("x")
    Tokens(api, ns).wait_ready("x")
    x = Tokens(api, ns).creds("x")  # Secrets read as admin (the tenant role cannot)
    mine.create("app", {"hosts": [f"i.{ns}.test"], "upstream": upstream.url + "/i", "policies": [REF]})
    wait_for(lambda: call(gateway, f"i.{ns}.test", x) == 200, timeout=15, what="the intruder's own app")
    for _ in range(3):
        assert call(gateway, host, x) in (401, 403)
        assert call(gateway, host, a) == 200
    nobody = requests.get(gateway.url + "/x", headers={"Host": host}, timeout=10)
    assert nobody.status_code == 401


def test_an_entry_is_inline_or_a_ref_never_both(
    api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    apps = Apps(api, namespace)
    both = {**REF, "decision": "deny", "include": [{"everyone": {}}]}
    for bad, said in (
        (both, "not both"),
        ({"name": "x"}, "decision and include, or a policyRef"),
        ({"policyRef": {"name": "Not_A_Name"}}, "AccessPolicy name"),
    ):
        with pytest.raises(ApiException) as refused:
            apps.create("bad", {"hosts": ["bad.test"], "upstream": "http://u", "policies": [bad]})
        assert said in str(refused.value.body)
    with pytest.raises(ApiException) as refused:
        Policies(api, namespace).create("p", {"decision": "serviceAuth", "include": [{"everyone": {}}]})
    assert "cannot include everyone" in str(refused.value.body)
