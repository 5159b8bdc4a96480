"""gatepass as Traefik's forward-auth, all in pods: a client pod -> Traefik (built from its
Go module, tools/ingress) -> an origin pod, Traefik asking the gateway Service about each
request through the chart's Middleware. Both of Traefik's Kubernetes providers: an
IngressRoute naming the Middleware, and an HTTPRoute whose filter is an ExtensionRef to it.

`make ingress-test` (marker ``ingress``: a cold Traefik build takes minutes). The tests
run in file order and build on each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.support.cluster import ROOT, localcluster
from tests.support.pods import CALL, NS, STREAM, PodCluster, origin_and_consumer, pod_cluster
from tests.support.waiting import wait_for

sys.path.insert(0, str(ROOT / "tools" / "ingress"))

import traefik
import traefikbuild

pytestmark = [
    pytest.mark.ingress,
    pytest.mark.skipif(
        os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local" or not localcluster.node_wanted(),
        reason="needs the local node (GATEPASS_NODE=1, the default)",
    ),
]

CHART = str(ROOT / "charts" / "gatepass")
TEAM = "team-a"
ROUTE_HOST = "reports.example.com"  # IngressRoute
GATEWAY_HOST = "reports-gw.example.com"  # HTTPRoute on Traefik's Gateway
OTHER_HOST = "ledger.example.com"  # an application whose policy admits another token only
CREDS = {
    "CF-Access-Client-Id": "@env:CF_ACCESS_CLIENT_ID",
    "CF-Access-Client-Secret": "@env:CF_ACCESS_CLIENT_SECRET",
}
MIDDLEWARE = "gatepass"


@pytest.fixture(scope="module")
def pc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodCluster]:
    build = traefikbuild.build()  # before the cluster: a cold build takes minutes
    with pod_cluster(tmp_path_factory.mktemp("traefik")) as pc:
        assert pc.cluster.local_node is not None
        pc.cluster.local_node.import_image(build / "image.tar", traefikbuild.IMAGE)
        traefik.install(lambda *a, stdin=None: pc.kubectl(*a, stdin=stdin), build)
        pc.kubectl("create", "namespace", TEAM)
        # Traefik's pod as the trusted proxy, as for IP rules behind it (README).
        proxy = pc.kubectl("get", "pod", "-n", traefik.NS, "-o", "jsonpath={.items[0].status.podIP}")
        pc.helm("install", "gatepass", CHART, "-n", NS, "--create-namespace", "--wait", "--timeout", "180s",
                "--set", "traefik.middleware.enabled=true",
                "--set", f"traefik.middleware.namespaces={{{TEAM}}}",
                "--set", f"gateway.trustedProxies={{{proxy}}}")  # fmt: skip
        deploy(pc)
        yield pc


def deploy(pc: PodCluster) -> None:
    """The examples' token and application (serving both hosts), an origin, a consumer pod
    with the token's Secret, the routes; and a second application the token may not use."""
    token = yaml.safe_load((ROOT / "examples" / "servicetoken.yaml").read_text())
    app = yaml.safe_load((ROOT / "examples" / "accessapplication.yaml").read_text())
    app["spec"]["hosts"] = [ROUTE_HOST, GATEWAY_HOST]
    app["spec"]["upstream"] = f"http://reports.{TEAM}.svc.cluster.local:8080"
    other = json.loads(json.dumps(app))
    other["metadata"]["name"] = "ledger"
    other["spec"]["hosts"] = [OTHER_HOST]
    other["spec"]["policies"][0]["include"] = [{"serviceToken": {"name": "someone-else"}}]
    pc.apply(token, app, other, *origin_and_consumer(pc.image), *routes(), namespace=TEAM)
    for deploy in ("reports", "reporter"):
        pc.kubectl("rollout", "status", f"deploy/{deploy}", "-n", TEAM, "--timeout=120s")


def routes() -> list[dict[str, Any]]:
    """What users write: an IngressRoute with the Middleware, an HTTPRoute with an ExtensionRef."""
    backend = {"name": "reports", "port": 8080}
    ingress_route = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "reports"},
        "spec": {
            "entryPoints": ["web"],
            "routes": [
                {
                    "match": f"Host(`{ROUTE_HOST}`) || Host(`{OTHER_HOST}`)",
                    "kind": "Rule",
                    "middlewares": [{"name": MIDDLEWARE}],
                    "services": [backend],
                }
            ],
        },
    }
    http_route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "reports"},
        "spec": {
            "parentRefs": [{"name": traefik.NAME, "namespace": traefik.NS, "sectionName": "web"}],
            "hostnames": [GATEWAY_HOST],
            "rules": [
                {
                    "filters": [
                        {
                            "type": "ExtensionRef",
                            "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": MIDDLEWARE},
                        }
                    ],
                    "backendRefs": [backend],
                }
            ],
        },
    }
    return [ingress_route, http_route]


def client(pc: PodCluster) -> str:
    return pc.kubectl(
        "get", "pod", "-n", TEAM, "-l", "app=reporter", "-o", "jsonpath={.items[0].metadata.name}"
    )


def via_traefik(
    pc: PodCluster, host: str, headers: dict[str, str] | None = None, path: str = "/"
) -> dict[str, Any]:
    """One request from the client pod to Traefik's Service (the origin echoes its headers)."""
    out = pc.exec_python(TEAM, client(pc), CALL, traefik.SERVICE_URL + path, host, json.dumps(headers or {}))
    answer: dict[str, Any] = json.loads(out)
    return answer


def secret(pc: PodCluster, key: str) -> str:
    import base64

    raw = pc.kubectl("get", "secret", "ci-bot", "-n", TEAM, "-o", f"jsonpath={{.data.{key}}}")
    return base64.b64decode(raw).decode()


