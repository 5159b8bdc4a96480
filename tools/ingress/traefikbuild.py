"""Traefik for the local node, built from its Go module and cached outside the clone.

Standard library only (like tools/localcluster). What a build holds, in
``<cache>/traefik/<version>-<key>/``:

* ``traefik``: the proxy, built as the main module (its go.mod has ``replace``
  directives, so ``go install ...@version`` refuses it), with the version in
  ldflags as the release sets it;
* ``crds/``: its Kubernetes CRD provider's CRDs and RBAC (files of its module), and
  the Gateway API's standard-channel CRDs (files of ``sigs.k8s.io/gateway-api``);
* ``image.tar``: a one-binary image (buildah, from scratch), for the node's containerd.

Three things the module proxy here does not serve, and what stands in for them
(nothing that a forward-auth proxy in front of gatepass uses):

* the nested module ``./pkg/config/dynamic/ext`` (its zip leaves it out): an
  extension point of empty structs, written here as upstream has it;
* the DNS-01 providers of lego (several cloud SDKs are refused): this build has
  none, so an ACME DNS challenge fails with "not built in";
* Traefik's fork of go-http-auth: the upstream module it forks (v0.4.0, the same API),
  for the basic/digest auth middlewares.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "localcluster"))

from clusterbuild import _run_with_ticker, cache_root, go_env, log  # noqa: E402

TRAEFIK_VERSION = "v3.7.13"
GATEWAY_API_VERSION = "v1.6.3"
MODULE = "github.com/traefik/traefik/v3"
IMAGE = f"localhost/gatepass/traefik:{TRAEFIK_VERSION}"
HTTP_AUTH = "github.com/abbot/go-http-auth@v0.4.0"

EXT_GO = """package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}

// RouterIng is a RouterIng extension for ingress provider annotations.
type RouterIng struct{}

// ToRouter converts RouterIng to a Router.
func (r RouterIng) ToRouter() Router { return Router{} }
"""

NO_DNS_PROVIDERS = """package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName: this build of lego carries no DNS-01 provider.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("DNS provider %q is not built in", name)
}
"""


def build_key() -> str:
    """What the build depends on besides the versions: this file (its patches) and Go."""
    gover = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True, env=go_env()
    )
    h = hashlib.sha256(Path(__file__).read_bytes() + gover.stdout.encode() + GATEWAY_API_VERSION.encode())
    return h.hexdigest()[:12]


def build_dir() -> Path:
    return cache_root() / "traefik" / f"{TRAEFIK_VERSION}-{build_key()}"


def _module_dir(path_at_version: str, env: dict[str, str], cwd: Path) -> Path:
    out = subprocess.run(
        ["go", "mod", "download", "-json", path_at_version],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=cwd,
    )
    return Path(json.loads(out.stdout)["Dir"])


def _writable_copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    for p in [dest, *dest.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200)
    return dest


def _lego_version(gomod: str) -> str:
    return next(
        line.split()[1]
        for line in gomod.splitlines()
        if line.strip().startswith("github.com/go-acme/lego/v5 ")
    )


def _build_binary(tmp: Path, out: Path, env: dict[str, str]) -> None:
    src = _writable_copy(_module_dir(f"{MODULE}@{TRAEFIK_VERSION}", env, tmp), tmp / "traefik")
    ext = src / "pkg" / "config" / "dynamic" / "ext"
    ext.mkdir(parents=True, exist_ok=True)
    (ext / "go.mod").write_text("module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n")
    (ext / "ext.go").write_text(EXT_GO)
    lego_version = _lego_version((src / "go.mod").read_text())
    lego = _writable_copy(_module_dir(f"github.com/go-acme/lego/v5@{lego_version}", env, src), tmp / "lego")
    dns = lego / "providers" / "dns"
    for f in dns.glob("*.go"):
        f.unlink()
    (dns / "dns.go").write_text(NO_DNS_PROVIDERS)
    edits = [
        f"-replace=github.com/go-acme/lego/v5={lego}",
        f"-replace=github.com/abbot/go-http-auth={HTTP_AUTH}",
    ]
    subprocess.run(["go", "mod", "edit", *edits], cwd=src, env=env, check=True)
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pkg = f"{MODULE}/pkg/version"
    ldflags = f"-s -w -X {pkg}.Version={TRAEFIK_VERSION} -X {pkg}.BuildDate={date}"
    build_env = dict(env, GOFLAGS=env["GOFLAGS"] + " -mod=mod")  # go.sum gains the stand-ins
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "traefik"), "./cmd/traefik"]
    _run_with_ticker(cmd, f"traefik {TRAEFIK_VERSION}", src, build_env)


def _copy_crds(tmp: Path, out: Path, env: dict[str, str]) -> None:
    crds = out / "crds"
    crds.mkdir()
    traefik = _module_dir(f"{MODULE}@{TRAEFIK_VERSION}", env, tmp)
    ref = traefik / "docs" / "content" / "reference" / "dynamic-configuration"
    shutil.copy(ref / "kubernetes-crd-definition-v1.yml", crds / "traefik-crds.yaml")
    shutil.copy(ref / "kubernetes-crd-rbac.yml", crds / "traefik-rbac.yaml")
    gateway = _module_dir(f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}", env, tmp)
    docs = [p.read_text() for p in sorted((gateway / "config" / "crd" / "standard").glob("*.yaml"))]
    (crds / "gateway-api-standard.yaml").write_text("\n---\n".join(docs))
    for p in crds.iterdir():
        p.chmod(0o644)


def _image(out: Path) -> None:
    """A scratch image holding the binary, run as a non-root user (buildah, as gatepass's)."""
    sys.path.insert(0, str(HERE.parent))
    import image  # tools/image.py: buildah's settings for this machine

    def buildah(*args: str) -> str:
        return subprocess.run(
            ["buildah", *args], env=image._env(), capture_output=True, text=True, check=True
        ).stdout.strip()

    ctr = buildah("from", "scratch")
    try:
        buildah("copy", "--chmod=0755", ctr, str(out / "traefik"), "/traefik")
        buildah("config", "--entrypoint", '["/traefik"]', "--user", "65532:65532", ctr)
        buildah("commit", "--rm", ctr, IMAGE)
    except BaseException:
        subprocess.run(["buildah", "rm", ctr], env=image._env(), capture_output=True)
        raise
    buildah("push", "--quiet", IMAGE, f"docker-archive:{out / 'image.tar'}:{IMAGE}")


def build() -> Path:
    """The build directory (binary, CRDs, image archive), built if missing."""
    out = build_dir()
    if (out / "image.tar").exists():
        return out
    log(f"building Traefik {TRAEFIK_VERSION} into {out} (cold: ~10 min on 2 cores; warm: seconds)")
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    part = Path(tempfile.mkdtemp(prefix="out-", dir=out.parent))
    env = go_env()
    try:
        _build_binary(tmp, part, env)
        _copy_crds(tmp, part, env)
        _image(part)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(tmp)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    if out.exists():
        shutil.rmtree(out)
    part.rename(out)
    size = (out / "image.tar").stat().st_size / 2**20
    log(f"Traefik {TRAEFIK_VERSION} built in {time.monotonic() - started:.0f}s; image {size:.0f} MiB")
    return out


if __name__ == "__main__":
    os.umask(0o022)
    print(build())
