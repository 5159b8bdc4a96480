"""Upgrading from the last release, as a user does it: gatepass 0.2.0 installed by its own
chart (from the tag) and image (built from the tag's Dockerfile and uv.lock), a day's use
of it (tokens, a consumer mounting its Secret, sessions, applications), then `helm upgrade`
to this tree's chart and image with the same values file (no --reuse-values).

What must hold across it: the CRDs are the new ones, every token keeps its Client ID and
secret (nothing reissued, no Secret rewritten), a session minted by 0.2.0 still opens its
application, the mounted Secret still works, every application keeps its aud. What
changes on purpose is asserted as the CHANGELOG's Migrating section says it: a
ServiceAccount token must name its application, a token's rate limit holds per
application, the last-seen report moves into the shards, the signing-key Secret gains
a finalizer.

The released image is loaded as ``<repository>:0.2.0-released`` (this tree may carry the
same version, hence the same default tag) and the 0.2.0 install points at it with
``--set image.tag``: a stand-in for the registry's 0.2.0. The upgrade itself is the user's
command exactly. One cluster of its own (the chart owns the CRDs); the tests run in file
order and build on each other.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from gatepass.contract import LAST_SEEN_SHARDS
from tests.support.cluster import ROOT, localcluster
from tests.support.pods import (
    CALL,
    GATEWAY_URL,
    NS,
    PodCluster,
    as_test_image,
    origin_and_consumer,
    pod_cluster,
)
from tests.support.waiting import wait_for

sys.path.insert(0, str(ROOT / "tools"))

import image

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local" or not localcluster.node_wanted(),
        reason="needs the local node (GATEPASS_NODE=1, the default)",
    ),
    pytest.mark.soak,  # minutes, and a cluster of its own: make soak
]

# The last release. When the next one is tagged, the test moves to it, and the checks of what
# 0.2.0 did differently (marked "0.2.0" below) go with the CHANGELOG entries they prove.
RELEASE = "v0.2.0"
CHART = str(ROOT / "charts" / "gatepass")
TEAM = "team-a"
ISSUER = "https://access.upgrade.example"
# A user's values file (kept in git): the same file for the install and the upgrade.
VALUES = f"""
gateway:
  issuer: {ISSUER}
  replicas: 2
operator:
  keyRotation: 720h
  inactivity:
    after: 2160h
    action: disable
