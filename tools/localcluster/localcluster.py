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
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
K8S_VERSION = "v1.36.4"
K8S_COMMIT = "v1.36.4"  # module builds have no git tree; the tag names the source
HELM_VERSION = "v3.21.4"
CONTROLLERS = ",".join(
    [
        "garbage-collector-controller",
        "namespace-controller",
        "deployment-controller",
        "replicaset-controller",
        "serviceaccount-controller",
        "serviceaccount-token-controller",
    ]
)


def log(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
    return env


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gatepass"
    return Path(os.environ.get("GATEPASS_CACHE", default))


def build_key() -> str:
    h = hashlib.sha256()
    for name in sorted(p.name for p in HERE.iterdir() if p.suffix == ".go" or p.name in ("go.mod", "go.sum")):
        h.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    gover = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True, env=_go_env()
    )
    h.update(gover.stdout.encode() + K8S_VERSION.encode() + HELM_VERSION.encode())
    return h.hexdigest()[:16]


def _run_with_ticker(cmd: list[str], what: str, cwd: Path, env: dict[str, str]) -> None:
    """Run a long, silent build, saying every minute that it is still going."""
    start = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(60):
            log(f"  still building {what}: {time.monotonic() - start:.0f}s")

    t = threading.Thread(target=tick, daemon=True)
    t.start()
    try:
        subprocess.run(cmd, cwd=cwd, env=env, check=True)
    finally:
        done.set()
    log(f"  {what} built in {time.monotonic() - start:.0f}s")


def build() -> Path:
    """Return the directory holding `localcluster` and `helm`, building them if needed."""
    out = cache_root() / "localcluster" / build_key()
    if (out / "localcluster").exists() and (out / "helm").exists():
        return out
    log(f"building the control plane into {out}")
    log("a cold build downloads ~1 GB of modules and compiles for 10-25 min on 2 cores; warm: seconds")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    env = _go_env()
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    major, minor = K8S_VERSION[1:].split(".")[:2]
    ldflags = " ".join(
        f"-X {pkg}.{k}={v}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for k, v in (
            ("gitVersion", K8S_VERSION),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitCommit", K8S_COMMIT),
            ("gitTreeState", "clean"),
            ("buildDate", date),
        )
    )
    _run_with_ticker(
        ["go", "build", "-trimpath", "-ldflags", f"-s -w {ldflags}", "-o", str(tmp / "localcluster"), "."],
        "kube-apiserver, kube-controller-manager, kubectl, etcd",
        HERE,
        env,
    )
    env_helm = dict(env, GOBIN=str(tmp))
    _run_with_ticker(
        [
            "go",
            "install",
            "-trimpath",
            "-ldflags",
            f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
            f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",
        ],
        "helm",
        HERE,
        env_helm,
    )
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    log(f"built: {size:.0f} MiB in {out}")
    return out


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass
class LocalCluster:
    """One control plane: etcd + kube-apiserver in one process, controller-manager in another."""

    bindir: Path
    datadir: Path
    pids: list[int] = field(default_factory=list)
    port: int = 0
    _apiserver_args: list[str] = field(default_factory=list, repr=False)
    _procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def kubeconfig(self) -> Path:
        return self.datadir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        logf = open(self.datadir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [str(self.bindir / "localcluster"), *args],
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

    def _get(self, path: str) -> int:
        ctx = ssl.create_default_context(cafile=str(self.datadir / "pki" / "ca.crt"))
        token = (self.datadir / "pki" / "admin.token").read_text()
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except (OSError, ssl.SSLError):
            return 0

    def _wait(self, what: str, path: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            for pid in self.pids:
                if not self.running(pid):
                    raise RuntimeError(f"{what}: a control-plane process exited; see {self.datadir}/*.log")
            if (self.datadir / "pki" / "admin.token").exists() and self._get(path) == 200:
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

    def start(self, timeout: float = 90, preinstall: tuple[Path, ...] = ()) -> float:
        """Start and wait until ready. ``preinstall``: manifests (CRDs) applied before the
        controller-manager starts, because its garbage collector picks up new resource
        types only every 30 s; installed first, owner deletions cascade at once."""
        t0 = time.monotonic()
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.port, etcd, peer = free_ports(3)
        self._apiserver_args = [
            "apiserver",
            f"--data-dir={self.datadir}",
            f"--secure-port={self.port}",
            f"--etcd-port={etcd}",
            f"--etcd-peer-port={peer}",
        ]
        self._spawn("apiserver", self._apiserver_args)
        deadline = t0 + timeout
        self._wait("kube-apiserver /readyz", "/readyz", deadline)
        for path in preinstall:
            self.kubectl("apply", "--server-side", "-f", str(path))
            self.kubectl("wait", "--for=condition=established", "--timeout=60s", "-f", str(path))
        pki = self.datadir / "pki"
        self._spawn(
            "controller-manager",
            [
                "controller-manager",
                f"--kubeconfig={self.kubeconfig}",
                f"--controllers={CONTROLLERS}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=false",
                "--concurrent-gc-syncs=5",
            ],
        )
        self._wait("default ServiceAccount", "/api/v1/namespaces/default/serviceaccounts/default", deadline)
        return time.monotonic() - t0

    def restart_apiserver(self, down_for: float = 0.0, timeout: float = 60) -> None:
        """Kill the apiserver (and its etcd) as a crash would, wait, start it again on the
        same ports and data: what clients see when the control plane restarts. (SIGKILL:
        a graceful stop drains watches for ~30 s; etcd's data is in the page cache.)"""
        pid = self.pids[0]
        _signal(pid, signal.SIGKILL)
        while self.running(pid):
            time.sleep(0.05)
        self.pids.remove(pid)
        self._procs.pop(pid, None)
        time.sleep(down_for)
        self._spawn("apiserver", self._apiserver_args)
        self.pids.insert(0, self.pids.pop())  # the apiserver stays first
        self._wait("kube-apiserver /readyz after restart", "/readyz", time.monotonic() + timeout)

    def stop(self) -> None:
        """End exactly the processes this cluster started, then remove its data."""
        for pid in self.pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
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
    cluster = LocalCluster(bindir=bindir, datadir=workdir / "data")
    shutil.rmtree(cluster.datadir, ignore_errors=True)
    try:
        took = cluster.start(preinstall=(HERE.parent.parent / "crds",))
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
    state.write_text(json.dumps({"pids": cluster.pids, "server": cluster.server}))
    log(f"ready in {took:.1f}s at {cluster.server}")
    log(f"export KUBECONFIG={workdir / 'kubeconfig'} PATH={bin_links}:$PATH")


def down(workdir: Path) -> None:
    state = workdir / "state.json"
    if not state.exists():
        log("not running")
        return
    old = json.loads(state.read_text())
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
