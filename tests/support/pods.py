"""gatepass as users run it: a cluster with a node, the image from the Dockerfile,
the chart installed by helm, and workloads in pods.

The image (gatepass's own, which has Python) doubles as the test workloads'
image: an upstream that echoes what it received, and clients that call the
gateway through its Service. No other image can be pulled here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import ROOT, localcluster

sys.path.insert(0, str(ROOT / "tools"))

import image

GATEWAY_URL = "http://gatepass-gateway.gatepass-system.svc.cluster.local"
NS = "gatepass-system"

# The upstream: answers every GET with the request's headers as JSON.
UPSTREAM = """
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("", 8080), Echo).serve_forever()
"""

# One request through the gateway. argv: url host [headers-json]; the special
# header values @env:NAME, @file:PATH and @bearer-file:PATH are read inside the pod
# (its own Secret, its projected ServiceAccount token).
CALL = """
import json, os, sys, urllib.error, urllib.request
url, host = sys.argv[1], sys.argv[2]
headers = {"Host": host}
for k, v in json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}").items():
    if v.startswith("@env:"):
        v = os.environ[v[5:]]
    elif v.startswith("@file:"):
        v = open(v[6:]).read().strip()
    elif v.startswith("@bearer-file:"):
        v = "Bearer " + open(v[13:]).read().strip()
    headers[k] = v
try:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        status, hdrs, body = r.status, r.headers, r.read()
except urllib.error.HTTPError as e:
    status, hdrs, body = e.code, e.headers, e.read()
print(json.dumps({"status": status, "set_cookie": hdrs.get_all("Set-Cookie") or [], "body": body.decode()}))
"""

# Requests in a loop: one line per answer, "<unix time> <status>", until argv[4] seconds pass.
STREAM = """
import json, os, sys, time, urllib.error, urllib.request
url, host, headers_json, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
headers = {"Host": host}
for k, v in json.loads(headers_json).items():
    if v.startswith("@file:"):
        v = open(v[6:]).read().strip()
    headers[k] = v
end = time.time() + seconds
while time.time() < end:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError as e:
        status = 0
    print(f"{time.time():.3f} {status}", flush=True)
    time.sleep(0.02)
"""


# Requests over argv[5] kept-alive connections (http.client, as a pooled client sends them),
# each reconnecting when told (Connection: close) or when a connection fails: one line per
# answer, "<unix time> <status or error name>", until argv[4] seconds pass. argv: url host
# headers-json seconds connections.
KEEPALIVE_STREAM = """
import http.client, json, sys, threading, time, urllib.parse
url, host, headers_json = sys.argv[1:4]
seconds, n = float(sys.argv[4]), int(sys.argv[5])
where = urllib.parse.urlsplit(url)
headers = {"Host": host}
for k, v in json.loads(headers_json).items():
    if v.startswith("@file:"):
        v = open(v[6:]).read().strip()
    headers[k] = v
end = time.time() + seconds
lock = threading.Lock()
def run():
    conn = None
    while time.time() < end:
        try:
            if conn is None:
                conn = http.client.HTTPConnection(where.hostname, where.port or 80, timeout=5)
            conn.request("GET", where.path or "/", headers=headers)
            r = conn.getresponse()
            r.read()
            status = str(r.status)
            if r.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
            conn = None
        with lock:
            print(f"{time.time():.3f} {status}", flush=True)
        time.sleep(0.01)