"""
HOST, BILLING, PODS_HOST = "reports.example.com", "billing.example.com", "reports-internal.example.com"
UPSTREAM = f"http://reports.{TEAM}.svc.cluster.local:8080"
SECRET_FILE = "/var/run/gatepass/CF_ACCESS_CLIENT_SECRET"
FROM_SECRET = {
    "CF-Access-Client-Id": "@env:CF_ACCESS_CLIENT_ID",
    "CF-Access-Client-Secret": f"@file:{SECRET_FILE}",
}
TOKENS = ("ci-bot", "limited", "idle")
APPS = ("reports", "billing", "reports-for-pods")
# The records that say which credentials a token has: none may move.
# "seal" too: 0.2's seal is written unchanged beside the new sealV2, so replicas of either
# release verify every record while the rollout mixes them.
CREDENTIAL_FIELDS = ("clientId", "secretHash", "createdAt", "expiresAt", "refreshedAt", "rotatedAt",
                     "reissuedAt", "previousSecretHash", "pendingSecretHash", "seal")  # fmt: skip
# A pod's projected ServiceAccount tokens: 0.2's audience (the bare issuer, as its example
# had it) and, added before the upgrade as the CHANGELOG advises, the application's.
BARE, NAMED = "/var/run/secrets/gatepass/token", "/var/run/secrets/gatepass/token-app"
PROBE_TOKEN = {
    "apiVersion": "gatepass.dev/v1alpha1",
    "kind": "ServiceToken",
    "metadata": {"name": "probe"},
    "spec": {"rateLimit": {"requestsPerSecond": 5, "scope": "Token"}},
}


@dataclass
class Before:
    """What the 0.2.0 installation held, recorded just before the upgrade."""

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> status
    generations: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Secret
    auds: dict[str, str] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)  # the signing-key Secret
    kids: set[str] = field(default_factory=set)
    events: list[tuple[str, str, str, int]] = field(default_factory=list)
    cookie: str = ""
    consumer_uid: str = ""
    image_ids: set[str] = field(default_factory=set)
    last_seen: dict[str, str] = field(default_factory=dict)


@dataclass
class Upgrade:
    pc: PodCluster
    released_image: str
    released_tree: Path  # the chart and examples of the release
    values: Path
    before: Before = field(default_factory=Before)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgrade]:
    tmp = tmp_path_factory.mktemp("upgrade")
    archive, released = image.build_release(RELEASE)  # before the cluster: cold, it takes a while
    tree = image.export_tree(image.release_commit(RELEASE), tmp / "released", "charts/gatepass", "examples")
    values = tmp / "values.yaml"
    values.write_text(VALUES)
    with pod_cluster(tmp) as pc:
        assert pc.cluster.local_node is not None
        pc.cluster.local_node.import_image(archive, image.qualified(released))
        started = time.monotonic()
        # As released, with the user's file; only the image tag stands in for the registry's.
        pc.helm("install", "gatepass", str(tree / "charts" / "gatepass"), "-n", NS, "--create-namespace",
                "-f", str(values), "--set", f"image.tag={released.rsplit(':', 1)[1]}",
                "--wait", "--timeout", "180s")  # fmt: skip
        wait_for(
            lambda: pc.kubectl(
                "get", "deploy", "gatepass-gateway", "-n", NS, "--ignore-not-found", "-o", "name"
            ),
            timeout=60,
            what="the 0.2.0 operator to create the gateway",
        )
        pc.kubectl("rollout", "status", "deploy/gatepass-gateway", "-n", NS, "--timeout=120s")
        print(f"0.2.0 installed and its gateway available in {time.monotonic() - started:.0f}s")
        yield Upgrade(pc, released, tree, values)


# --- helpers -----------------------------------------------------------------------------


def get(pc: PodCluster, *what: str, namespace: str = TEAM) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(pc.kubectl("get", *what, "-n", namespace, "-o", "json"))
    return out


def pods(pc: PodCluster, component: str) -> list[dict[str, Any]]:
    """gatepass's pods of one component that are not on their way out."""
    items = get(pc, "pods", "-l", f"app.kubernetes.io/component={component}", namespace=NS)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def running_image_ids(pod: dict[str, Any]) -> set[str]:
    return {c.get("imageID", "") for c in pod["status"].get("containerStatuses") or []}


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


class PodEnd(threading.Thread):
    """Follows a pod until it is gone: how long after its deletion it ended."""

    def __init__(self, pc: PodCluster, name: str) -> None:
        super().__init__(daemon=True)
        self.pc, self.name = pc, name
        self.deleted: datetime | None = None
        self.ended: datetime | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                out = self.pc.kubectl("get", "pod", self.name, "-n", NS, "--ignore-not-found", "-o", "json")
            except AssertionError:  # the cluster went away (a test failed): seconds() says so
                return
            if not out.strip():
                self.ended = datetime.now(UTC)
                return
            meta = json.loads(out)["metadata"]
            if self.deleted is None and (when := meta.get("deletionTimestamp")):
                # deletionTimestamp is when the grace period ends
                grace = timedelta(seconds=meta["deletionGracePeriodSeconds"])
                self.deleted = datetime.fromisoformat(when) - grace
            time.sleep(0.5)

    def seconds(self) -> float:
        self.join(timeout=90)
        assert self.deleted is not None, "never seen deleted"
        assert self.ended is not None, "still there"
        return (self.ended - self.deleted).total_seconds()


def consumer(pc: PodCluster) -> dict[str, Any]:
    """The pod of examples/consumer-deployment.yaml (ci-bot's Secret in its environment and as files)."""
    pods: list[dict[str, Any]] = get(pc, "pods", "-l", "app=reporter")["items"]
    (pod,) = pods
    return pod


def reader(pc: PodCluster) -> str:
    (pod,) = get(pc, "pods", "-l", "app=reports-reader")["items"]
    name: str = pod["metadata"]["name"]
    return name


def secret_data(pc: PodCluster, name: str) -> dict[str, str]:
    data = get(pc, "secret", name)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def credentials(pc: PodCluster, secret: str) -> dict[str, str]:
    """The headers a client sends, from a token's Secret."""
    data = secret_data(pc, secret)
    return {"CF-Access-Client-Id": data["CF_ACCESS_CLIENT_ID"],
            "CF-Access-Client-Secret": data["CF_ACCESS_CLIENT_SECRET"]}  # fmt: skip


