"""Build, start and stop the local Kubernetes control plane.

Standard library only: it runs before the project's virtualenv exists
(``make test`` on a fresh machine builds the cluster first).

    python tools/localcluster/localcluster.py build    # print the bin dir
    python tools/localcluster/localcluster.py up DIR   # start in the background
    python tools/localcluster/localcluster.py down DIR # stop what `up` started

The build is cached outside the clone, keyed by the Go sources, go.sum and the
Go version, so CI and later sessions on the same machine reuse it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clusternode
from clusterbuild import HELM_VERSION, K8S_VERSION, build, log
from clusternode import LocalNode, NodeRecord, NodeUnavailable, cleanup

__all__ = [
    "HELM_VERSION",
    "K8S_VERSION",
    "LocalCluster",
    "LocalNode",
    "NodeRecord",
    "NodeUnavailable",
    "build",
    "clusternode",
]

HERE = Path(__file__).resolve().parent
CONTROLLERS = [
    "garbage-collector-controller",
    "namespace-controller",
    "deployment-controller",
    "replicaset-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",  # kube-root-ca.crt, which SA token volumes mount
    "resourcequota-controller",  # quotas as every cluster enforces them (tests hit one on purpose)
    "clusterrole-aggregation-controller",  # the built-in admin/edit/view roles take in aggregated ones
]
NODE_CONTROLLERS = [
    "node-lifecycle-controller",  # Ready nodes lose the not-ready taint
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "endpoints-controller",
    "pod-garbage-collector-controller",
    "daemonset-controller",
    "statefulset-controller",
    "job-controller",
    "disruption-controller",
    "taint-eviction-controller",
]


def node_wanted() -> bool:
    """GATEPASS_NODE=0 starts the control plane alone (no pods, no root needed)."""
    return os.environ.get("GATEPASS_NODE", "1") not in ("0", "false", "no", "")


# Ports the kernel never hands out as a connection's own (ip_local_port_range starts at
# 32768 by default): a control plane restarted on its ports (kill_apiserver) must find them
# free, and a client's outgoing connection could otherwise hold one meanwhile.
PORTS = range(20000, 32768)


def _ephemeral() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def free_ports(n: int) -> list[int]:
    """n ports free now, outside the kernel's ephemeral range (random, so that clusters
    started side by side rarely try the same)."""
    ephemeral = _ephemeral()
    candidates = [p for p in PORTS if p not in ephemeral]
    ports: list[int] = []
    for port in random.sample(candidates, len(candidates)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError(f"no {n} free ports in {PORTS.start}-{PORTS.stop - 1} outside {ephemeral}")


@dataclass
class LocalCluster:
    """One cluster: etcd + kube-apiserver in one process, controller-manager in another,
    and (``node=True``) kube-scheduler and a node that runs real pods (clusternode.py)."""

    bindir: Path
    datadir: Path
    pids: list[int] = field(default_factory=list)
    port: int = 0
    node: bool = False
    address: str = "127.0.0.1"
    local_node: LocalNode | None = None
    _apiserver_args: list[str] = field(default_factory=list, repr=False)
    _procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def kubeconfig(self) -> Path:
        return self.datadir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.port}"

    def _spawn(self, name: str, args: list[str], program: str = "localcluster") -> None:
        logf = open(self.datadir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [str(self.bindir / program), *args],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, not the cluster
        )
        logf.close()
        self.pids.append(proc.pid)
        self._procs[proc.pid] = proc

    def running(self, pid: int) -> bool:
        proc = self._procs.get(pid)
        return proc.poll() is None if proc is not None else _alive(pid)

    def _request(self, path: str) -> tuple[int, bytes]:
        try:
            # Inside the try: the API server writes its credentials while we poll, and a CA
            # file not there yet (or half written) means "not ready", not a failed start.
            ctx = ssl.create_default_context(cafile=str(self.datadir / "pki" / "ca.crt"))
            token = (self.datadir / "pki" / "admin.token").read_text()
            req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as e:
            return int(e.code), b""
        except (OSError, ssl.SSLError):
            return 0, b""

    def _wait(self, what: str, path: str, deadline: float, check: object = None) -> None:
        while time.monotonic() < deadline:
            for pid in self.pids:
                if not self.running(pid):
                    raise RuntimeError(f"{what}: a cluster process exited; see {self.datadir}/*.log")
            if (self.datadir / "pki" / "admin.token").exists():
                status, body = self._request(path)
                if status == 200 and (check is None or (callable(check) and check(body))):
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not reached; see {self.datadir}/*.log")

    def kubectl(self, *args: str) -> str:
        return subprocess.run(
            [str(self.bindir / "localcluster"), "kubectl", f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout

    def start(self, timeout: float = 120, preinstall: tuple[Path, ...] = ()) -> float:
        """Start and wait until ready. ``preinstall``: manifests (CRDs) applied before the
        controller-manager starts, because its garbage collector picks up new resource
        types only every 30 s; installed first, owner deletions cascade at once."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        self.datadir.mkdir(parents=True, exist_ok=True)
        service_cidr = "10.0.0.0/24"
        if self.node:
            # The node's network comes first: the API server serves on its host end.
            self.local_node = LocalNode.claim(self.bindir, self.datadir / "node")
            self.address = self.local_node.addr.host_ip
            service_cidr = self.local_node.addr.service_cidr
        self.port, etcd, peer = free_ports(3)
        self._apiserver_args = [
            "apiserver",
            f"--data-dir={self.datadir}",
            f"--secure-port={self.port}",
            f"--etcd-port={etcd}",
            f"--etcd-peer-port={peer}",
            f"--address={self.address}",
            f"--service-cidr={service_cidr}",
        ]
        self._spawn("apiserver", self._apiserver_args)
        self._wait("kube-apiserver /readyz", "/readyz", deadline)
        for path in preinstall:
            self.kubectl("apply", "--server-side", "-f", str(path))
            self.kubectl("wait", "--for=condition=established", "--timeout=60s", "-f", str(path))
        pki = self.datadir / "pki"
        controllers = CONTROLLERS + (NODE_CONTROLLERS if self.node else [])
        self._spawn(
            "controller-manager",
            [
                "controller-manager",
                f"--kubeconfig={self.kubeconfig}",
                f"--controllers={','.join(controllers)}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=false",
                "--concurrent-gc-syncs=5",
            ],
        )
        if self.local_node is not None:
            self._spawn(
                "scheduler",
                ["scheduler", f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--secure-port=0"],
                program="localnode",
            )
            self.local_node.start(self.kubeconfig, self.port, pki / "ca.crt", deadline)
            name = self.local_node.addr.name
            self._wait(f"node {name} Ready", f"/api/v1/nodes/{name}", deadline, _node_ready)
        self._wait("default ServiceAccount", "/api/v1/namespaces/default/serviceaccounts/default", deadline)
        return time.monotonic() - t0

    def restart_apiserver(self, down_for: float = 0.0, timeout: float = 60) -> None:
        """Kill the apiserver (and its etcd) as a crash would, wait, start it again on the
        same ports and data: what clients see when the control plane restarts. (SIGKILL:
        a graceful stop drains watches for ~30 s; etcd's data is in the page cache.)"""
        self.kill_apiserver()
        time.sleep(down_for)
        self.start_apiserver(timeout)

    def kill_apiserver(self) -> None:
        """SIGKILL the apiserver and its etcd: an outage, until start_apiserver()."""
        pid = self.pids[0]
        _signal(pid, signal.SIGKILL)
        while self.running(pid):
            time.sleep(0.05)
        self.pids.remove(pid)
        self._procs.pop(pid, None)

    def start_apiserver(self, timeout: float = 60) -> None:
        """Start it again on the same ports and data, after kill_apiserver()."""
        self._spawn("apiserver", self._apiserver_args)
        self.pids.insert(0, self.pids.pop())  # the apiserver stays first
        self._wait("kube-apiserver /readyz after restart", "/readyz", time.monotonic() + timeout)

    def stop(self) -> None:
        """End the node (everything it made), then exactly the processes this cluster
        started, then remove its data."""
        try:
            if self.local_node is not None:
                self.local_node.stop()
                self.local_node = None
        finally:  # a node that fails to clean up must not leave the control plane running
            self._stop_control_plane()

    def _stop_control_plane(self) -> None:
        for pid in self.pids:
            _signal(pid, signal.SIGTERM)
        # The data goes with the cluster, so nothing is lost by not waiting for the
        # API server's graceful shutdown (it drains watches for up to 30 s).
        deadline = time.monotonic() + 3
        for pid in self.pids:
            while self.running(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.running(pid):
                _signal(pid, signal.SIGKILL)
                while self.running(pid):
                    time.sleep(0.05)
        self.pids.clear()
        self._procs.clear()
        shutil.rmtree(self.datadir, ignore_errors=True)


def _node_ready(body: bytes) -> bool:
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """True while pid runs and is a localcluster process (pids from an earlier `up`)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie or a reused pid is not ours any more
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return "localcluster" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def up(workdir: Path) -> None:
    """Start a cluster in the background for `make cluster-up` / `make demo`."""
    state = workdir / "state.json"
    if state.exists():
        old = json.loads(state.read_text())
        if all(_alive(p) for p in old["pids"]):
            log(f"already running at {old['server']}")
            return
        down(workdir)
    bindir = build()
    cluster = LocalCluster(bindir=bindir, datadir=workdir / "data", node=node_wanted())
    shutil.rmtree(cluster.datadir, ignore_errors=True)
    try:
        # No CRDs beforehand: `helm install` owns them (it refuses to adopt objects it
        # did not create).
        took = cluster.start()
    except BaseException:
        cluster.stop()
        raise
    bin_links = workdir / "bin"
    bin_links.mkdir(parents=True, exist_ok=True)
    for name, target in (("kubectl", "localcluster"), ("helm", "helm")):
        link = bin_links / name
        link.unlink(missing_ok=True)
        link.symlink_to(bindir / target)
    shutil.copy(cluster.kubeconfig, workdir / "kubeconfig")
    node = None
    if cluster.local_node is not None:  # it outlives this process now
        cluster.local_node.record.launcher = 0
        cluster.local_node.record.save()
        node = cluster.local_node.record.index
    state.write_text(json.dumps({"pids": cluster.pids, "server": cluster.server, "node": node}))
    log(f"ready in {took:.1f}s at {cluster.server}")
    log(f"export KUBECONFIG={workdir / 'kubeconfig'} PATH={bin_links}:$PATH")


def down(workdir: Path) -> None:
    state = workdir / "state.json"
    if not state.exists():
        log("not running")
        return
    old = json.loads(state.read_text())
    if old.get("node") is not None:
        record = NodeRecord.load(old["node"])
        if record is not None and record.datadir == str(workdir / "data" / "node"):
            cleanup(record)
    LocalCluster(bindir=Path(), datadir=workdir / "data", pids=old["pids"]).stop()
    state.unlink()
    (workdir / "kubeconfig").unlink(missing_ok=True)
    log("stopped")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "up", "down"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "build":
        print(build())
        return 0
    workdir = Path(argv[1] if len(argv) > 1 else ".localcluster").resolve()
    up(workdir) if argv[0] == "up" else down(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
