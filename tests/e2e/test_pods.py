"""gatepass as users run it: `helm install` with no --set, the operator and the gateway
as pods from the image the Dockerfile builds, workloads that mount their Secret and
call an application through the gateway's Service by DNS name.

One cluster of its own for the module (the chart owns the CRDs, so it cannot share
the session cluster, whose CRDs the process-mode tests installed). The tests run in
file order and build on each other, as a user's day does.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import yaml

from tests.support.cluster import ROOT, localcluster
from tests.support.pods import (
    DETACHED,
    GATEWAY_URL,
    KEEPALIVE_STREAM,
    NS,
    STREAM,
    PodCluster,
    as_test_image,
    origin_and_consumer,
    pod_cluster,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local" or not localcluster.node_wanted(),
    reason="needs the local node (GATEPASS_NODE=1, the default)",
)

CHART = str(ROOT / "charts" / "gatepass")
TEAM = "team-a"
HOST = "reports.example.com"
SECRET_FILE = "/var/run/gatepass/CF_ACCESS_CLIENT_SECRET"
FROM_SECRET = {
    "CF-Access-Client-Id": "@env:CF_ACCESS_CLIENT_ID",
    "CF-Access-Client-Secret": f"@file:{SECRET_FILE}",
}


@pytest.fixture(scope="module")
def pc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodCluster]:
    with pod_cluster(tmp_path_factory.mktemp("pods")) as pc:
        # Exactly the README's command: no --set.
        pc.helm("install", "gatepass", CHART, "-n", NS, "--create-namespace", "--wait", "--timeout", "180s")
        yield pc


def consumer_pod(pc: PodCluster) -> str:
    return pc.kubectl(
        "get", "pod", "-n", TEAM, "-l", "app=reporter", "-o", "jsonpath={.items[0].metadata.name}"
    )


def deploy_consumer(pc: PodCluster) -> None:
    """The examples' token and application, an origin, and a consumer pod mounting the Secret."""
    pc.kubectl("create", "namespace", TEAM)
    token = yaml.safe_load((ROOT / "examples" / "servicetoken.yaml").read_text())
    app = yaml.safe_load((ROOT / "examples" / "accessapplication.yaml").read_text())
    app["spec"]["upstream"] = f"http://reports.{TEAM}.svc.cluster.local:8080"
    pc.apply(token, app, *origin_and_consumer(pc.image), namespace=TEAM)
    for deploy in ("reports", "reporter"):
        pc.kubectl("rollout", "status", f"deploy/{deploy}", "-n", TEAM, "--timeout=120s")


def secret_value(pc: PodCluster, key: str = "CF_ACCESS_CLIENT_SECRET", name: str = "ci-bot") -> str:
    raw = pc.kubectl("get", "secret", name, "-n", TEAM, "-o", f"jsonpath={{.data.{key}}}")
    return base64.b64decode(raw).decode()


def first_200(pc: PodCluster, pod: str, host: str, headers: dict[str, str], what: str) -> dict[str, Any]:
    """The first 200 answer to the pod's request (the gateway learns of new objects by watch)."""
    answer: dict[str, Any] = wait_for(
        lambda: (a := pc.call(TEAM, pod, host, headers))["status"] == 200 and a,
        timeout=60,
        interval=1,
        what=what,
    )
    return answer