def call_pod(pc: PodCluster, gateway: dict[str, Any], host: str, headers: dict[str, str]) -> dict[str, Any]:
    """One request from the consumer pod to one gateway pod (by its address, not the Service:
    rate limits and sessions are checked replica by replica)."""
    url = f"http://{gateway['status']['podIP']}:8000/"
    out = pc.exec_python(TEAM, consumer(pc)["metadata"]["name"], CALL, url, host, json.dumps(headers))
    result: dict[str, Any] = json.loads(out)
    return result


def statuses(
    pc: PodCluster, gateway: dict[str, Any], host: str, headers: dict[str, str], n: int
) -> list[int]:
    return [call_pod(pc, gateway, host, headers)["status"] for _ in range(n)]


def token_events(pc: PodCluster) -> list[tuple[str, str, str, int]]:
    items = get(pc, "events")["items"]
    return sorted(
        (e["involvedObject"]["name"], e["reason"], e["message"], e.get("count") or 1)
        for e in items
        if e["involvedObject"]["kind"] == "ServiceToken"
    )


def dry_run_probe(pc: PodCluster) -> dict[str, Any]:
    """The API server's answer to a ServiceToken with a field only the new CRD has."""
    out = pc.kubectl("create", "--dry-run=server", "-n", TEAM, "-o", "json", "-f", "-",
                     stdin=yaml.safe_dump(PROBE_TOKEN))  # fmt: skip
    rate: dict[str, Any] = json.loads(out)["spec"]["rateLimit"]
    return rate


def kids(pc: PodCluster) -> set[str]:
    """The signing keys the gateway publishes."""
    certs = GATEWAY_URL + "/cdn-cgi/access/certs"
    out = pc.exec_python(TEAM, consumer(pc)["metadata"]["name"], CALL, certs, HOST)
    return {k["kid"] for k in json.loads(json.loads(out)["body"])["keys"]}


def operator_metrics(pc: PodCluster) -> str:
    url = f"http://gatepass-operator-metrics.{NS}.svc.cluster.local:9090/metrics"
    out = pc.exec_python(TEAM, consumer(pc)["metadata"]["name"], CALL, url, "operator")
    answer = json.loads(out)
    assert answer["status"] == 200, answer
    body: str = answer["body"]
    return body


def last_seen(pc: PodCluster) -> dict[str, dict[str, str]]:
    """The last-seen ConfigMaps (0.2's single one and the shards): name -> data."""
    items = get(pc, "configmaps", "-l", "gatepass.dev/last-seen", namespace=NS)["items"]
    legacy = get(pc, "configmap", "gatepass-last-seen", namespace=NS)
    return {cm["metadata"]["name"]: cm.get("data") or {} for cm in [*items, legacy]}


# Beside examples/servicetoken.yaml (ci-bot) and examples/accessapplication.yaml (reports):
# a token with a rate limit that reaches two applications, and one not used before the upgrade.
MORE = f"""
apiVersion: gatepass.dev/v1alpha1
kind: ServiceToken
metadata: {{name: limited}}
spec:
  duration: 720h
  rateLimit: {{requestsPerSecond: 0.001, burst: 2}}
---
apiVersion: gatepass.dev/v1alpha1
kind: ServiceToken
metadata: {{name: idle}}
spec: {{duration: forever, secretName: idle-credentials}}
---
apiVersion: gatepass.dev/v1alpha1
kind: AccessApplication
metadata: {{name: billing}}
spec:
  hosts: [{BILLING}]
  upstream: {UPSTREAM}
  policies:
    - name: limited
      decision: serviceAuth
      include: [{{serviceToken: {{name: limited}}}}, {{serviceToken: {{name: idle}}}}]
"""


def workloads(image_name: str, released: Path) -> list[dict[str, Any]]:
    """The team's objects, from 0.2.0's examples: three tokens (ci-bot mounted by the
    consumer), three applications, the origin, the consumer, and a pod calling by its
    ServiceAccount (examples/workload-identity.yaml, one more audience projected)."""
    ci_bot = yaml.safe_load((released / "examples" / "servicetoken.yaml").read_text())
    reports = yaml.safe_load((released / "examples" / "accessapplication.yaml").read_text())
    reports["spec"]["upstream"] = UPSTREAM
    reports["spec"]["policies"][0]["include"].append({"serviceToken": {"name": "limited"}})
    example = (released / "examples" / "workload-identity.yaml").read_text()
    account, for_pods, deploy = yaml.safe_load_all(example)
    for_pods["spec"]["upstream"] = UPSTREAM
    assert (for_pods["metadata"]["name"], for_pods["spec"]["hosts"]) == ("reports-for-pods", [PODS_HOST])
    sources = deploy["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"]
    sources[0]["serviceAccountToken"]["audience"] = ISSUER  # "the chart's gateway.issuer", as it says
    named = {"audience": f"{ISSUER}/reports-for-pods", "expirationSeconds": 3600, "path": "token-app"}
    sources.append({"serviceAccountToken": named})
    return [
        ci_bot,
        reports,
        *yaml.safe_load_all(MORE),
        account,
        for_pods,
        *origin_and_consumer(image_name),
        as_test_image(deploy, image_name),
    ]


