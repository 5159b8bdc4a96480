"""Inputs read from the attacker's seat (docs/SECURITY.md's input table): each hostile
value, written through a tenant identity with `*` on gatepass.dev in its own namespace,
costs that tenant only; everyone else keeps being served, revoked and issued."""

from __future__ import annotations

from pathlib import Path

import requests
from kubernetes import client

from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ClusterInfo
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OperatorProcess
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

# Valid RFC 3339, stored by the API server; past year 9999 once moved to UTC.
PAST_9999 = "9999-12-31T23:00:00-05:00"


def status_code(gateway: GatewayProcess, host: str, creds: Creds) -> int:
    headers = {
        "Host": host,
        "CF-Access-Client-Id": creds.client_id,
        "CF-Access-Client-Secret": creds.client_secret,
    }
    return requests.get(gateway.url + "/x", headers=headers, timeout=10).status_code


def test_a_status_date_past_9999_costs_its_writer_only(
    api: client.ApiClient,
    cluster: ClusterInfo,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
    tmp_path: Path,
) -> None:
    ns, tenant = intruder
    victims, apps = Tokens(api, namespace), Apps(api, namespace)
    host = f"v.{namespace}.test"
    apps.create("app", {"hosts": [host], "upstream": upstream.url + "/v", "policies": ANY_TOKEN})
    for name in ("ci", "ci2"):
        victims.create(name)
        victims.wait_ready(name)
    ci, ci2 = victims.creds("ci"), victims.creds("ci2")
    wait_for(lambda: status_code(gateway, host, ci) == 200, timeout=15, what="the victim served")

    mine = Tokens(tenant, ns)
    mine.create("mine")
    before = mine.wait_ready("mine")
    # With no operator to repair it, the hostile status stays as long as the test needs.
    running_operator.stop()
    mine.patch_status("mine", {"expiresAt": PAST_9999})
    assert mine.status("mine")["expiresAt"] == PAST_9999  # stored: the API server accepts it

    # The gateway's token watch goes on: a revocation elsewhere still reaches it at once.
    victims.delete("ci")
    wait_for(lambda: status_code(gateway, host, ci) == 401, timeout=10, what="the deleted token refused")
    assert status_code(gateway, host, ci2) == 200
    ready = requests.get(f"http://127.0.0.1:{gateway.admin_port}/readyz", timeout=5)
    health = requests.get(f"http://127.0.0.1:{gateway.admin_port}/healthz", timeout=5)
    assert (ready.status_code, health.status_code) == (200, 200)

    # A gateway that starts now lists the hostile object and still opens its port.
    fresh = GatewayProcess(cluster.kubeconfig, gateway.env, tmp_path / "fresh-gateway.log")
    fresh.start(timeout=30)
    try:
        assert status_code(fresh, host, ci2) == 200
        assert status_code(fresh, host, ci) == 401
    finally:
        fresh.stop()
    assert "Traceback" not in (tmp_path / "fresh-gateway.log").read_text()

    # The operator repairs the record (it is read as lost: new credentials, a Warning) and
    # keeps issuing for everyone else.
    running_operator.start()
    admin_view = Tokens(api, ns)
    wait_for(
        lambda: "UntrustedStatus" in admin_view.reasons("mine"), timeout=30, what="UntrustedStatus Event"
    )
    after = wait_for(
        lambda: (s := mine.wait_ready("mine")) and s["clientId"] != before["clientId"] and s,
        timeout=30,
        what="new credentials for the tampered token",
    )
    assert after["expiresAt"].endswith("Z")
    assert not after["expiresAt"].startswith("9999")
    victims.create("late")
    victims.wait_ready("late", timeout=30)
    late = victims.creds("late")
    wait_for(lambda: status_code(gateway, host, late) == 200, timeout=15, what="a new token admitted")
