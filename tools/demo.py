"""`make demo`: the service-token story on a local control plane, step by step.

Starts a throwaway Kubernetes control plane (tools/localcluster) and the
gatepass operator, then walks Cloudflare's service-token flow: create, read
the Client ID, refresh, rotate, lose the Secret, revoke. The Client Secret is
never printed. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "localcluster"))
import localcluster  # noqa: E402

GROUP, VERSION, PLURAL = "gatepass.dev", "v1alpha1", "servicetokens"
NS = "demo"
T = TypeVar("T")


def say(step: str, detail: str = "") -> None:
    print(f"\n\033[1m==> {step}\033[0m" + (f"\n    {detail}" if detail else ""), flush=True)


def show(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"    {line}", flush=True)


def wait(fn: Callable[[], T | None], what: str, timeout: float = 15) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"demo: gave up waiting for {what}")


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=workdir / "cluster")
        self.operator: subprocess.Popen[bytes] | None = None
        self.oplog = workdir / "operator.log"

    def start(self) -> None:
        say("Starting a local Kubernetes control plane (kube-apiserver, etcd, controller-manager)")
        took = self.cluster.start(preinstall=(ROOT / "crds",))
        show(f"ready in {took:.1f}s at {self.cluster.server}; CRDs installed from crds/")
        self.api = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        say("Starting the gatepass operator", f"log: {self.oplog}")
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "GATEPASS_METRICS_PORT": "0",
            "GATEPASS_HEALTH_PORT": "0",
        }
        with self.oplog.open("wb") as log:
            self.operator = subprocess.Popen(
                [sys.executable, "-m", "gatepass", "operator", "--standalone"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.terminate()
            try:
                self.operator.wait(15)
            except subprocess.TimeoutExpired:
                self.operator.kill()
                self.operator.wait()
        self.cluster.stop()

    def kubectl(self, *args: str) -> str:
        return self.cluster.kubectl(*args, "-n", NS)

    def token(self) -> dict[str, Any]:
        return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "ci-bot"))

    def status(self) -> dict[str, Any]:
        return dict(self.token().get("status") or {})

    def client_id(self) -> str | None:
        try:
            secret = self.core.read_namespaced_secret("ci-bot", NS)
        except ApiException:
            return None
        return base64.b64decode(secret.data["CF_ACCESS_CLIENT_ID"]).decode()

    def annotate(self, what: str) -> None:
        """What `kubectl gatepass refresh|rotate` does: a new value asks once."""
        self.kubectl(
            "annotate", "--overwrite", "servicetoken/ci-bot", f"gatepass.dev/{what}={time.time():.0f}"
        )

    def story(self) -> None:
        manifest = (ROOT / "examples" / "servicetoken.yaml").read_text()
        say("Create a ServiceToken (examples/servicetoken.yaml)")
        show(manifest)
        self.cluster.kubectl("apply", "-n", NS, "-f", str(ROOT / "examples" / "servicetoken.yaml"))
        st = wait(lambda: (s := self.status()).get("secretHash") and s, "the token to be issued")
        show(self.kubectl("get", "servicetokens", "-o", "wide"))

        say("The Secret holds the credentials; status holds only a hash")
        show(f"Secret ci-bot, key CF_ACCESS_CLIENT_ID     = {self.client_id()}")
        show("Secret ci-bot, key CF_ACCESS_CLIENT_SECRET = <not shown: it lives only in the Secret>")
        show(f"status.secretHash = {st['secretHash']}")
        show(f"status.expiresAt  = {st['expiresAt']}")

        say("Refresh (Cloudflare's Refresh button): annotate, same credentials, later expiry")
        time.sleep(1.1)
        self.annotate("refresh")
        after = wait(lambda: (s := self.status()).get("expiresAt") != st["expiresAt"] and s, "the refresh")
        same = after["secretHash"] == st["secretHash"]
        show(f"expiresAt {st['expiresAt']} -> {after['expiresAt']}; secretHash unchanged: {same}")

        say("Rotate: a new secret; the previous one keeps working for rotationGracePeriod")
        self.annotate("rotate")
        rot = wait(lambda: (s := self.status()).get("secretHash") != after["secretHash"] and s, "rotation")
        show(f"secretHash         = {rot['secretHash']}")
        show(f"previousSecretHash = {rot['previousSecretHash']}")
        show(f"                     (valid until {rot['previousSecretExpiresAt']})")
        show(f"Client ID unchanged: {self.client_id() == st['clientId']}")

        say("Lose the Secret: the old secret cannot be recovered, so new credentials are issued")
        self.core.delete_namespaced_secret("ci-bot", NS)
        wait(lambda: self.client_id(), "the Secret to come back")
        show(self.kubectl("get", "events", "--field-selector", "involvedObject.kind=ServiceToken"))

        say("Revoke: delete the ServiceToken; its Secret goes with it (ownerReference)")
        self.kubectl("delete", "servicetoken", "ci-bot")
        wait(lambda: self.client_id() is None, "the Secret to be garbage-collected")
        show("Secret ci-bot: gone")
        say("Done. Everything the demo started is stopped now.")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gatepass-demo-") as tmp:
        demo = Demo(Path(tmp))
        # Ctrl-C and SIGTERM both end in the finally below.
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            demo.start()
            demo.story()
        except KeyboardInterrupt:
            print("\ninterrupted; stopping", file=sys.stderr)
            return 130
        finally:
            demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