# --- the tests, in the order of a user's day ---------------------------------------------


def test_0_2_0_as_released_serves_tokens_sessions_and_applications(up: Upgrade) -> None:
    pc, before = up.pc, up.before
    for pod in [*pods(pc, "operator"), *pods(pc, "gateway")]:
        assert pod["spec"]["containers"][0]["image"] == up.released_image
        before.image_ids |= running_image_ids(pod)
    pc.kubectl("create", "namespace", TEAM)
    pc.apply(*workloads(pc.image, up.released_tree), namespace=TEAM)
    for deploy in ("reports", "reporter", "reports-reader"):
        pc.kubectl("rollout", "status", f"deploy/{deploy}", "-n", TEAM, "--timeout=120s")
    me = consumer(pc)["metadata"]["name"]

    # A session, through the Service, with the mounted secret: the 0.2.0 cookie kept for later.
    answer = wait_for(
        lambda: (a := pc.call(TEAM, me, HOST, FROM_SECRET))["status"] == 200 and a,
        timeout=60,
        interval=1,
        what="a 200 from the 0.2.0 gateway",
    )
    before.cookie = next(c.split(";")[0] for c in answer["set_cookie"] if c.startswith("CF_Authorization="))
    assert pc.call(TEAM, me, HOST, {"Cookie": before.cookie})["status"] == 200

    # 0.2.0's rate limit: one bucket for the token, across applications.
    gateway = pods(pc, "gateway")[0]
    limited = credentials(pc, "limited")
    wait_for(lambda: call_pod(pc, gateway, BILLING, {"Cookie": "x=y"})["status"] == 401, timeout=30,
             interval=1, what="the gateway to know billing")  # fmt: skip
    assert statuses(pc, gateway, HOST, limited, 3) == [200, 200, 429]
    assert statuses(pc, gateway, BILLING, limited, 1) == [429]

    # 0.2.0 takes a ServiceAccount token whose audience is the issuer, not the application's.
    bare, named = ({"Authorization": f"@bearer-file:{path}"} for path in (BARE, NAMED))
    wait_for(lambda: pc.call(TEAM, reader(pc), PODS_HOST, bare)["status"] == 200, timeout=60, interval=1,
             what="the 0.2.0 gateway to admit the pod's ServiceAccount token")  # fmt: skip
    assert pc.call(TEAM, reader(pc), PODS_HOST, named)["status"] == 401

    # 0.2.0's CRD has no spec.rateLimit.scope (kubectl validates fields strictly).
    with pytest.raises(AssertionError, match=r'unknown field "spec\.rateLimit\.scope"'):
        dry_run_probe(pc)
    before.kids = kids(pc)
    assert before.kids

    # The gateway reports uses to 0.2.0's single ConfigMap (every 60 s); the operator copies them.
    wait_for(lambda: "lastSeenAt" in get(pc, "st", "ci-bot").get("status", {}), timeout=90, interval=2,
             what="the 0.2.0 last-seen report of ci-bot")  # fmt: skip
    before.last_seen = last_seen(pc)["gatepass-last-seen"]
    assert f"{TEAM}.ci-bot" in before.last_seen

    for name in TOKENS:
        token = get(pc, "st", name)
        before.tokens[name] = token["status"]
        before.generations[name] = token["metadata"]["generation"]
        assert token["status"]["clientId"].endswith(".access")
        secret = token["spec"].get("secretName", name)
        before.secrets[name] = get(pc, "secret", secret)
    for name in APPS:
        before.auds[name] = get(pc, "accessapp", name)["status"]["aud"]
    claims = jwt.decode(before.cookie.split("=", 1)[1], options={"verify_signature": False})
    assert claims["aud"] == [before.auds["reports"]] or claims["aud"] == before.auds["reports"]
    before.keys = get(pc, "secret", "gatepass-signing-keys", namespace=NS)
    before.events = token_events(pc)
    assert {(n, r) for n, r, _, _ in before.events} >= {(n, "Issued") for n in TOKENS}
    before.consumer_uid = consumer(pc)["metadata"]["uid"]


