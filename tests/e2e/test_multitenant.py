"""Tenants that do not trust each other: what one namespace writes must not change
what another gets. Each hostile act goes through a namespace-scoped identity with
`*` on gatepass.dev, as many clusters grant teams."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from kubernetes import client

from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ClusterInfo
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import ISSUER, OperatorProcess
from tests.support.tenants import new_namespace, tenant_api
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

EVERYONE = [{"name": "open", "decision": "bypass", "include": [{"everyone": {}}]}]


def served_path(gateway: GatewayProcess, upstream: Upstream, host: str) -> str | None:
    """Which upstream path a request for host reaches (None: not served)."""
    before = len(upstream.seen)
    resp = requests.get(gateway.url + "/x", headers={"Host": host}, timeout=10)
    if resp.status_code != 200 or len(upstream.seen) == before:
        return None
    return str(upstream.seen[-1]["path"]).rsplit("/x", 1)[0]


def ready(apps: Apps, name: str) -> dict[str, Any] | None:
    return apps.condition(name, "Ready")


def owner_then_intruder(
    owner: Apps, hostile: Apps, gateway: GatewayProcess, upstream: Upstream, host: str, grab: dict[str, Any]
) -> dict[str, Any]:
    """The owner's application ``owner-app`` serves ``host``; then the intruder's ``grab``
    (an AccessApplication spec) is created: its Ready condition once it reports HostConflict."""
    owner.create("owner-app", {"hosts": [host], "upstream": upstream.url + "/owner", "policies": EVERYONE})
    wait_for(lambda: served_path(gateway, upstream, host) == "/owner", timeout=15, what="the owner served")
    # creationTimestamp has one-second resolution; within one second, namespace order
    # decides (deterministic, documented). The intruder comes at least a second later.
    time.sleep(1.1)
    hostile.create("grab", {"upstream": upstream.url + "/intruder", "policies": EVERYONE, **grab})
    return wait_for(
        lambda: (c := ready(hostile, "grab")) and c["reason"] == "HostConflict" and c,
        timeout=15,
        what="HostConflict on the later claimant",
    )


def test_a_host_stays_with_its_first_claimant(
    api: client.ApiClient,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    host = f"reports.{namespace}.test"
    owner = Apps(api, namespace)
    ns, tenant = intruder
    hostile = Apps(tenant, ns)
    cond = owner_then_intruder(owner, hostile, gateway, upstream, host, {"hosts": [host, f"own.{ns}.test"]})
    assert cond["status"] == "False"
    assert f"namespace {namespace}" in cond["message"]
    assert "owner-app" not in cond["message"]  # the owner's object name is not told
    events = client.CoreV1Api(api).list_namespaced_event(ns, field_selector="involvedObject.name=grab").items
    assert [e.reason for e in events if e.type == "Warning"] == ["HostConflict"]
    # The intruder gets its own host, never the owner's traffic.
    wait_for(
        lambda: served_path(gateway, upstream, f"own.{ns}.test") == "/intruder", timeout=15, what="own host"
    )
    for _ in range(5):
        assert served_path(gateway, upstream, host) == "/owner"
    owner_ready = ready(owner, "owner-app")
    assert owner_ready is not None
    assert owner_ready["status"] == "True"

    # When the owner lets go, the next claimant gets the host, and is told.
    owner.custom.delete_namespaced_custom_object(
        "gatepass.dev", "v1alpha1", namespace, "accessapplications", "owner-app"
    )
    wait_for(
        lambda: served_path(gateway, upstream, host) == "/intruder", timeout=15, what="the host handed over"
    )
    wait_for(
        lambda: (c := ready(hostile, "grab")) and c["status"] == "True" and c,
        timeout=15,
        what="Ready once the host is free",
    )


def test_a_tenants_wildcard_takes_no_host_or_pattern_another_namespace_claimed(
    api: client.ApiClient,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    zone = f"{namespace}.test"
    owner = Apps(api, namespace)
    ns, tenant = intruder
    hostile = Apps(tenant, ns)
    owner.create(
        "patterns", {"hosts": [f"*.api.{zone}"], "upstream": upstream.url + "/owner", "policies": EVERYONE}
    )
    cond = owner_then_intruder(
        owner,
        hostile,
        gateway,
        upstream,
        f"app.{zone}",
        {"hosts": [f"*.{zone}", f"*.api.{zone}", f"own.{ns}.test"]},
    )
    assert cond["status"] == "False"
    assert f"*.{zone}" in cond["message"]
    assert f"*.api.{zone}" in cond["message"]
    assert f"namespace {namespace}" in cond["message"]
    wait_for(
        lambda: served_path(gateway, upstream, f"own.{ns}.test") == "/intruder", timeout=15, what="own host"
    )
    for _ in range(3):
        assert served_path(gateway, upstream, f"app.{zone}") == "/owner"
        assert served_path(gateway, upstream, f"v1.api.{zone}") == "/owner"
        assert served_path(gateway, upstream, f"other.{zone}") is None  # unclaimed: still not the intruder's


def test_the_gateways_own_host_cannot_be_claimed(
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    issuer_host = urlsplit(ISSUER).hostname
    assert issuer_host
    ns, tenant = intruder
    hostile = Apps(tenant, ns)
    hostile.create(
        "issuer", {"hosts": [issuer_host], "upstream": upstream.url + "/intruder", "policies": EVERYONE}
    )
    cond = wait_for(
        lambda: (c := ready(hostile, "issuer")) and c["reason"] == "HostConflict" and c,
        timeout=15,
        what="HostConflict for the issuer host",
    )
    assert "reserved for the gateway" in cond["message"]
    hostile.wait_aud("issuer")
    assert served_path(gateway, upstream, issuer_host) is None
    # Its discovery document is still the gateway's own.
    doc = requests.get(
        gateway.url + "/.well-known/openid-configuration", headers={"Host": issuer_host}, timeout=10
    )
    assert doc.status_code == 200
    assert doc.json()["issuer"] == ISSUER


def id_and_secret(creds: Creds) -> tuple[str, str]:
    return creds.client_id, creds.client_secret


def call(gateway: GatewayProcess, host: str, client_id: str, secret: str) -> requests.Response:
    headers = {"Host": host, "CF-Access-Client-Id": client_id, "CF-Access-Client-Secret": secret}
    return requests.get(gateway.url + "/x", headers=headers, timeout=10)


def test_status_a_tenant_writes_is_never_trusted(
    api: client.ApiClient,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    ns, tenant = intruder
    victim_tokens, victim_apps = Tokens(api, namespace), Apps(api, namespace)
    host = f"v.{namespace}.test"
    victim_apps.create("app", {"hosts": [host], "upstream": upstream.url + "/v", "policies": ANY_TOKEN})
    victim_tokens.create("ci")
    victim_tokens.wait_ready("ci")
    victim = victim_tokens.creds("ci")
    victim_aud = victim_apps.wait_aud("app")
    wait_for(lambda: call(gateway, host, *id_and_secret(victim)).ok, timeout=15, what="the victim served")

    # The intruder writes the victim's Client ID (with its own secret's hash) into its
    # own token's status, hoping to lock the victim out or to act as the victim.
    mine, my_apps = Tokens(tenant, ns), Apps(tenant, ns)
    mine.create("mine")
    before = mine.wait_ready("mine")
    admin_view = Tokens(api, ns)  # Secrets and Events: read as admin (the tenant role cannot)
    own = admin_view.creds("mine")
    mine.patch_status("mine", {"clientId": victim.client_id, "secretHash": own.hash})
    # The operator notices, says so, and issues new credentials that are not the victim's.
    wait_for(
        lambda: "UntrustedStatus" in admin_view.reasons("mine"), timeout=15, what="UntrustedStatus Event"
    )
    taken = (victim.client_id, before["clientId"])
    after = wait_for(
        lambda: (st := mine.wait_ready("mine")) and st["clientId"] not in taken and st,
        timeout=15,
        what="new credentials for the tampered token",
    )
    assert after["seal"] != before["seal"]
    for _ in range(5):  # the victim is never locked out, nor impersonated
        assert call(gateway, host, *id_and_secret(victim)).ok
        assert call(gateway, host, victim.client_id, own.client_secret).status_code == 401

    # An application's aud is not the tenant's to write: its JWTs keep their own.
    my_host = f"mine.{ns}.test"
    my_apps.create("app", {"hosts": [my_host], "upstream": upstream.url + "/i", "policies": ANY_TOKEN})
    my_aud = my_apps.wait_aud("app")
    assert my_aud != victim_aud
    my_apps.patch_status("app", {"aud": victim_aud})
    wait_for(lambda: my_apps.status("app").get("aud") == my_aud, timeout=15, what="aud put back")
    fresh = admin_view.creds("mine")
    resp = wait_for(
        lambda: (r := call(gateway, my_host, fresh.client_id, fresh.client_secret)).ok and r,
        timeout=15,
        what="the intruder's own app serves its own token",
    )
    minted = jwt.decode(resp.cookies["CF_Authorization"], options={"verify_signature": False})
    assert minted["aud"] == [my_aud]


def test_an_older_sealed_record_written_back_is_never_trusted(
    api: client.ApiClient,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    """A status writer keeps a record the operator sealed while the previous secret was in
    its grace, ends the grace, and writes the old record back to revive that secret. The
    seal still verifies (same object), but it is older than one already written: the
    gateway keeps the newer record and the operator reissues (the writer's own cost)."""
    ns, tenant = intruder
    mine, my_apps, admin_view = Tokens(tenant, ns), Apps(tenant, ns), Tokens(api, ns)
    host = f"replay.{ns}.test"
    my_apps.create("app", {"hosts": [host], "upstream": upstream.url + "/r", "policies": ANY_TOKEN})
    mine.create("tok", {"rotationGracePeriod": "1h"})
    first = mine.wait_ready("tok")
    old = admin_view.creds("tok")
    wait_for(lambda: call(gateway, host, *id_and_secret(old)).ok, timeout=15, what="the token served")
    mine.annotate("tok", "gatepass.dev/rotate", "1")
    wait_for(lambda: mine.status("tok").get("secretHash") != first["secretHash"], timeout=15, what="rotated")
    new = admin_view.creds("tok")
    kept = mine.status("tok")  # sealed, with the previous secret in its grace
    assert kept.get("previousSecretHash") == old.hash
    # The grace ended early, then the annotation taken away so nothing asks for it again.
    mine.annotate("tok", "gatepass.dev/previous-secret-expires-at", "2000-01-01T00:00:00Z")
    wait_for(lambda: not mine.status("tok").get("previousSecretHash"), timeout=15, what="grace ended")
    wait_for(lambda: call(gateway, host, *id_and_secret(old)).status_code == 401, timeout=15)
    mine.patch("tok", {"metadata": {"annotations": {"gatepass.dev/previous-secret-expires-at": None}}})

    fields = ("clientId", "secretHash", "expiresAt", "previousSecretHash", "previousSecretExpiresAt")
    mine.patch_status(
        "tok",
        {
            **{f: kept.get(f) for f in fields},
            "rotatedAt": kept.get("rotatedAt"),
            "seal": kept["seal"],
            "sealV2": kept["sealV2"],
        },
    )
    wait_for(lambda: "UntrustedStatus" in admin_view.reasons("tok"), timeout=15, what="UntrustedStatus Event")
    reissued = wait_for(
        lambda: (st := mine.status("tok")).get("secretHash") not in (None, old.hash, new.hash) and st,
        timeout=15,
        what="new credentials for the replayed record",
    )
    assert not reissued.get("previousSecretHash")
    latest = admin_view.creds("tok")
    wait_for(lambda: call(gateway, host, *id_and_secret(latest)).ok, timeout=15, what="the reissued secret")
    for _ in range(5):  # the revived secret never works again
        assert call(gateway, host, *id_and_secret(old)).status_code == 401


def test_an_application_cannot_aim_the_gateway_at_another_namespace(
    api: client.ApiClient,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    ns, tenant = intruder
    hostile = Apps(tenant, ns)
    host = f"peek.{ns}.test"
    target = f"http://internal.{namespace}.svc.cluster.local:8080"
    hostile.create("peek", {"hosts": [host], "upstream": target, "policies": EVERYONE})
    cond = wait_for(
        lambda: (c := ready(hostile, "peek")) and c["reason"] == "UpstreamNotAllowed" and c,
        timeout=15,
        what="UpstreamNotAllowed",
    )
    assert cond["status"] == "False"
    assert f"namespace {namespace}" in cond["message"]
    answer = wait_for(
        lambda: (
            (r := requests.get(gateway.url + "/", headers={"Host": host}, timeout=10)).status_code == 502
            and r.json()  # (not r: a Response is falsy when its status is an error)
        ),
        timeout=15,
        what="the gateway refusing the upstream",
    )
    assert answer == {"error": "upstream_not_allowed"}


def test_a_tenant_without_star_has_the_whole_flow_and_no_status(
    api: client.ApiClient,
    cluster: ClusterInfo,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    """The role a careful cluster grants: the two kinds, every verb, but no status."""
    ns = new_namespace(api, "careful")
    rules = [
        client.V1PolicyRule(
            api_groups=["gatepass.dev"],
            resources=["servicetokens", "accessapplications"],
            verbs=["get", "list", "watch", "create", "update", "patch", "delete"],
        )
    ]
    try:
        with tenant_api(cluster, api, ns, rules) as tenant:
            tokens, apps = Tokens(tenant, ns), Apps(tenant, ns)
            tokens.create("ci")
            st = tokens.wait_ready("ci", timeout=15)
            host = f"careful.{ns}.test"
            apps.create("app", {"hosts": [host], "upstream": upstream.url + "/c", "policies": ANY_TOKEN})
            creds = Tokens(api, ns).creds("ci")
            wait_for(lambda: call(gateway, host, *id_and_secret(creds)).ok, timeout=15, what="served")
            tokens.annotate("ci", "gatepass.dev/rotate", "1")  # rotation is an annotation: allowed
            wait_for(
                lambda: tokens.status("ci").get("secretHash") != st["secretHash"], timeout=15, what="rotated"
            )
            with pytest.raises(client.exceptions.ApiException) as refused:
                tokens.patch_status("ci", {"clientId": "0" * 32 + ".access"})
            assert refused.value.status == 403
    finally:
        client.CoreV1Api(api).delete_namespace(ns)


def test_no_tenant_takes_a_path_on_another_tenants_host(
    api: client.ApiClient,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    host = f"site.{namespace}.test"
    ns, tenant = intruder
    # A path under the owner's host, more specific than the owner's destination.
    grab = {"hosts": [f"{host}/x"]}
    cond = owner_then_intruder(Apps(api, namespace), Apps(tenant, ns), gateway, upstream, host, grab)
    assert f"its host was claimed earlier by an application in namespace {namespace}" in cond["message"]
    for _ in range(5):  # served_path requests /x: still the owner's
        assert served_path(gateway, upstream, host) == "/owner"
