"""Build the local cluster's programs from Go modules, cached outside the clone.

Standard library only (it runs before the project's virtualenv exists). The
cache directory is keyed by every Go source, go.mod and go.sum under
tools/localcluster and the Go version, so CI and later sessions on the same
machine reuse it, and any change rebuilds everything into a fresh directory.

What one build holds:

* ``localcluster``: etcd + kube-apiserver, kube-controller-manager, kubectl;
* ``localnode``: kubelet, kube-proxy, kube-scheduler;
* ``pause``: PID 1 of the node's pod sandboxes;
* ``coredns``: the cluster DNS (module ``dns/``, its own go.mod);
* ``helm``: built as its release Makefile builds it (version and Kubernetes
  capabilities in ldflags, otherwise ``helm template`` assumes Kubernetes 1.20).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
K8S_VERSION = "v1.36.4"
K8S_COMMIT = "v1.36.4"  # module builds have no git tree; the tag names the source
HELM_VERSION = "v3.21.4"
PROGRAMS = ("localcluster", "localnode", "pause", "coredns", "helm")


def log(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def ensure_debian_packages(programs: dict[str, str], what: str) -> list[str]:
    """Install the Debian packages of the programs (name or absolute path -> package)
    that are missing, when we are root on Debian; otherwise say which are needed.
    Returns the packages installed now."""
    missing = sorted({pkg for prog, pkg in programs.items() if not _have(prog)})
    if not missing:
        return []
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(
            f"{what} needs these Debian packages (as root: apt-get install {' '.join(missing)})"
        )
    log(f"installing {' '.join(missing)} for {what} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return missing


def _have(prog: str) -> bool:
    return Path(prog).exists() if prog.startswith("/") else shutil.which(prog) is not None


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
    return env


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gatepass"
    return Path(os.environ.get("GATEPASS_CACHE", default))


def _sources() -> list[Path]:
    return sorted(
        p for p in HERE.rglob("*") if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum"))
    )


def build_key() -> str:
    h = hashlib.sha256()
    for path in _sources():
        h.update(str(path.relative_to(HERE)).encode() + b"\0" + path.read_bytes())
    gover = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True, env=go_env()
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


def _k8s_ldflags() -> str:
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    major, minor = K8S_VERSION[1:].split(".")[:2]
    return " ".join(
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


def _helm_ldflags(env: dict[str, str]) -> str:
    """What helm's Makefile passes: its version, and the Kubernetes version its
    client-go speaks (which `helm template` reports as the cluster's)."""
    info = subprocess.run(
        ["go", "mod", "download", "-json", f"helm.sh/helm/v3@{HELM_VERSION}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=HERE,
    )
    gomod = Path(json.loads(info.stdout)["GoMod"]).read_text()
    client_go = next(
        line.split()[1] for line in gomod.splitlines() if line.strip().startswith("k8s.io/client-go ")
    )
    k8s_major = str(int(client_go[1:].split(".")[0]) + 1)  # client-go v0.x = Kubernetes 1.x
    k8s_minor = client_go[1:].split(".")[1]
    flags = [
        f"-X helm.sh/helm/v3/internal/version.{k}={v}"
        for k, v in (
            ("version", HELM_VERSION),
            ("metadata", ""),
            ("gitCommit", HELM_VERSION),
            ("gitTreeState", "clean"),
        )
    ]
    for pkg in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [
            f"-X helm.sh/helm/v3/{pkg}.k8sVersionMajor={k8s_major}",
            f"-X helm.sh/helm/v3/{pkg}.k8sVersionMinor={k8s_minor}",
        ]
    return " ".join(flags)


def build() -> Path:
    """Return the directory holding the programs, building them if needed."""
    out = cache_root() / "localcluster" / build_key()
    if all((out / name).exists() for name in PROGRAMS):
        return out
    log(f"building the local cluster into {out}")
    log("a cold build downloads ~1 GB of modules and compiles for 10-25 min on 2 cores; warm: seconds")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    env = go_env()
    k8s = _k8s_ldflags()

    def go_build(what: str, pkg: str, name: str, ldflags: str, cwd: Path = HERE) -> None:
        cmd = ["go", "build", "-trimpath", "-ldflags", f"-s -w {ldflags}", "-o", str(tmp / name), pkg]
        _run_with_ticker(cmd, what, cwd, env)

    try:
        go_build("kube-apiserver, kube-controller-manager, kubectl, etcd", ".", "localcluster", k8s)
        go_build("kubelet, kube-proxy, kube-scheduler", "./node", "localnode", k8s)
        go_build("pause", "./pause", "pause", "")
        go_build("coredns", ".", "coredns", "", cwd=HERE / "dns")
        env_helm = dict(env, GOBIN=str(tmp))
        _run_with_ticker(
            [
                "go",
                "install",
                "-trimpath",
                "-ldflags",
                f"-s -w {_helm_ldflags(env)}",
                f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",
            ],
            "helm",
            HERE,
            env_helm,
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    log(f"built: {size:.0f} MiB in {out}")
    return out


if __name__ == "__main__":
    print(build())