def test_helm_upgrade_with_the_same_values_file_runs_this_trees_image(up: Upgrade) -> None:
    pc = up.pc
    (old_operator,) = pods(pc, "operator")
    old_operator_end = PodEnd(pc, old_operator["metadata"]["name"])
    old_operator_end.start()
    started = time.monotonic()
    pc.helm("upgrade", "gatepass", CHART, "-n", NS, "-f", str(up.values), "--wait", "--timeout", "180s")
    helm_done = time.monotonic() - started

    def rolled_out() -> bool:
        gateways, operators = pods(pc, "gateway"), pods(pc, "operator")
        return (
            len(gateways) == 2
            and len(operators) == 1
            and all(
                p["spec"]["containers"][0]["image"] == pc.image and ready(p) for p in gateways + operators
            )
        )

    wait_for(rolled_out, timeout=150, interval=1, what="every gatepass pod on the new image and ready")
    pc.kubectl("rollout", "status", "deploy/gatepass-gateway", "-n", NS, "--timeout=120s")
    print(f"helm upgrade --wait {helm_done:.0f}s, every pod replaced {time.monotonic() - started:.0f}s")
    for pod in [*pods(pc, "operator"), *pods(pc, "gateway")]:
        assert running_image_ids(pod).isdisjoint(up.before.image_ids), pod["metadata"]["name"]
    # The 0.2.0 operator stopped by itself: it could still take itself out of kopf's peering
    # (not killed at the end of its 30 s grace, retrying a PATCH the new RBAC forbade).
    stopped = old_operator_end.seconds()
    print(f"the 0.2.0 operator pod ended {stopped:.0f}s after its deletion")
    assert stopped < 20
    # Documented: readiness is /readyz; one operator writes, the holder of a Lease (not kopf peering).
    (operator,) = get(pc, "deploy", "gatepass-operator", namespace=NS)["spec"]["template"]["spec"][
        "containers"
    ]
    assert operator["readinessProbe"]["httpGet"]["path"] == "/readyz"
    (running,) = pods(pc, "operator")
    wait_for(
        lambda: get(pc, "lease", "gatepass-operator", namespace=NS)["spec"]["holderIdentity"].startswith(
            running["metadata"]["name"] + "_"
        ),
        timeout=30,
        what="the new operator to hold the leader Lease",
    )


def test_the_crds_are_the_new_ones(up: Upgrade) -> None:
    pc = up.pc
    assert dry_run_probe(pc)["scope"] == "Token"
    # A stored 0.2.0 token reads with the new default, and its spec did not change.
    token = get(pc, "st", "limited")
    assert token["spec"]["rateLimit"]["scope"] == "Application"
    assert token["metadata"]["generation"] == up.before.generations["limited"]


def test_no_token_is_reissued_and_no_secret_rewritten(up: Upgrade) -> None:
    pc, before = up.pc, up.before

    # The new operator has looked at every token (a fresh process: the gauge is set by a
    # reconcile) and written no credentials.
    ready = [f'gatepass_service_token_ready{{name="{n}",namespace="{TEAM}"}} 1.0' for n in TOKENS]
    wait_for(
        lambda: all(line in operator_metrics(pc) for line in ready),
        timeout=30,
        interval=1,
        what="the new operator to reconcile every token",
    )
    written = [line for line in operator_metrics(pc).splitlines()
               if line.startswith("gatepass_service_token_credentials_written_total{")]  # fmt: skip
    assert all(line.endswith(" 0.0") for line in written), written
    for name in TOKENS:
        status = get(pc, "st", name)["status"]
        was = before.tokens[name]
        assert {k: status.get(k) for k in CREDENTIAL_FIELDS} == {k: was.get(k) for k in CREDENTIAL_FIELDS}, (
            name
        )
        assert "sealV2" not in was, name
        assert status.get("sealV2", "").startswith("v2."), name
        secret = get(pc, "secret", before.secrets[name]["metadata"]["name"])
        assert secret["data"] == before.secrets[name]["data"], name
        assert secret["metadata"]["resourceVersion"] == before.secrets[name]["metadata"]["resourceVersion"], (
            name
        )
    assert token_events(pc) == before.events  # no Issued, Rotated, CredentialsReissued, UntrustedStatus
    for name, aud in before.auds.items():
        assert get(pc, "accessapp", name)["status"]["aud"] == aud, name
    # The signing keys are the same; the Secret gains the documented finalizer.
    keys = get(pc, "secret", "gatepass-signing-keys", namespace=NS)
    assert keys["data"] == before.keys["data"]
    assert "gatepass.dev/keep-keys" in keys["metadata"].get("finalizers", [])