threads = [threading.Thread(target=run) for _ in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done", flush=True)
"""

# Runs argv[2:] (a python3 -c script and its arguments) detached, its output to argv[1]: a
# long stream outlives no kubectl exec (whose connection may break on a loaded machine).
DETACHED = """
import subprocess, sys
subprocess.Popen(["python3", *sys.argv[2:]], stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT,
                 stdin=subprocess.DEVNULL, start_new_session=True)
"""


@dataclass
class PodCluster:
    """A cluster of its own (control plane + node) with gatepass's image loaded."""

    cluster: localcluster.LocalCluster
    tmp: Path

    @property
    def helm_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HELM_CACHE_HOME": str(self.tmp / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.tmp / "helm-config"),
            "HELM_DATA_HOME": str(self.tmp / "helm-data"),
        }

    def helm(self, *args: str, timeout: float = 240) -> str:
        out = subprocess.run(
            [str(self.cluster.bindir / "helm"), *args],
            env=self.helm_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode:
            raise AssertionError(f"helm {' '.join(args)}: {out.stderr}\n{self.diagnose()}")
        return out.stdout

    def diagnose(self) -> str:
        """What a failed wait needs to be understood: the pods, recent events, gatepass's logs."""
        parts = []
        for args in (
            ("get", "pods", "-A", "-o", "wide"),
            ("get", "events", "-n", NS, "--sort-by=.lastTimestamp"),
            ("logs", "-n", NS, "-l", "app.kubernetes.io/component=operator", "--tail=40", "--all-containers"),
        ):
            parts.append(f"$ kubectl {' '.join(args)}\n{self.kubectl(*args, check=False)[-4000:]}")
        return "\n".join(parts)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        out = subprocess.run(
            [
                str(self.cluster.bindir / "localcluster"),
                "kubectl",
                f"--kubeconfig={self.cluster.kubeconfig}",
                *args,
            ],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=180,
        )
        if check and out.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: {out.stderr}")
        return out.stdout

    def apply(self, *docs: dict[str, Any], namespace: str) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs))

    def exec_python(self, namespace: str, target: str, script: str, *args: str) -> str:
        return self.kubectl("exec", "-n", namespace, target, "--", "python3", "-c", script, *args)

    def call(
        self, namespace: str, target: str, host: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One request from inside a pod to the gateway's Service, by DNS name."""
        out = self.exec_python(namespace, target, CALL, GATEWAY_URL + "/", host, json.dumps(headers or {}))
        result: dict[str, Any] = json.loads(out)
        return result

    @property
    def image(self) -> str:
        return image.image_name()


@contextmanager
def pod_cluster(tmp: Path) -> Iterator[PodCluster]:
    archive = image.build()  # before the cluster: a cold build takes minutes
    cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=tmp / "data", node=True)
    try:
        cluster.start()
        assert cluster.local_node is not None
        cluster.local_node.import_image(archive, image.qualified(image.image_name()))
        yield PodCluster(cluster, tmp)
    finally:
        cluster.stop()


def python_pod_spec(
    image_name: str, script: str, labels: dict[str, str], name: str, port: int | None = None
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image_name,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", script],
    }
    if port:
        container["ports"] = [{"containerPort": port}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 1}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 0},
            },
        },
    }


SLEEP = "import time\nwhile True: time.sleep(3600)"


def as_test_image(deployment: dict[str, Any], image_name: str) -> dict[str, Any]:
    """An example Deployment as users apply it, but on the one image there is here, idle."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container.update(
        image=image_name, imagePullPolicy="IfNotPresent", command=["python3", "-c", SLEEP], args=[]
    )
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 0
    return deployment


def origin_and_consumer(image_name: str) -> list[dict[str, Any]]:
    """The origin "reports" (Deployment + Service on 8080, as examples/accessapplication.yaml
    expects) and the consumer of examples/consumer-deployment.yaml. The consumer is the
    example as users apply it; only its image and loop differ (no registry image can be
    pulled here): the Secret still arrives by envFrom and as a file."""
    origin = python_pod_spec(image_name, UPSTREAM, {"app": "reports"}, "reports", port=8080)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "reports"},
        "spec": {"selector": {"app": "reports"}, "ports": [{"port": 8080}]},
    }
    consumer = yaml.safe_load((ROOT / "examples" / "consumer-deployment.yaml").read_text())
    return [origin, service, as_test_image(consumer, image_name)]
