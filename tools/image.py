"""Build gatepass's image from the real Dockerfile without a Docker engine, and load
it into the local node.

Standard library only. ``make image`` runs ``build`` then ``load`` into the
cluster of ``make cluster-up``:

    python tools/image.py build          # print the image archive's path
    python tools/image.py load DIR       # build, then import into DIR's node (if one runs)
    python tools/image.py release TAG    # the image as released at TAG (archive path, name)

How, and why this way:

* **buildah** builds ``Dockerfile`` as it is (``buildah bud``), RUN steps with no
  network at all.
* **The base image** is the Dockerfile's ``BASE_IMAGE`` build argument. Users
  get the official Python image; no registry is reachable here, so the base is
  made locally with mmdebstrap (Debian bookworm: python3, python3-venv, passwd,
  ca-certificates), once, and kept in buildah's storage.
* **The wheels** (the versions uv.lock pins, hash-checked, plus uv and the build
  backend) are made on this machine by pip, which can reach PyPI, into a cache
  keyed by uv.lock; the build mounts them read-only and installs with
  ``--no-index``, running the Dockerfile's own ``uv export`` of the lock.
* The result is saved as a docker-archive under the name the chart uses by
  default (``<image.repository>:<appVersion>``, the published name), so
  ``helm install`` needs no ``--set`` once the node has it: with
  ``pullPolicy: IfNotPresent`` the kubelet never asks the registry.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "localhost/gatepass/python-base:bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "passwd", "ca-certificates")
sys.path.insert(0, str(ROOT / "tools" / "localcluster"))

from clusterbuild import cache_root, ensure_debian_packages  # noqa: E402


def log(msg: str) -> None:
    print(f"[image] {msg}", file=sys.stderr, flush=True)


def app_version(root: Path = ROOT) -> str:
    for line in (root / "charts" / "gatepass" / "Chart.yaml").read_text().splitlines():
        if line.startswith("appVersion:"):
            return line.split(":", 1)[1].strip().strip("\"'")
    raise RuntimeError("charts/gatepass/Chart.yaml has no appVersion")


def chart_repository(root: Path = ROOT) -> str:
    """values.yaml's image.repository (read by line: this file uses the stdlib only)."""
    in_image = False
    for line in (root / "charts" / "gatepass" / "values.yaml").read_text().splitlines():
        if not line.startswith(" "):
            in_image = line.startswith("image:")
        elif in_image and line.strip().startswith("repository:"):
            return line.split(":", 1)[1].split("#")[0].strip().strip("\"'")
    raise RuntimeError("charts/gatepass/values.yaml has no image.repository")


def image_name() -> str:
    """The chart's default image: what a pod spec names."""
    return f"{chart_repository()}:{app_version()}"


