"""The gateway as a real process, configured exactly as the operator's Deployment says,
and a real upstream HTTP server on loopback.

There is no kubelet here, so the Deployment's pods stay Pending: the test reads
the Deployment back from the API server and runs its container's command and
environment locally (only ports and bind address changed for loopback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.support.waiting import free_port, wait_http_ok


def deployment_env(api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    dep = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    (container,) = dep.spec.template.spec.containers
    assert container.args == ["gateway"]
    return {e.name: e.value or "" for e in container.env}


class GatewayProcess:
    def __init__(self, kubeconfig: Path, env: dict[str, str], logfile: Path) -> None:
        self.port, self.admin_port = free_port(), free_port()
        self.env = {
            **os.environ,
            **env,
            "KUBECONFIG": str(kubeconfig),
            "GATEPASS_BIND_ADDRESS": "127.0.0.1",
            "GATEPASS_PORT": str(self.port),
            "GATEPASS_ADMIN_PORT": str(self.admin_port),
            "GATEPASS_LOG_LEVEL": "DEBUG",
            # No load balancer in front to wait for: stop at once (the drain has its tests).
            "GATEPASS_DRAIN_SECONDS": env.get("GATEPASS_DRAIN_SECONDS", "0"),
        }
        self.logfile = logfile
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30, wait_ready: bool = True) -> None:
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gatepass", "gateway"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if wait_ready:
            url = f"http://127.0.0.1:{self.admin_port}/readyz"
            wait_http_ok(url, self.proc, "gateway", self.logfile, timeout)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as r:
            return str(r.read().decode())


class Upstream:
    """An origin that records what it receives and answers with JSON."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                outer.seen.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                data = json.dumps({"origin": "ok", "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