def first_200(pc: PodCluster, host: str) -> dict[str, Any]:
    """Traefik and the gateway learn of new objects by watch: the first 200 within a minute."""
    answer: dict[str, Any] = wait_for(
        lambda: (a := via_traefik(pc, host, CREDS))["status"] == 200 and a,
        timeout=60,
        interval=1,
        what=f"200 for {host} through Traefik",
    )
    return answer


@pytest.mark.parametrize("host", [ROUTE_HOST, GATEWAY_HOST], ids=["IngressRoute", "HTTPRoute-ExtensionRef"])
def test_a_token_reaches_the_origin_through_traefik_with_the_assertion_and_no_secret(
    pc: PodCluster, host: str
) -> None:
    first_200(pc, host)
    made_up = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."  # a client's own "assertion"
    answer = via_traefik(pc, host, {**CREDS, "Cf-Access-Jwt-Assertion": made_up})
    assert answer["status"] == 200, answer
    seen = json.loads(answer["body"])
    assert seen["cf-access-jwt-assertion"] != made_up  # replaced by the gateway's
    assert seen["host"] == host
    assert seen["cf-access-jwt-assertion"].count(".") == 2
    for name in ("cf-access-client-secret", "cf-access-client-id"):
        assert name not in seen, seen
    assert secret(pc, "CF_ACCESS_CLIENT_SECRET") not in answer["body"]
    # Traefik hands the gateway's session cookie to the client; with it alone, in again.
    cookie = next(c.split(";")[0] for c in answer["set_cookie"] if c.startswith("CF_Authorization="))
    assert cookie.split("=", 1)[1] == seen["cf-access-jwt-assertion"]
    again = via_traefik(pc, host, {"Cookie": cookie})
    assert again["status"] == 200, again
    assert json.loads(again["body"])["cf-access-jwt-assertion"]


def test_refusals_pass_through_traefik_with_the_gateways_json_body(pc: PodCluster) -> None:
    first_200(pc, ROUTE_HOST)
    wait_for(
        lambda: via_traefik(pc, OTHER_HOST, CREDS)["status"] == 403,
        timeout=30,
        interval=1,
        what="the second application served",
    )
    wrong = {**CREDS, "CF-Access-Client-Secret": "gpst_not-a-secret"}  # no checksum
    cases = [
        (ROUTE_HOST, {}, 401, "no_credentials"),
        (GATEWAY_HOST, wrong, 401, "malformed_credentials"),
        (OTHER_HOST, CREDS, 403, "not_allowed"),
    ]
    for host, headers, status, reason in cases:
        answer = via_traefik(pc, host, headers)
        assert answer["status"] == status, (host, answer)
        assert json.loads(answer["body"]) == {"error": reason}, (host, answer)  # the gateway's own
        assert answer["set_cookie"] == []


def test_a_client_cannot_choose_the_address_the_gateway_sees(pc: PodCluster) -> None:
    """Traefik is a trusted proxy (gateway.trustedProxies); with trustForwardHeader: false it
    tells the gateway the connection's peer, whatever X-Forwarded-For the client wrote (the
    address IP rules would check: the access log's ``client``)."""
    forged = "203.0.113.7"
    # A path of its own: the log lines of earlier requests must not answer for this one.
    answer = via_traefik(pc, ROUTE_HOST, {**CREDS, "X-Forwarded-For": forged}, path="/xff-probe")
    assert answer["status"] == 200
    pod_ip = pc.kubectl("get", "pod", "-n", TEAM, client(pc), "-o", "jsonpath={.status.podIP}")

    def logged() -> list[dict[str, Any]]:
        logs = pc.kubectl("logs", "-n", NS, "-l", "app.kubernetes.io/component=gateway", "--tail=300")
        lines = (json.loads(line) for line in logs.splitlines() if line.startswith("{"))
        return [
            line
            for line in lines
            if line.get("originalHost") == ROUTE_HOST and line.get("originalPath") == "/xff-probe"
        ]

    lines = wait_for(logged, timeout=10, what="the gateway's access log lines")
    assert {line["client"] for line in lines} == {pod_ip}, lines[-1]


def test_a_deleted_token_is_refused_through_traefik_within_two_seconds(pc: PodCluster) -> None:
    first_200(pc, GATEWAY_HOST)
    headers = {"CF-Access-Client-Id": secret(pc, "CF_ACCESS_CLIENT_ID"),
               "CF-Access-Client-Secret": secret(pc, "CF_ACCESS_CLIENT_SECRET")}  # fmt: skip
    stream = subprocess.Popen(
        [str(pc.cluster.bindir / "localcluster"), "kubectl", f"--kubeconfig={pc.cluster.kubeconfig}",
         "exec", "-n", TEAM, client(pc), "--", "python3", "-c", STREAM, traefik.SERVICE_URL + "/",
         GATEWAY_HOST, json.dumps(headers), "8"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)
    deleted_at = time.time()
    pc.kubectl("delete", "st", "ci-bot", "-n", TEAM, "--wait=false")
    out, _ = stream.communicate(timeout=60)
    answers = [(float(t), int(s)) for t, s in (line.split() for line in out.splitlines())]
    before = [s for t, s in answers if t < deleted_at]
    assert before, answers[:5]
    assert set(before) == {200}, before[:10]
    refused = [t for t, s in answers if t >= deleted_at and s == 401]
    assert refused, answers[-5:]
    print(f"refused {refused[0] - deleted_at:.2f}s after the delete")
    assert refused[0] - deleted_at < 2.0
    assert all(s == 401 for t, s in answers if t >= refused[0])
