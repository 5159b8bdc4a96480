"""The operator as a real process (`python -m gatepass operator`), as in a pod.

A process, not an in-test task: tests SIGKILL it mid-issuance, and read its
whole log to prove no secret ever reaches it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.waiting import free_port, wait_http_ok

OPERATOR_NAMESPACE = "gatepass-system"
ISSUER = "https://gatepass.test"
SETTLE_PERIOD = 6  # seconds: GATEPASS_ROLLOUT_SETTLE_PERIOD


class OperatorProcess:
    def __init__(self, kubeconfig: Path, logfile: Path) -> None:
        self.kubeconfig = kubeconfig
        self.logfile = logfile
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.health_port = 0

    def start(self, failpoints: str = "", wait: bool = True, **extra_env: str) -> None:
        """Standalone (active at once) unless GATEPASS_STANDALONE="false": then it takes part
        in the leader lease, as the chart's replicas do."""
        assert self.proc is None, "already running"
        self.metrics_port, self.health_port = free_port(), free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "GATEPASS_METRICS_PORT": str(self.metrics_port),
            "GATEPASS_HEALTH_PORT": str(self.health_port),
            "GATEPASS_BIND_ADDRESS": "127.0.0.1",
            "GATEPASS_FAILPOINTS": failpoints,
            "GATEPASS_LOG_LEVEL": "DEBUG",
            "GATEPASS_NAMESPACE": OPERATOR_NAMESPACE,
            "GATEPASS_ISSUER": ISSUER,
            # Tests reach the gateway over plain HTTP on loopback.
            "GATEPASS_GATEWAY_COOKIE_SECURE": "false",
            # The gateway reports token use every second instead of every minute.
            "GATEPASS_GATEWAY_LAST_SEEN_INTERVAL": "1",
            # The tests' upstreams listen on loopback (the gateway runs beside them):
            # allowed explicitly, as a cluster admin allows an upstream outside a namespace.
            "GATEPASS_UPSTREAM_ALLOW": "127.0.0.1",
            # The tests play the ingress in front of the gateway on loopback: its
            # X-Forwarded-For is believed (IP rules), as an admin configures for theirs.
            "GATEPASS_TRUSTED_PROXIES": "127.0.0.1",
            # spec.rollout Auto may restart workloads, as the chart's operator.rollout.enabled allows.
            "GATEPASS_ROLLOUT": "true",
            # ...and ends a rotation's grace early after seconds, not ten minutes, of quiet.
            "GATEPASS_ROLLOUT_SETTLE_PERIOD": str(SETTLE_PERIOD),
            **extra_env,
        }
        flag = [] if extra_env.get("GATEPASS_STANDALONE") == "false" else ["--standalone"]
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gatepass", "operator", *flag],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 30) -> None:
        assert self.proc is not None
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        wait_http_ok(url, self.proc, "operator", self.logfile, timeout)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.wait_exit()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.wait_exit(20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    def log_text(self) -> str:
        return self.logfile.read_text(errors="replace")
