"""`make demo`: the service-token story as users live it, step by step.

Starts a throwaway Kubernetes cluster (tools/localcluster: a control plane and a
node that runs real pods), builds gatepass's image from the Dockerfile and loads
it into the node, installs the chart with `helm install`, and walks Cloudflare's
flow with a client *pod* that reads its credentials from the Secret it mounts:
create a token, call the application through the gateway's Service, get the
CF_Authorization cookie, call with the cookie, refresh, rotate, revoke. The
Client Secret is never printed. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import base64
import json
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jwt

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
# The same helpers the pod e2e tests use.
from tests.support.pods import PodCluster, origin_and_consumer, pod_cluster  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

# The examples apply as they are: the application's upstream is reports.default.svc.
NS = "default"
SYSTEM = "gatepass-system"
HOST = "reports.example.com"
SECRET_FILE = "/var/run/gatepass/CF_ACCESS_CLIENT_SECRET"  # noqa: S105 - a path
FROM_SECRET = {
    "CF-Access-Client-Id": "@env:CF_ACCESS_CLIENT_ID",
    "CF-Access-Client-Secret": f"@file:{SECRET_FILE}",
}


def say(step: str, detail: str = "") -> None:
    print(f"\n\033[1m==> {step}\033[0m" + (f"\n    {detail}" if detail else ""), flush=True)


def show(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"    {line}", flush=True)


class Demo:
    def __init__(self, pc: PodCluster) -> None:
        self.pc = pc

    def kubectl(self, *args: str) -> str:
        return self.pc.kubectl(*args)

    def run(self, *args: str) -> None:
        """Run kubectl and show the command and its output, as a user would see them."""
        show("$ kubectl " + " ".join(args))
        show(self.kubectl(*args))

    def status(self, kind: str, name: str) -> dict[str, Any]:
        obj = json.loads(self.kubectl("get", kind, name, "-n", NS, "-o", "json"))
        return dict(obj.get("status") or {})

    def secret(self) -> dict[str, str] | None:
        out = self.kubectl("get", "secret", "ci-bot", "-n", NS, "--ignore-not-found", "-o", "json")
        if not out.strip():
            return None
        return {k: base64.b64decode(v).decode() for k, v in json.loads(out)["data"].items()}

    def client_pod(self) -> str:
        return self.kubectl(
            "get", "pod", "-n", NS, "-l", "app=reporter", "-o", "jsonpath={.items[0].metadata.name}"
        )

    def call(self, what: str, headers: dict[str, str]) -> dict[str, Any]:
        answer = self.pc.call(NS, self.client_pod(), HOST, headers)
        body = answer["body"].strip()
        if answer["status"] == 200:  # the origin echoes its request headers
            body = "from the origin, which got Cf-Access-Jwt-Assertion: " + (
                json.loads(body)["cf-access-jwt-assertion"][:24] + "..."
            )
        show(f"GET http://{HOST}/ via the gateway Service  [{what}]  ->  {answer['status']} {body}")
        return answer

    def annotate(self, what: str, *extra: str) -> None:
        """What `kubectl gatepass refresh|rotate` does: a new value asks once."""
        self.kubectl("annotate", "--overwrite", "-n", NS, "servicetoken/ci-bot",
                     f"gatepass.dev/{what}={time.time():.0f}", *extra)  # fmt: skip

    def install(self) -> None:
        say(
            "helm install gatepass charts/gatepass -n gatepass-system --create-namespace --wait",
            "the chart as it is, no --set: CRDs, the operator, its RBAC; the operator then runs the gateway",
        )
        started = time.monotonic()
        self.pc.helm("install", "gatepass", str(ROOT / "charts" / "gatepass"), "-n", SYSTEM,
                     "--create-namespace", "--wait", "--timeout", "180s")  # fmt: skip
        wait_for(
            lambda: self.kubectl(
                "get", "deploy", "gatepass-gateway", "-n", SYSTEM, "--ignore-not-found", "-o", "name"
            ),
            timeout=60,
            what="the gateway Deployment",
        )
        self.kubectl(
            "wait", "--for=condition=Available", "deploy/gatepass-gateway", "-n", SYSTEM, "--timeout=120s"
        )
        show(f"installed and available in {time.monotonic() - started:.0f}s")
        self.run("get", "pods,services", "-n", SYSTEM, "-o", "wide")

    def workloads(self) -> None:
        say("An origin and a consumer in namespace default (examples/consumer-deployment.yaml)")
        show("origin: echoes the headers it receives; consumer: mounts Secret ci-bot (envFrom + a volume)")
        self.pc.apply(*origin_and_consumer(self.pc.image), namespace=NS)

    def story(self) -> None:
        say("Create a ServiceToken and an AccessApplication (examples/)")
        show((ROOT / "examples" / "servicetoken.yaml").read_text())
        self.kubectl("apply", "-n", NS, "-f", str(ROOT / "examples" / "servicetoken.yaml"))
        self.kubectl("apply", "-n", NS, "-f", str(ROOT / "examples" / "accessapplication.yaml"))
        st = wait_for(
            lambda: (s := self.status("servicetoken", "ci-bot")).get("secretHash") and s,
            timeout=30,
            what="the token",
        )
        aud = wait_for(lambda: self.status("accessapplication", "reports").get("aud"), timeout=30, what="aud")
        self.run("get", "servicetokens,accessapplications", "-n", NS)
        for deploy in ("reports", "reporter"):
            self.kubectl("rollout", "status", f"deploy/{deploy}", "-n", NS, "--timeout=120s")
        self.run("get", "pods", "-n", NS, "-o", "wide")

        say("The Secret holds the credentials; status only a hash")
        creds = self.secret()
        assert creds is not None
        show(f"CF_ACCESS_CLIENT_ID     = {creds['CF_ACCESS_CLIENT_ID']}")
        show("CF_ACCESS_CLIENT_SECRET = <not shown: it lives only in the Secret>")
        show(f"status.secretHash       = {st['secretHash']}")

        say(
            "The consumer pod calls the application with the two headers, as Cloudflare's docs show",
            f"Client ID from its environment, Client Secret from the file {SECRET_FILE}",
        )
        answer = wait_for(
            lambda: (a := self.pc.call(NS, self.client_pod(), HOST, FROM_SECRET))["status"] == 200 and a,
            timeout=60,
            interval=1,
            what="the gateway to learn the token and the app",
        )
        answer = self.call("headers", FROM_SECRET)
        set_cookie = next(c for c in answer["set_cookie"] if c.startswith("CF_Authorization="))
        cookie = set_cookie.split(";", 1)[0].split("=", 1)[1]
        show(f"Set-Cookie: CF_Authorization=<JWT>; {set_cookie.split(';', 1)[1].strip()}")
        claims = jwt.decode(cookie, options={"verify_signature": False})
        show("JWT claims: " + json.dumps(claims, indent=None))
        seen = json.loads(answer["body"])
        assertion = seen["cf-access-jwt-assertion"]
        gateway_ip = self.kubectl(
            "get", "svc", "gatepass-gateway", "-n", SYSTEM, "-o", "jsonpath={.spec.clusterIP}"
        )
        jwks = jwt.PyJWKClient(f"http://{gateway_ip}/cdn-cgi/access/certs", headers={"Host": HOST})
        key = jwks.get_signing_key_from_jwt(assertion)
        jwt.decode(assertion, key.key, algorithms=["RS256"], audience=aud, issuer=claims["iss"])
        show("the origin got Cf-Access-Jwt-Assertion; it verifies with the JWKS from /cdn-cgi/access/certs")
        show(f"the origin never saw the secret: {'cf-access-client-secret' not in seen}")

        say("Later requests send the cookie (or the cf-access-token header) instead")
        self.call("cookie", {"Cookie": f"CF_Authorization={cookie}"})
        self.call("cf-access-token", {"cf-access-token": cookie})
        self.call("no credentials", {})

        say("Refresh: same credentials, later expiry")
        time.sleep(1.1)
        self.annotate("refresh")
        after = wait_for(
            lambda: (s := self.status("servicetoken", "ci-bot")).get("expiresAt") != st["expiresAt"] and s,
            timeout=30,
            what="the refresh",
        )
        show(f"expiresAt {st['expiresAt']} -> {after['expiresAt']}")

        say("Rotate: a new secret; the previous one keeps working for rotationGracePeriod (24h here)")
        old_headers = {"CF-Access-Client-Id": creds["CF_ACCESS_CLIENT_ID"],
                       "CF-Access-Client-Secret": creds["CF_ACCESS_CLIENT_SECRET"]}  # fmt: skip
        rotated = time.monotonic()
        self.annotate("rotate")
        new = wait_for(
            lambda: (
                (s := self.secret())
                and s["CF_ACCESS_CLIENT_SECRET"] != creds["CF_ACCESS_CLIENT_SECRET"]
                and s
            ),
            timeout=30,
            what="rotation",
        )

        def mounted() -> bool:
            pod = self.client_pod()
            return (
                self.kubectl("exec", "-n", NS, pod, "--", "cat", SECRET_FILE).strip()
                == new["CF_ACCESS_CLIENT_SECRET"]
            )

        wait_for(mounted, timeout=120, interval=1, what="the kubelet to update the mounted Secret")
        show(f"the consumer's mounted file shows the new secret {time.monotonic() - rotated:.0f}s later")
        self.call("new secret, from the file", FROM_SECRET)
        self.call("old secret, within the grace period", old_headers)

        say("Revoke: delete the ServiceToken")
        self.run("delete", "servicetoken", "ci-bot", "-n", NS)
        wait_for(
            lambda: self.pc.call(NS, self.client_pod(), HOST, FROM_SECRET)["status"] == 401,
            timeout=15,
            what="the revocation to reach the gateway",
        )
        self.call("headers", FROM_SECRET)
        self.call("the earlier cookie", {"Cookie": f"CF_Authorization={cookie}"})
        wait_for(
            lambda: self.secret() is None, timeout=60, interval=1, what="the Secret to be garbage-collected"
        )
        show("Secret ci-bot: gone (ownerReference); its JWTs are refused too, at once")
        say("Done. Everything the demo started is stopped now.")


def main() -> int:
    start = time.monotonic()
    # Ctrl-C and SIGTERM both unwind the ExitStack: the cluster and node stop.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gatepass-demo-")))
            say(
                "Starting a local Kubernetes cluster: control plane and a node that runs pods",
                "and building gatepass's image from the Dockerfile (buildah), loaded into the node",
            )
            pc = stack.enter_context(pod_cluster(tmp))
            show(f"API server {pc.cluster.server}; node and image {pc.image} ready")
            show("$ kubectl get nodes -o wide")
            show(pc.kubectl("get", "nodes", "-o", "wide"))
            demo = Demo(pc)
            demo.install()
            demo.workloads()
            demo.story()
    except KeyboardInterrupt:
        print("\ninterrupted; stopped", file=sys.stderr)
        return 130
    print(f"\n(demo took {time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