def qualified(name: str) -> str:
    """The name containerd stores: a short name is Docker Hub's (docker.io/library/...)."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"


def uv_version(root: Path = ROOT) -> str:
    for line in (root / "pyproject.toml").read_text().splitlines():
        if line.startswith("required-version"):
            return line.split("==", 1)[1].strip().strip("\"'")
    raise RuntimeError("pyproject.toml has no [tool.uv] required-version")


def _uv() -> Path:
    uv = ROOT / ".uv" / uv_version() / "bin" / "uv"
    if not uv.exists():
        raise SystemExit(f"{uv} is missing: `make venv` installs it")
    return uv


def _cache() -> Path:
    d = cache_root() / "image"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _containers_conf() -> Path:
    """buildah settings this machine needs: runc (crun cannot use the hybrid cgroup
    layout), cgroupfs, and rlimits no higher than the hard limits we have."""
    conf = _cache() / "containers.conf"
    conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
    )
    return conf


def _env() -> dict[str, str]:
    return dict(os.environ, CONTAINERS_CONF=str(_containers_conf()), BUILDAH_LAYERS="true")


def _ensure_tools() -> None:
    try:
        ensure_debian_packages(
            {"buildah": "buildah", "mmdebstrap": "mmdebstrap", "runc": "runc"}, "building the image"
        )
    except RuntimeError as e:
        raise SystemExit(str(e)) from None


def _buildah(*args: str, capture: bool = True) -> str:
    out = subprocess.run(["buildah", *args], env=_env(), capture_output=capture, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"buildah {args[0]} failed:\n{out.stderr if capture else ''}")
    return out.stdout if capture else ""


def _has_image(name: str) -> bool:
    return (
        subprocess.run(
            ["buildah", "inspect", "--type", "image", name], env=_env(), capture_output=True
        ).returncode
        == 0
    )


def ensure_base() -> str:
    """The local stand-in for python:3.11-slim-bookworm, made once."""
    key = hashlib.sha256(" ".join(BASE_PACKAGES).encode()).hexdigest()[:12]
    name = f"{BASE}-{key}"
    if _has_image(name):
        return name
    rootfs = _cache() / f"base-{key}.tar"
    if not rootfs.exists():
        log("making the base image with mmdebstrap (once, about a minute)")
        tmp = rootfs.with_suffix(".tmp.tar")
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=essential",
                f"--include={','.join(BASE_PACKAGES)}",
                "--quiet",
                "bookworm",
                str(tmp),
            ],
            check=True,
        )
        tmp.rename(rootfs)
    ctr = _buildah("from", "scratch").strip()
    try:
        _buildah("add", ctr, str(rootfs), "/")
        _buildah("config", "--cmd", "/bin/sh", "--env", "LANG=C.UTF-8", ctr)
        _buildah("commit", "--rm", ctr, name)
    except BaseException:
        subprocess.run(["buildah", "rm", ctr], env=_env(), capture_output=True)
        raise
    return name


# As the Dockerfile runs it: the locked runtime dependencies, with their hashes.
EXPORT_TO = ("--frozen", "--no-dev", "--no-emit-project", "--quiet", "--format=requirements-txt", "-o")


def ensure_wheels(root: Path = ROOT) -> Path:
    """Wheels for the Dockerfile's offline pip, once per uv.lock: every locked runtime
    dependency (hash-checked against the lock), uv itself and the build backend. ``root``:
    the source tree whose uv.lock and pyproject.toml say which (a release's, too)."""
    key = hashlib.sha256((root / "uv.lock").read_bytes() + uv_version(root).encode()).hexdigest()[:12]
    wheels = _cache() / f"wheels-{key}"
    if (wheels / ".complete").exists():
        return wheels
    log("collecting wheels (once per uv.lock)")
    wheels.mkdir(parents=True, exist_ok=True)
    requirements = wheels / "requirements.txt"
    subprocess.run(
        [str(_uv()), "export", *EXPORT_TO, str(requirements)],
        cwd=root,
        check=True,
    )
    pip = [
        sys.executable,
        "-m",
        "pip",
        "-q",
        "--disable-pip-version-check",
        "wheel",
        "--wheel-dir",
        str(wheels),
    ]
    subprocess.run([*pip, "--require-hashes", "-r", str(requirements)], check=True)
    subprocess.run([*pip, "setuptools>=69", "wheel", f"uv=={uv_version(root)}"], check=True)
    (wheels / ".complete").touch()
    return wheels


def build_args(wheelhouse: str, root: Path = ROOT) -> dict[str, str]:
    """The Dockerfile's build arguments (BASE_IMAGE aside) for an offline build that finds
    the wheels of :func:`ensure_wheels` at ``wheelhouse`` (tests run the Dockerfile with them)."""
    return {"PIP_OPTS": f"--no-index --find-links={wheelhouse}", "UV_VERSION": uv_version(root)}


def _bud(root: Path, name: str) -> None:
    """``buildah bud`` of ``root``'s Dockerfile, offline, tagged ``name``."""
    _ensure_tools()
    base = ensure_base()
    wheels = ensure_wheels(root)
    log(f"building {name} from {root / 'Dockerfile'} (base {base})")
    _buildah(
        "bud",
        "--pull=never",
        "--network=none",
        "--layers",
        "--quiet",
        f"--volume={wheels}:/wheelhouse:ro",
        f"--build-arg=BASE_IMAGE={base}",
        *(f"--build-arg={k}={v}" for k, v in build_args("/wheelhouse", root).items()),
        f"--tag={name}",
        f"--file={root / 'Dockerfile'}",
        str(root),
    )


def build() -> Path:
    """Build the image; return its docker-archive (cached by content)."""
    name = image_name()
    _bud(ROOT, name)
    image_id = _buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", name).strip()
    archive = _cache() / f"gatepass-{image_id[:16]}.tar"
    if not archive.exists():
        for old in _cache().glob("gatepass-*.tar"):
            old.unlink()
        tmp = archive.with_suffix(".tmp")
        _buildah("push", "--quiet", name, f"docker-archive:{tmp}:{qualified(name)}")
        tmp.rename(archive)
    log(f"{name}: {archive.stat().st_size / 2**20:.0f} MiB")
    return archive


# Each release's commit, for a clone that came without its tags (main's history has them).
RELEASE_COMMITS = {"v0.2.0": "dc827e1b16d0027521121442e4f7b88cd9de7249"}


def release_commit(tag: str) -> str:
    """The commit a release tag names (the tag, else RELEASE_COMMITS)."""
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{tag}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        if tag in RELEASE_COMMITS:
            return RELEASE_COMMITS[tag]
        raise RuntimeError(f"no tag {tag} in {ROOT} (git fetch --tags)")
    return out.stdout.strip()


def export_tree(commit: str, dest: Path, *paths: str) -> Path:
    """The files of ``commit`` (or only ``paths`` of it) written under ``dest``, as they were
    committed: ``git archive``, so the repository gains no worktree to clean up after a
    crash."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, *paths], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def released_name(tree: Path) -> str:
    """The name a release's image is loaded under here: the chart's repository and
    ``<appVersion>-released`` (the working tree's build may carry the same version)."""
    return f"{chart_repository(tree)}:{app_version(tree)}-released"


def build_release(tag: str) -> tuple[Path, str]:
    """The image as released at ``tag``: that commit's Dockerfile, uv.lock and sources,
    built once per machine (a docker-archive cached under the commit; a lock keeps two
    sessions from building it at once). Returns the archive and the image's name."""
    commit = release_commit(tag)
    releases = _cache() / "releases"
    releases.mkdir(exist_ok=True)
    archive = releases / f"gatepass-{commit[:16]}.tar"
    with open(releases / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with tempfile.TemporaryDirectory(dir=releases) as tmp:
            tree = export_tree(commit, Path(tmp))
            name = released_name(tree)
            if archive.exists():
                return archive, name
            started = time.monotonic()
            _bud(tree, name)
            part = archive.with_suffix(".tmp")
            _buildah("push", "--quiet", name, f"docker-archive:{part}:{qualified(name)}")
            part.rename(archive)
        log(f"{name} ({tag}, {commit[:12]}) built in {time.monotonic() - started:.0f}s: {archive}")
        return archive, name


def load(workdir: Path) -> None:
    """Import the image into the node of the cluster `make cluster-up` started in workdir."""
    import localcluster

    if not (workdir / "state.json").exists():
        log(f"no cluster runs in {workdir} (make cluster-up): built only")
        print(build())
        return
    state = json.loads((workdir / "state.json").read_text())
    if state.get("node") is None:
        raise SystemExit(f"the cluster in {workdir} has no node (GATEPASS_NODE=0?)")
    record = localcluster.NodeRecord.load(state["node"])
    if record is None:
        raise SystemExit(f"the node of {workdir} is not running")
    archive = build()
    node = localcluster.LocalNode(Path(), Path(record.datadir), record)
    node.import_image(archive, qualified(image_name()))
    log(f"loaded {image_name()} into node {record.index}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        print(build())
        return 0
    if argv[:1] == ["release"] and len(argv) == 2:
        archive, name = build_release(argv[1])
        print(archive, name)
        return 0
    if argv[:1] == ["load"] and len(argv) == 2:
        load(Path(argv[1]).resolve())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
