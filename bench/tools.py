"""The programs the benchmarks run, found or installed (standard library only):
wrk and nginx from Debian's packages, oauth2-proxy built with ``go install`` (pinned) into
``~/.cache/gatepass/tools``. The oauth2-proxy interop test uses the same build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools" / "localcluster")]

from tests.support import nginx as nginx_conf  # noqa: E402

from clusterbuild import cache_root, ensure_debian_packages  # noqa: E402

OAUTH2_PROXY = "github.com/oauth2-proxy/oauth2-proxy/v7"
OAUTH2_PROXY_VERSION = "v7.15.6"  # the newest v7 the Go module proxy serves here


def wrk() -> str:
    if shutil.which("wrk") is None:
        ensure_debian_packages({"wrk": "wrk"}, "the benchmarks (wrk)")
    return shutil.which("wrk") or "wrk"


def nginx() -> str:
    if nginx_conf.path() is None:
        ensure_debian_packages({"nginx": "nginx-light"}, "the benchmarks (nginx)")
    return nginx_conf.path() or "nginx"


def oauth2_proxy() -> str:
    """The oauth2-proxy binary, built once (a few minutes on 2 cores, cold)."""
    bindir = cache_root() / "tools" / f"oauth2-proxy-{OAUTH2_PROXY_VERSION}"
    exe = bindir / "oauth2-proxy"
    if not exe.exists():
        print(f"[tools] building oauth2-proxy {OAUTH2_PROXY_VERSION} (go install, once)", file=sys.stderr)
        env = dict(os.environ, GOBIN=str(bindir), GOFLAGS="-mod=mod")
        subprocess.run(["go", "install", f"{OAUTH2_PROXY}@{OAUTH2_PROXY_VERSION}"], env=env, check=True)
    return str(exe)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"

    return {
        "python": sys.version.split()[0],
        "wrk": first_line([wrk(), "-v"]),
        "nginx": first_line([nginx(), "-v"]),
        "oauth2-proxy": OAUTH2_PROXY_VERSION,
    }