def test_a_session_from_0_2_0_opens_its_application_at_every_new_replica(up: Upgrade) -> None:
    pc, before = up.pc, up.before
    assert kids(pc) == before.kids
    gateways = pods(pc, "gateway")
    assert len(gateways) == 2
    for gateway in gateways:
        answer = call_pod(pc, gateway, HOST, {"Cookie": before.cookie})
        assert answer["status"] == 200, (gateway["metadata"]["name"], answer)
        assert json.loads(answer["body"])["cf-access-jwt-assertion"] == before.cookie.split("=", 1)[1]
        # ...and only there: its aud is the application's.
        assert call_pod(pc, gateway, BILLING, {"Cookie": before.cookie})["status"] == 401
    assert pc.call(TEAM, consumer(pc)["metadata"]["name"], HOST, {"Cookie": before.cookie})["status"] == 200


def test_the_consumer_keeps_working_with_its_mounted_secret(up: Upgrade) -> None:
    pc, before = up.pc, up.before
    pod = consumer(pc)
    assert pod["metadata"]["uid"] == before.consumer_uid  # not restarted: nothing asked it to
    assert all(c["restartCount"] == 0 for c in pod["status"]["containerStatuses"])
    me = pod["metadata"]["name"]
    mounted = pc.kubectl("exec", "-n", TEAM, me, "--", "cat", SECRET_FILE)
    recorded = base64.b64decode(before.secrets["ci-bot"]["data"]["CF_ACCESS_CLIENT_SECRET"]).decode()
    assert mounted.strip() == recorded
    answer = pc.call(TEAM, me, HOST, FROM_SECRET)
    assert answer["status"] == 200, answer
    claims = jwt.decode(
        json.loads(answer["body"])["cf-access-jwt-assertion"], options={"verify_signature": False}
    )
    assert claims["common_name"] == before.tokens["ci-bot"]["clientId"]
    # A token first used now works too, from its own Secret.
    assert pc.call(TEAM, me, BILLING, credentials(pc, "idle-credentials"))["status"] == 200


def test_a_token_rate_limit_now_holds_per_application(up: Upgrade) -> None:
    """Documented change: one bucket per application the token reaches (0.2.0: one for all,
    shown before the upgrade); spec.rateLimit.scope: Token asks for the old way."""
    pc = up.pc
    gateway = pods(pc, "gateway")[0]
    limited = credentials(pc, "limited")
    assert statuses(pc, gateway, HOST, limited, 3) == [200, 200, 429]
    assert statuses(pc, gateway, BILLING, limited, 1) == [200]


def test_a_service_account_token_must_now_name_its_application(up: Upgrade) -> None:
    """Documented change: the bare-issuer audience 0.2.0 took is now wrong_audience; the pod
    that also projected `<issuer>/<application>` before the upgrade goes on without a gap."""
    pc = up.pc
    bare = pc.call(TEAM, reader(pc), PODS_HOST, {"Authorization": f"@bearer-file:{BARE}"})
    assert (bare["status"], json.loads(bare["body"])) == (401, {"error": "wrong_audience"})
    named = pc.call(TEAM, reader(pc), PODS_HOST, {"Authorization": f"@bearer-file:{NAMED}"})
    assert named["status"] == 200, named


def test_the_last_seen_report_moves_into_the_shards(up: Upgrade) -> None:
    """Documented change: the operator moves 0.2.0's single ConfigMap into the shards and
    empties it; no token's last use is lost."""
    pc, before = up.pc, up.before
    reports = wait_for(
        lambda: not (r := last_seen(pc))["gatepass-last-seen"] and r,
        timeout=60,
        interval=2,
        what="0.2.0's last-seen ConfigMap emptied",
    )
    shards = {k: v for name, data in reports.items() if name != "gatepass-last-seen" for k, v in data.items()}
    assert len(reports) == 1 + LAST_SEEN_SHARDS
    key = f"{TEAM}.ci-bot"
    assert shards[key].split()[0] >= before.last_seen[key].split()[0]
    assert get(pc, "st", "ci-bot")["status"]["lastSeenAt"] >= before.tokens["ci-bot"]["lastSeenAt"]