def test_helm_install_runs_the_operator_and_two_gateway_replicas_behind_the_service(pc: PodCluster) -> None:
    pods = json.loads(
        pc.kubectl("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=operator", "-o", "json")
    )
    (operator,) = pods["items"]
    assert {c["type"]: c["status"] for c in operator["status"]["conditions"]}["Ready"] == "True"
    # The operator makes the gateway Deployment; it must become Available with both replicas.
    wait_for(
        lambda: pc.kubectl("get", "deploy", "gatepass-gateway", "-n", NS, "--ignore-not-found", "-o", "name"),
        timeout=60,
        what="the gateway Deployment",
    )
    pc.kubectl("wait", "--for=condition=Available", "deploy/gatepass-gateway", "-n", NS, "--timeout=120s")

    def ready_endpoints() -> int:
        slices = json.loads(
            pc.kubectl("get", "endpointslices", "-n", NS, "-l", "kubernetes.io/service-name=gatepass-gateway",
                       "-o", "json")
        )  # fmt: skip
        return sum(
            1
            for s in slices["items"]
            for e in s.get("endpoints") or []
            if e.get("conditions", {}).get("ready")
        )

    wait_for(
        lambda: ready_endpoints() == 2, timeout=60, what="two ready endpoints behind the gateway Service"
    )
    dep = json.loads(pc.kubectl("get", "deploy", "gatepass-gateway", "-n", NS, "-o", "json"))
    assert dep["status"]["readyReplicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == pc.image


def test_a_consumer_reaches_the_upstream_through_the_gateway_service_with_its_mounted_secret(
    pc: PodCluster,
) -> None:
    deploy_consumer(pc)
    pod = consumer_pod(pc)
    secret = secret_value(pc)
    assert secret.startswith("gpst_")
    env = pc.kubectl("exec", "-n", TEAM, pod, "--", "python3", "-c",
                     "import os; print(os.environ['CF_ACCESS_CLIENT_ID'])")  # fmt: skip
    assert env.strip() == secret_value(pc, "CF_ACCESS_CLIENT_ID")

    answer = first_200(pc, pod, HOST, FROM_SECRET, "200 through the gateway")
    seen = json.loads(answer["body"])
    assert seen["cf-access-jwt-assertion"].count(".") == 2
    assert "cf-access-client-secret" not in seen
    assert secret not in answer["body"]
    cookie = next(c.split(";")[0] for c in answer["set_cookie"] if c.startswith("CF_Authorization="))

    # Later requests carry only the session cookie.
    again = pc.call(TEAM, pod, HOST, {"Cookie": cookie})
    assert again["status"] == 200, again
    assert json.loads(again["body"])["cf-access-jwt-assertion"]
    assert pc.call(TEAM, pod, HOST)["status"] in (401, 403)


def test_rotation_reaches_the_mounted_file_and_the_old_secret_works_only_during_the_grace(
    pc: PodCluster,
) -> None:
    pod = consumer_pod(pc)
    client_id = secret_value(pc, "CF_ACCESS_CLIENT_ID")
    old = secret_value(pc)
    grace = 25  # a rotation with a 1h grace, cut short at once to 25 s (kubectl gatepass end-grace --in)
    asked_at = time.monotonic()  # before the deadline is written: it has whole seconds (up to 1 s early)
    until = (datetime.now(UTC) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
    notes = ["gatepass.dev/rotate=first", "gatepass.dev/rotate-grace-period=1h",
             f"gatepass.dev/previous-secret-expires-at={until}"]  # fmt: skip
    pc.kubectl("annotate", "st", "ci-bot", "-n", TEAM, "--overwrite", *notes)
    rotated_at = time.monotonic()
    new = wait_for(lambda: (s := secret_value(pc)) != old and s, timeout=30, what="the Secret rotated")

    def mounted() -> str:
        return pc.kubectl("exec", "-n", TEAM, pod, "--", "cat", SECRET_FILE).strip()

    wait_for(lambda: mounted() == new, timeout=90, interval=1, what="the mounted file to show the new secret")
    print(f"mounted Secret updated {time.monotonic() - rotated_at:.1f}s after the rotation")
    assert pc.call(TEAM, pod, HOST, FROM_SECRET)["status"] == 200
    old_headers = {"CF-Access-Client-Id": client_id, "CF-Access-Client-Secret": old}
    if time.monotonic() - rotated_at < grace - 3:
        assert pc.call(TEAM, pod, HOST, old_headers)["status"] == 200, "old secret refused during the grace"
    wait_for(
        lambda: pc.call(TEAM, pod, HOST, old_headers)["status"] == 401,
        timeout=grace + 30,
        interval=1,
        what="the old secret refused after the grace",
    )
    # Never refused before its deadline: the deadline has whole seconds, so it falls up to 1 s
    # before asked_at + grace (rotated_at is after the annotate returned: not a lower bound).
    assert time.monotonic() - asked_at >= grace - 1
    assert pc.call(TEAM, pod, HOST, FROM_SECRET)["status"] == 200


def _stream(pc: PodCluster, seconds: float) -> subprocess.Popen[str]:
    """Requests from the consumer pod for ``seconds``, with its own credentials (the
    secret read from its mounted file)."""
    headers = {
        "CF-Access-Client-Id": secret_value(pc, "CF_ACCESS_CLIENT_ID"),
        "CF-Access-Client-Secret": f"@file:{SECRET_FILE}",
    }
    return subprocess.Popen(
        [str(pc.cluster.bindir / "localcluster"), "kubectl", f"--kubeconfig={pc.cluster.kubeconfig}",
         "exec", "-n", TEAM, consumer_pod(pc), "--", "python3", "-c", STREAM, GATEWAY_URL + "/", HOST,
         json.dumps(headers), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _answers(proc: subprocess.Popen[str]) -> list[tuple[float, int]]:
    out, _ = proc.communicate(timeout=120)
    return [(float(t), int(s)) for t, s in (line.split() for line in out.splitlines() if line.strip())]


def test_a_gateway_pod_killed_under_load_leaves_the_other_replica_answering(pc: PodCluster) -> None:
    stream = _stream(pc, 16)
    time.sleep(4)
    victim = pc.kubectl("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=gateway",
                        "-o", "jsonpath={.items[0].metadata.name}")  # fmt: skip
    killed_at = time.time()  # (pods share the machine's clock)
    pc.kubectl("delete", "pod", victim, "-n", NS, "--grace-period=0", "--force")
    answers = _answers(stream)
    statuses = [s for _, s in answers]
    assert len(statuses) > 50, statuses
    assert not [s for s in statuses if s >= 500], statuses
    # Only requests in flight to the killed pod, or sent before kube-proxy dropped its
    # endpoint, may fail: a blip right after the kill, then the other replica answers all.
    # (A request's time is when its answer came: one sent to the dead pod may wait out
    # its 5 s timeout.)
    failed = [t for t, s in answers if s != 200]
    assert all(killed_at - 1 <= t <= killed_at + 6 for t in failed), (killed_at, answers)
    assert len(failed) <= len(statuses) // 10, failed
    after = [s for t, s in answers if t > killed_at + 6]
    assert after, answers[-5:]
    assert set(after) == {200}, after
    pc.kubectl("wait", "--for=condition=Available", "deploy/gatepass-gateway", "-n", NS, "--timeout=120s")


def _keepalive_stream(pc: PodCluster, seconds: float, connections: int = 4) -> str:
    """Start KEEPALIVE_STREAM in the consumer pod, detached; the file it writes to."""
    headers = {
        "CF-Access-Client-Id": secret_value(pc, "CF_ACCESS_CLIENT_ID"),
        "CF-Access-Client-Secret": f"@file:{SECRET_FILE}",
    }
    out = f"/dev/shm/keepalive-{time.monotonic_ns()}.out"  # the root filesystem is read-only
    script = [
        "-c",
        KEEPALIVE_STREAM,
        GATEWAY_URL + "/",
        HOST,
        json.dumps(headers),
        str(seconds),
        str(connections),
    ]
    pc.kubectl("exec", "-n", TEAM, consumer_pod(pc), "--", "python3", "-c", DETACHED, out, *script)
    return out


def _stream_result(pc: PodCluster, out: str, timeout: float) -> list[tuple[float, str]]:
    """(time, status or the name of a connection error) per answer, once the stream has ended."""

    def ended() -> str | None:
        text = pc.kubectl("exec", "-n", TEAM, consumer_pod(pc), "--", "cat", out, check=False)
        return text if text.rstrip().endswith("done") else None

    text = wait_for(ended, timeout=timeout, interval=2, what="the stream's end")
    lines = (line.split() for line in text.splitlines() if line.strip() and line.strip() != "done")
    return [(float(t), s) for t, s in lines]


def _gateway_pods(pc: PodCluster) -> set[str]:
    out = pc.kubectl("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=gateway",
                     "-o", "jsonpath={.items[*].metadata.name}")  # fmt: skip
    return set(out.split())


@pytest.mark.soak
def test_a_rollout_and_a_normal_pod_delete_drop_no_request(pc: PodCluster) -> None:
    """Keep-alive clients through the gateway Service while `helm upgrade` changes a gateway
    setting (a new ReplicaSet replaces both pods) and while a gateway pod is deleted the
    normal way: zero failed requests, zero connection errors (the pods drain on SIGTERM)."""
    if not pc.kubectl("get", "namespace", TEAM, "--ignore-not-found", "-o", "name"):
        deploy_consumer(pc)  # run alone (make soak): what the earlier tests set up
    first_200(pc, consumer_pod(pc), HOST, FROM_SECRET, "the consumer served")
    before = _gateway_pods(pc)
    seconds = 150
    stream = _keepalive_stream(pc, seconds)
    time.sleep(3)
    started = time.time()
    # The values a user keeps in a file, one gateway setting changed (no --reuse-values).
    pc.helm(
        "upgrade",
        "gatepass",
        CHART,
        "-n",
        NS,
        "--set",
        "gateway.drainSeconds=8",
        "--wait",
        "--timeout",
        "180s",
    )
    wait_for(
        lambda: not (_gateway_pods(pc) & before) and len(_gateway_pods(pc)) == 2,
        timeout=120,
        interval=1,
        what="every gateway pod replaced by the rollout",
    )
    pc.kubectl("rollout", "status", "deploy/gatepass-gateway", "-n", NS, "--timeout=120s")
    rolled = time.time() - started
    one = sorted(_gateway_pods(pc))[0]
    pc.kubectl("delete", "pod", one, "-n", NS, "--wait=false")  # a normal delete: SIGTERM, grace
    deleted = time.time() - started
    answers = _stream_result(pc, stream, timeout=seconds + 30)  # past the drain and exit of the deleted pod
    print(
        f"{len(answers)} requests over 4 keep-alive connections: "
        f"rollout {rolled:.0f}s, pod deleted at {deleted:.0f}s"
    )
    assert deleted + 3 + 25 < seconds, "the stream ended too soon to cover the delete"
    assert len(answers) > 500, answers[-5:]
    failed = [(t, s) for t, s in answers if s != "200"]
    assert not failed, failed[:10]
    pc.kubectl("wait", "--for=condition=Available", "deploy/gatepass-gateway", "-n", NS, "--timeout=120s")


def test_deleting_the_token_refuses_its_client_within_a_second(pc: PodCluster) -> None:
    stream = _stream(pc, 8)
    time.sleep(3)
    deleted_at = time.time()
    pc.kubectl("delete", "st", "ci-bot", "-n", TEAM, "--wait=false")
    answers = _answers(stream)
    before = [s for t, s in answers if t < deleted_at]
    assert before, answers[:5]
    assert set(before) == {200}, before
    refused = [t for t, s in answers if t >= deleted_at and s == 401]
    assert refused, answers[-5:]
    assert refused[0] - deleted_at < 1.0
    assert all(s == 401 for t, s in answers if t >= refused[0])


def test_a_killed_operator_pod_comes_back_and_issues_a_token_created_meanwhile(pc: PodCluster) -> None:
    selector = "app.kubernetes.io/component=operator"
    victim = pc.kubectl("get", "pods", "-n", NS, "-l", selector, "-o", "jsonpath={.items[0].metadata.name}")
    pc.kubectl("delete", "pod", victim, "-n", NS, "--grace-period=0", "--force")
    token: dict[str, Any] = {
        "apiVersion": "gatepass.dev/v1alpha1",
        "kind": "ServiceToken",
        "metadata": {"name": "meanwhile"},
        "spec": {"duration": "24h"},
    }
    pc.apply(token, namespace=TEAM)
    started = time.monotonic()
    wait_for(
        lambda: pc.kubectl("get", "secret", "meanwhile", "-n", TEAM, "--ignore-not-found", "-o", "name"),
        timeout=150,
        interval=1,
        what="the token created while the operator was down to be issued",
    )
    print(f"token issued {time.monotonic() - started:.1f}s after the operator pod was killed")
    status = json.loads(pc.kubectl("get", "st", "meanwhile", "-n", TEAM, "-o", "json"))["status"]
    assert status["clientId"].endswith(".access")
    new = pc.kubectl("get", "pods", "-n", NS, "-l", selector, "-o", "jsonpath={.items[0].metadata.name}")
    assert new != victim


@pytest.mark.soak
def test_two_operator_replicas_one_writes_and_the_standby_takes_over(pc: PodCluster) -> None:
    """operator.replicas: 2. The lease holder is deleted the normal way; a token created right
    after is issued by the standby within seconds, exactly once."""
    if not pc.kubectl("get", "namespace", TEAM, "--ignore-not-found", "-o", "name"):
        pc.kubectl("create", "namespace", TEAM)
    pc.helm(
        "upgrade", "gatepass", CHART, "-n", NS, "--set", "operator.replicas=2", "--wait", "--timeout", "180s"
    )
    selector = "app.kubernetes.io/component=operator"

    def holder() -> str:
        return pc.kubectl("get", "lease", "gatepass-operator", "-n", NS, "--ignore-not-found",
                          "-o", "jsonpath={.spec.holderIdentity}")  # fmt: skip

    def operators() -> list[str]:
        out = pc.kubectl("get", "pods", "-n", NS, "-l", selector, "-o", "jsonpath={.items[*].metadata.name}")
        return out.split()

    # (an upgrade that changed the operator's template leaves the old pods terminating a while)
    wait_for(lambda: len(operators()) == 2, timeout=120, interval=1, what="exactly two operator pods")
    first = wait_for(lambda: (h := holder()) and h.rsplit("_", 1)[0] in operators() and h, timeout=60,
                     what="a lease holder among them")  # fmt: skip
    active = first.rsplit("_", 1)[0]  # <pod name>_<suffix>
    pc.kubectl("delete", "pod", active, "-n", NS, "--wait=false")
    token = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "ServiceToken", "metadata": {"name": "failover"}}
    pc.apply(token, namespace=TEAM)
    started = time.monotonic()
    wait_for(
        lambda: pc.kubectl("get", "secret", "failover", "-n", TEAM, "--ignore-not-found", "-o", "name"),
        timeout=60,
        interval=0.5,
        what="the token issued by the standby",
    )
    took = time.monotonic() - started
    # (issued by whichever writes: the leaving holder until it has stopped, then the standby)
    print(f"token issued {took:.1f}s after the lease holder was deleted")
    assert took < 30
    pc.kubectl("wait", "--for=delete", f"pod/{active}", "-n", NS, "--timeout=90s")
    assert holder() not in ("", first)  # the standby leads now
    pc.apply({**token, "metadata": {"name": "after"}}, namespace=TEAM)
    wait_for(
        lambda: pc.kubectl("get", "secret", "after", "-n", TEAM, "--ignore-not-found", "-o", "name"),
        timeout=30,
        interval=0.5,
        what="a token issued by the new holder",
    )
    events = json.loads(pc.kubectl("get", "events", "-n", TEAM, "--field-selector",
                                   "involvedObject.name=failover", "-o", "json"))  # fmt: skip
    assert [e["reason"] for e in events["items"]] == ["Issued"]  # one writer: one Event, one Secret
    secrets = pc.kubectl(
        "get", "secrets", "-n", TEAM, "-l", "gatepass.dev/service-token=failover", "-o", "name"
    )
    assert len(secrets.split()) == 1


def test_a_pod_without_any_secret_reaches_the_origin_by_its_service_account(pc: PodCluster) -> None:
    """examples/workload-identity.yaml: a projected ServiceAccount token is the credential."""
    account, app, deploy = yaml.safe_load_all((ROOT / "examples" / "workload-identity.yaml").read_text())
    app["spec"]["upstream"] = f"http://reports.{TEAM}.svc.cluster.local:8080"
    pc.apply(account, app, as_test_image(deploy, pc.image), namespace=TEAM)
    pc.kubectl("rollout", "status", "deploy/reports-reader", "-n", TEAM, "--timeout=120s")
    pod = pc.kubectl("get", "pod", "-n", TEAM, "-l", "app=reports-reader", "-o",
                     "jsonpath={.items[0].metadata.name}")  # fmt: skip
    host = app["spec"]["hosts"][0]
    projected = {"Authorization": "@bearer-file:/var/run/secrets/gatepass/token"}
    answer = first_200(pc, pod, host, projected, "200 for the pod's ServiceAccount token")
    seen = json.loads(answer["body"])
    assert "authorization" not in seen  # the origin never gets the pod's token
    claims = jwt.decode(seen["cf-access-jwt-assertion"], options={"verify_signature": False})
    assert claims["sub"] == f"system:serviceaccount:{TEAM}:reports-reader"
    assert claims["kubernetes.io"]["pod"] == {"name": pod}
    assert not answer["set_cookie"]
    # The consumer pod (default account) is not admitted, with its secret-free API token either.
    api_token = {"Authorization": "@bearer-file:/var/run/secrets/kubernetes.io/serviceaccount/token"}
    refused = pc.call(TEAM, consumer_pod(pc), host, api_token)
    assert (refused["status"], json.loads(refused["body"])) == (401, {"error": "wrong_audience"})


def test_a_rotation_restarts_its_environment_consumer_and_ends_the_grace_once_rolled_out(
    pc: PodCluster,
) -> None:
    """examples/rollout.yaml, once the cluster admin has allowed it with helm upgrade."""
    settle = 10
    allow = (
        "--set",
        "operator.rollout.enabled=true",
        "--set",
        f"operator.rollout.settlePeriodSeconds={settle}",
    )
    pc.helm("upgrade", "gatepass", CHART, "-n", NS, "--reuse-values", *allow, "--wait", "--timeout", "180s")
    token, app, deploy = yaml.safe_load_all((ROOT / "examples" / "rollout.yaml").read_text())
    app["spec"]["upstream"] = f"http://reports.{TEAM}.svc.cluster.local:8080"
    pc.apply(token, app, as_test_image(deploy, pc.image), namespace=TEAM)
    pc.kubectl("rollout", "status", "deploy/nightly-export", "-n", TEAM, "--timeout=120s")
    host = app["spec"]["hosts"][0]
    from_env = {"CF-Access-Client-Id": "@env:CF_ACCESS_CLIENT_ID",
                "CF-Access-Client-Secret": "@env:CF_ACCESS_CLIENT_SECRET"}  # fmt: skip

    def pods() -> list[str]:
        out = pc.kubectl("get", "pods", "-n", TEAM, "-l", "app=nightly-export", "-o", "json")
        return [
            p["metadata"]["name"]
            for p in json.loads(out)["items"]
            if not p["metadata"].get("deletionTimestamp")
        ]

    (before,) = pods()
    first_200(pc, before, host, from_env, "200 with the secret from the environment")
    client_id, old = (
        secret_value(pc, key, "exporter") for key in ("CF_ACCESS_CLIENT_ID", "CF_ACCESS_CLIENT_SECRET")
    )

    def status() -> dict[str, Any]:
        st: dict[str, Any] = json.loads(pc.kubectl("get", "st", "exporter", "-n", TEAM, "-o", "json"))[
            "status"
        ]
        return st

    pc.kubectl("annotate", "st", "exporter", "-n", TEAM, "gatepass.dev/rotate=now")
    rotation = wait_for(lambda: status().get("rolledOutFor"), timeout=30, what="the rollout")
    template = json.loads(pc.kubectl("get", "deploy", "nightly-export", "-n", TEAM, "-o", "json"))
    assert template["spec"]["template"]["metadata"]["annotations"]["gatepass.dev/rotation"] == rotation
    pc.kubectl("rollout", "status", "deploy/nightly-export", "-n", TEAM, "--timeout=120s")
    (after,) = wait_for(
        lambda: (n := pods()) != [before] and len(n) == 1 and n, timeout=60, what="one new pod"
    )
    new = secret_value(pc, "CF_ACCESS_CLIENT_SECRET", "exporter")
    assert new != old
    env = pc.exec_python(TEAM, after, "import os; print(os.environ['CF_ACCESS_CLIENT_SECRET'])")
    assert env.strip() == new  # the restarted pod started with the new secret
    assert pc.call(TEAM, after, host, from_env)["status"] == 200
    # The grace (24h) ends early: the consumer rolled out and the old secret went unused.
    ended = wait_for(lambda: "previousSecretHash" not in (s := status()) and s, timeout=settle + 60,
                     interval=1, what="the grace to end early")  # fmt: skip
    assert ended["consumersRolledOutAt"]
    rotating = {c["type"]: c for c in ended["conditions"]}["Rotating"]
    assert (rotating["status"], rotating["reason"]) == ("False", "Complete")
    old_headers = {"CF-Access-Client-Id": client_id, "CF-Access-Client-Secret": old}
    wait_for(lambda: pc.call(TEAM, after, host, old_headers)["status"] == 401, timeout=10, interval=1,
             what="the gateway to refuse the previous secret")  # fmt: skip
    events = json.loads(pc.kubectl("get", "events", "-n", TEAM, "--field-selector",
                                   "involvedObject.name=exporter", "-o", "json"))  # fmt: skip
    reasons = [e["reason"] for e in events["items"]]
    assert {"Rotated", "RolledOut", "ConsumersRolledOut", "GraceEnded"} <= set(reasons), reasons


def test_helm_upgrade_then_uninstall_keeps_crds_tokens_and_secrets_not_the_gateway(pc: PodCluster) -> None:
    pc.helm("upgrade", "gatepass", CHART, "-n", NS, "--reuse-values", "--set", "operator.logLevel=DEBUG",
            "--wait", "--timeout", "180s")  # fmt: skip
    dep = json.loads(pc.kubectl("get", "deploy", "gatepass-operator", "-n", NS, "-o", "json"))
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "DEBUG" in env.values(), env
    assert dep["status"].get("updatedReplicas") == dep["spec"]["replicas"]
    gateway = json.loads(pc.kubectl("get", "deploy", "gatepass-gateway", "-n", NS, "-o", "json"))
    assert [(r["kind"], r["uid"]) for r in gateway["metadata"]["ownerReferences"]] == [
        ("Deployment", dep["metadata"]["uid"])
    ]
    pc.helm("uninstall", "gatepass", "-n", NS, "--wait", "--timeout", "120s")
    # The gateway the operator ran goes with it (garbage collector)...
    ours = ("get", "deploy,svc", "-n", NS, "-l", "app.kubernetes.io/managed-by=gatepass", "-o", "name")
    wait_for(lambda: not pc.kubectl(*ours).strip(), timeout=60, interval=1,
             what="the gateway's Deployment and Services to go")  # fmt: skip
    # ...the tokens and their Secrets stay, for a later install to serve.
    crds = pc.kubectl("get", "crd", "-o", "name")
    assert "customresourcedefinition.apiextensions.k8s.io/servicetokens.gatepass.dev" in crds
    assert "meanwhile" in pc.kubectl("get", "st", "-n", TEAM, "-o", "name")
    assert pc.kubectl("get", "secret", "meanwhile", "-n", TEAM, "-o", "name").strip() == "secret/meanwhile"


def test_no_pods_were_pulled_from_a_registry(pc: PodCluster) -> None:
    """Everything above ran from images built here: nothing asked a registry."""
    events = pc.kubectl("get", "events", "-A", "-o", "json")
    reasons = [e["reason"] for e in json.loads(events)["items"]]
    assert "Pulling" not in reasons
    assert "Failed" not in reasons or all(
        "pull" not in e["message"].lower() for e in json.loads(events)["items"] if e["reason"] == "Failed"
    )
