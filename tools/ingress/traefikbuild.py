"""Traefik for the local node, built from its Go module and cached outside the clone.

Standard library only (like tools/localcluster). What a build holds, in
``<cache>/traefik/<version>-<key>/``:

* ``traefik``: the proxy, built as the main module (its go.mod has ``replace``
  directives, so ``go install ...@version`` refuses it), with the version in
  ldflags as the release sets it;
* ``crds/``: its CRD provider's CRDs, both Kubernetes providers' RBAC (files of its
  module), and the Gateway API's standard-channel CRDs (``sigs.k8s.io/gateway-api``);
* ``image.tar``: a one-binary image (buildah, from scratch), for the node's containerd.

Three things the module proxy here does not serve, and what stands in for them
(nothing that a forward-auth proxy in front of gatepass uses):

* the nested module ``./pkg/config/dynamic/ext`` (its zip leaves it out): an
  extension point of empty structs, written here as upstream has it;
* the DNS-01 providers of lego (several cloud SDKs are refused): this build has
  none, so an ACME DNS challenge fails with "not built in";
* Traefik's fork of go-http-auth (basic/digest auth middlewares): the module it forks, at
  v0.4.0, plus the two functions the fork adds, written on v0.4.0's own checks.
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

# What Traefik calls that the fork adds to v0.4.0: the htpasswd check on its own (v0.4.0
# does it inside BasicAuth.CheckAuth, with these compareFuncs), and the answer to a stale
# digest nonce (a fresh challenge: the client asks again).
HTTP_AUTH_FORK_GO = """package auth

import (
	"net/http"
	"strings"
)

// CheckSecret reports whether password matches the htpasswd secret.
func CheckSecret(password, secret string) bool {
	compare := compareFuncs[0].compare
	for _, cmp := range compareFuncs[1:] {
		if strings.HasPrefix(secret, cmp.prefix) {
			compare = cmp.compare
			break
		}
	}
	return compare([]byte(secret), []byte(password)) == nil
}

// RequireAuthStale answers a stale nonce with a new challenge.
func (a *DigestAuth) RequireAuthStale(w http.ResponseWriter, r *http.Request) {
	a.RequireAuth(w, r)
}
"""

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
    """What the binary depends on besides Traefik's version: the stand-ins and Go."""
    gover = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True, env=go_env()
    )
    parts = (EXT_GO, NO_DNS_PROVIDERS, HTTP_AUTH, HTTP_AUTH_FORK_GO, GATEWAY_API_VERSION, gover.stdout)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


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
    http_auth = _writable_copy(_module_dir(HTTP_AUTH, env, src), tmp / "go-http-auth")
    (http_auth / "go.mod").write_text("module github.com/abbot/go-http-auth\n\ngo 1.16\n")
    (http_auth / "fork.go").write_text(HTTP_AUTH_FORK_GO)
    edits = [
        f"-replace=github.com/go-acme/lego/v5={lego}",
        f"-replace=github.com/abbot/go-http-auth={http_auth}",
    ]
    subprocess.run(["go", "mod", "edit", *edits], cwd=src, env=env, check=True)
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pkg = f"{MODULE}/pkg/version"
    ldflags = f"-s -w -X {pkg}.Version={TRAEFIK_VERSION} -X {pkg}.BuildDate={date}"
    build_env = dict(env, GOFLAGS=env["GOFLAGS"] + " -mod=mod")  # go.sum gains the stand-ins
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "traefik"), "./cmd/traefik"]
    _run_with_ticker(cmd, f"traefik {TRAEFIK_VERSION}", src, build_env)


CRDS = ("traefik-crds.yaml", "traefik-rbac.yaml", "gateway-rbac.yaml", "gateway-api-standard.yaml")


def _copy_crds(tmp: Path, out: Path, env: dict[str, str]) -> None:
    crds = out / "crds"
    crds.mkdir(exist_ok=True)
    traefik = _module_dir(f"{MODULE}@{TRAEFIK_VERSION}", env, tmp)
    ref = traefik / "docs" / "content" / "reference" / "dynamic-configuration"
    shutil.copy(ref / "kubernetes-crd-definition-v1.yml", crds / "traefik-crds.yaml")
    shutil.copy(ref / "kubernetes-crd-rbac.yml", crds / "traefik-rbac.yaml")
    shutil.copy(ref / "kubernetes-gateway-rbac.yml", crds / "gateway-rbac.yaml")
    shutil.copy(gateway_api_crds(), crds / "gateway-api-standard.yaml")
    for p in crds.iterdir():
        p.chmod(0o644)


def gateway_api_crds() -> Path:
    """The Gateway API's standard-channel CRDs in one file, from its Go module (the module
    proxy), cached by version: seconds cold, a file look-up warm. Traefik's build copies
    it; tests/e2e/test_httproutes.py installs it into the test cluster."""
    out = cache_root() / "gateway-api" / GATEWAY_API_VERSION / "gateway-api-standard.yaml"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mod-", dir=out.parent))
    try:
        gateway = _module_dir(f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}", go_env(), tmp)
        docs = [p.read_text() for p in sorted((gateway / "config" / "crd" / "standard").glob("*.yaml"))]
        part = tmp / out.name
        part.write_text("\n---\n".join(docs))
        part.chmod(0o644)
        part.rename(out)  # whole or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


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
    """The build directory (binary, CRDs, image archive), each part made if missing."""
    out = build_dir()
    crds_done = all((out / "crds" / f).exists() for f in CRDS)
    if (out / "image.tar").exists() and crds_done:
        return out
    env = go_env()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    try:
        if not (out / "image.tar").exists():
            log(f"building Traefik {TRAEFIK_VERSION} into {out} (cold: ~10 min on 2 cores; warm: seconds)")
            started = time.monotonic()
            part = Path(tempfile.mkdtemp(prefix="out-", dir=out.parent))
            try:
                _build_binary(tmp, part, env)
                _image(part)
            except BaseException:
                shutil.rmtree(part, ignore_errors=True)
                raise
            shutil.rmtree(out, ignore_errors=True)
            part.rename(out)
            size = (out / "image.tar").stat().st_size / 2**20
            log(f"Traefik {TRAEFIK_VERSION} built in {time.monotonic() - started:.0f}s; image {size:.0f} MiB")
        _copy_crds(tmp, out, env)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(tmp)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    os.umask(0o022)
    print(build())
