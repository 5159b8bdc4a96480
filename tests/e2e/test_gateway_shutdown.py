"""A gateway told to stop (SIGTERM: a rollout, a drained node) leaves without dropping a
request: readiness fails at once, it keeps answering for the drain period with
`Connection: close` (a keep-alive client reconnects, to a pod that stays), then exits well
inside the pod's termination grace. The pods' version of this, through the Service during
a `helm upgrade`, is in test_pods.py."""

from __future__ import annotations

import http.client
import signal
import threading
import time
from pathlib import Path

import requests
from kubernetes import client

from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ClusterInfo
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OperatorProcess
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

DRAIN = 3.0


class KeepAliveClient:
    """Requests over a few kept-alive connections, as a pooled HTTP client sends them;
    records (time, status or the error, the Connection header)."""

    def __init__(self, port: int, host: str, creds: Creds, connections: int = 4) -> None:
        self.port, self.host, self.creds = port, host, creds
        self.answers: list[tuple[float, str, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(connections)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        headers = {
            "Host": self.host,
            "CF-Access-Client-Id": self.creds.client_id,
            "CF-Access-Client-Secret": self.creds.client_secret,
        }
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/x", headers=headers)
                resp = conn.getresponse()
                resp.read()
                self.answers.append((time.time(), str(resp.status), resp.getheader("Connection") or ""))
                if resp.will_close:
                    conn.close()
                    conn = None
            except OSError as e:
                self.answers.append((time.time(), type(e).__name__, ""))
                conn = None
                time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


def test_sigterm_drains_then_exits_without_failing_a_request(
    api: client.ApiClient,
    cluster: ClusterInfo,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
    tmp_path: Path,
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host = f"drain.{namespace}.test"
    apps.create("app", {"hosts": [host], "upstream": upstream.url + "/d", "policies": ANY_TOKEN})
    tokens.create("ci")
    tokens.wait_ready("ci")
    creds = tokens.creds("ci")
    leaving = GatewayProcess(
        cluster.kubeconfig, {**gateway.env, "GATEPASS_DRAIN_SECONDS": str(DRAIN)}, tmp_path / "gateway.log"
    )
    leaving.start()
    assert leaving.proc is not None
    ready = f"http://127.0.0.1:{leaving.admin_port}/readyz"
    wait_for(
        lambda: (
            requests.get(
                leaving.url + "/x",
                headers={
                    "Host": host,
                    "CF-Access-Client-Id": creds.client_id,
                    "CF-Access-Client-Secret": creds.client_secret,
                },
                timeout=5,
            ).status_code
            == 200
        ),
        timeout=15,
        what="the token served",
    )
    stream = KeepAliveClient(leaving.port, host, creds)
    time.sleep(1)
    termed = time.time()
    leaving.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert requests.get(ready, timeout=5).status_code == 503  # out of the endpoints at once
    time.sleep(DRAIN - 0.8)
    stream.finish()  # a load balancer has stopped sending by now
    code = leaving.proc.wait(DRAIN + 10)
    exited = time.time() - termed
    leaving.proc = None
    before = [a for a in stream.answers if a[0] < termed]
    during = [a for a in stream.answers if a[0] >= termed]
    assert before
    assert during, "no request answered during the drain"
    assert {s for _, s, _ in stream.answers} == {"200"}, [a for a in stream.answers if a[1] != "200"][:5]
    # Every answer of the drain told its keep-alive client to reconnect.
    assert all(c.lower() == "close" for _, _, c in during[len(stream.threads) :]), during[:8]
    assert code == 0
    assert exited < DRAIN + 5, exited
    print(
        f"drain {DRAIN}s: {len(during)} requests answered during it, none failed; exited after {exited:.1f}s"
    )
