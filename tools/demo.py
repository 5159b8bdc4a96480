"""`make demo`: the service-token story on a local control plane, step by step.

Starts a throwaway Kubernetes control plane (tools/localcluster), the gatepass
operator, the gateway (with the environment of the operator's Deployment, as
the e2e tests do: there is no kubelet here) and a small origin, then walks
Cloudflare's flow: create a token, call the app with its headers, get the
CF_Authorization cookie, call with the cookie, refresh, rotate, revoke. The
Client Secret is never printed. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
import requests
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools" / "localcluster")]
# The same helpers the e2e tests use to run the product's processes locally.
from tests.support.gateway import GatewayProcess, Upstream, deployment_env  # noqa: E402
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

import localcluster  # noqa: E402

GROUP, VERSION = "gatepass.dev", "v1alpha1"
NS = "demo"
HOST = "reports.example.com"


def say(step: str, detail: str = "") -> None:
    print(f"\n\033[1m==> {step}\033[0m" + (f"\n    {detail}" if detail else ""), flush=True)


def show(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"    {line}", flush=True)


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=workdir / "cluster")
        self.operator: OperatorProcess | None = None
        self.gateway: GatewayProcess | None = None
        self.upstream = Upstream()
        self.http = requests.Session()
        # Like curl in Cloudflare's docs: cookies go only where the story sends them.
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def start(self) -> None:
        say("Starting a local Kubernetes control plane (kube-apiserver, etcd, controller-manager)")
        took = self.cluster.start(preinstall=(ROOT / "crds",))
        show(f"ready in {took:.1f}s at {self.cluster.server}; CRDs installed from crds/")
        self.api = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        for ns in (NS, OPERATOR_NAMESPACE):
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

        say("Starting the gatepass operator", f"log: {self.workdir / 'operator.log'}")
        self.operator = OperatorProcess(self.cluster.kubeconfig, self.workdir / "operator.log")
        self.operator.start()
        apps = client.AppsV1Api(self.api)
        wait_for(
            lambda: apps.list_namespaced_deployment(OPERATOR_NAMESPACE).items,
            timeout=15,
            what="the gateway Deployment",
        )
        show(self.cluster.kubectl("get", "deployment,service,secret", "-n", OPERATOR_NAMESPACE))

        say("Starting the gateway with the Deployment's configuration, and a small origin")
        env = deployment_env(self.api, OPERATOR_NAMESPACE, "gatepass-gateway")
        self.gateway = GatewayProcess(self.cluster.kubeconfig, env, self.workdir / "gateway.log")
        self.gateway.start()
        self.upstream.start()
        show(f"gateway {self.gateway.url}   origin {self.upstream.url}")

    def stop(self) -> None:
        self.http.close()
        for proc in (self.gateway, self.operator):
            if proc is not None:
                proc.stop()
        self.upstream.stop()
        self.cluster.stop()

    def kubectl(self, *args: str) -> str:
        return self.cluster.kubectl(*args, "-n", NS)

    def status(self, plural: str, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name)
        return dict(obj.get("status") or {})  # type: ignore[attr-defined]

    def secret(self) -> dict[str, str] | None:
        try:
            data = self.core.read_namespaced_secret("ci-bot", NS).data
        except ApiException:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}

    def get(self, headers: dict[str, str]) -> requests.Response:
        assert self.gateway is not None
        return self.http.get(
            self.gateway.url + "/reports/today", headers={"Host": HOST, **headers}, timeout=10
        )

    def call(self, what: str, headers: dict[str, str]) -> requests.Response:
        resp = self.get(headers)
        body = resp.text if len(resp.text) < 200 else resp.text[:200] + "..."
        show(f"GET https://{HOST}/reports/today  [{what}]  ->  {resp.status_code} {body.strip()}")
        return resp

    def annotate(self, what: str) -> None:
        """What `kubectl gatepass refresh|rotate` does: a new value asks once."""
        self.kubectl(
            "annotate", "--overwrite", "servicetoken/ci-bot", f"gatepass.dev/{what}={time.time():.0f}"
        )

    def story(self) -> None:
        say("Create a ServiceToken and an AccessApplication (examples/)")
        show((ROOT / "examples" / "servicetoken.yaml").read_text())
        self.kubectl("apply", "-f", str(ROOT / "examples" / "servicetoken.yaml"))
        self.kubectl("apply", "-f", str(ROOT / "examples" / "accessapplication.yaml"))
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NS, "accessapplications", "reports", {"spec": {"upstream": self.upstream.url}}
        )
        show(f"(the demo points the application's upstream at its local origin, {self.upstream.url})")
        st = wait_for(
            lambda: (s := self.status("servicetokens", "ci-bot")).get("secretHash") and s,
            timeout=15,
            what="the token",
        )
        aud = wait_for(
            lambda: self.status("accessapplications", "reports").get("aud"),
            timeout=15,
            what="the application's aud",
        )
        show(self.kubectl("get", "servicetokens,accessapplications"))

        say("The Secret holds the credentials; status only a hash")
        creds = self.secret()
        assert creds is not None
        show(f"CF_ACCESS_CLIENT_ID     = {creds['CF_ACCESS_CLIENT_ID']}")
        show("CF_ACCESS_CLIENT_SECRET = <not shown: it lives only in the Secret>")
        show(f"status.secretHash       = {st['secretHash']}")
        headers = {
            "CF-Access-Client-Id": creds["CF_ACCESS_CLIENT_ID"],
            "CF-Access-Client-Secret": creds["CF_ACCESS_CLIENT_SECRET"],
        }

        say("Call the application with the two headers, as Cloudflare's docs show with curl")
        wait_for(
            lambda: self.get(headers).status_code == 200,
            timeout=15,
            what="the gateway to learn the token and the app",
        )
        resp = self.call("headers", headers)
        cookie = resp.cookies["CF_Authorization"]
        show(f"Set-Cookie: CF_Authorization=<JWT>; {resp.headers['Set-Cookie'].split(';', 1)[1].strip()}")
        claims = jwt.decode(cookie, options={"verify_signature": False})
        show("JWT claims: " + json.dumps(claims, indent=None))
        assertion = self.upstream.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"]
        assert self.gateway is not None
        jwks = jwt.PyJWKClient(self.gateway.url + "/cdn-cgi/access/certs")
        key = jwks.get_signing_key_from_jwt(assertion)
        jwt.decode(assertion, key.key, algorithms=["RS256"], audience=aud, issuer=claims["iss"])
        show(
            "the origin got Cf-Access-Jwt-Assertion and verified it with the JWKS from /cdn-cgi/access/certs"
        )
        hidden = "CF-Access-Client-Secret" not in self.upstream.seen[-1]["headers"]
        show(f"the origin never saw the secret: {hidden}")

        say("Later requests send the cookie (or the cf-access-token header) instead")
        self.call("cookie", {"Cookie": f"CF_Authorization={cookie}"})
        self.call("cf-access-token", {"cf-access-token": cookie})
        self.call("no credentials", {})

        say("Refresh: same credentials, later expiry")
        time.sleep(1.1)
        self.annotate("refresh")
        after = wait_for(
            lambda: (s := self.status("servicetokens", "ci-bot")).get("expiresAt") != st["expiresAt"] and s,
            timeout=15,
            what="the refresh",
        )
        show(f"expiresAt {st['expiresAt']} -> {after['expiresAt']}")

        say("Rotate: a new secret; the previous one keeps working for rotationGracePeriod")
        self.annotate("rotate")
        wait_for(
            lambda: self.status("servicetokens", "ci-bot").get("secretHash") != after["secretHash"],
            timeout=15,
            what="rotation",
        )
        new = self.secret()
        assert new is not None
        new_headers = {**headers, "CF-Access-Client-Secret": new["CF_ACCESS_CLIENT_SECRET"]}
        wait_for(
            lambda: self.get(new_headers).status_code == 200,
            timeout=15,
            what="the gateway to learn the new secret",
        )
        self.call("new secret", new_headers)
        self.call("old secret, within the grace period", headers)

        say("Revoke: delete the ServiceToken")
        self.kubectl("delete", "servicetoken", "ci-bot")
        wait_for(
            lambda: self.get(new_headers).status_code == 401,
            timeout=15,
            what="the revocation to reach the gateway",
        )
        self.call("headers", new_headers)
        self.call("the earlier cookie", {"Cookie": f"CF_Authorization={cookie}"})
        wait_for(lambda: self.secret() is None, timeout=15, what="the Secret to be garbage-collected")
        show("Secret ci-bot: gone (ownerReference); its JWTs are refused too, at once")
        say("Done. Everything the demo started is stopped now.")


def main() -> int:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gatepass-demo-") as tmp:
        demo = Demo(Path(tmp))
        # Ctrl-C and SIGTERM both end in the finally below.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            demo.start()
            demo.story()
        except KeyboardInterrupt:
            print("\ninterrupted; stopping", file=sys.stderr)
            return 130
        finally:
            demo.stop()
    print(f"\n(demo took {time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
