"""Caddy around the forward-auth configuration the README shows (gatepass.proxyconfigs.caddy),
on loopback for the e2e test (standard library only)."""

from __future__ import annotations

import shutil
from pathlib import Path

from gatepass import proxyconfigs

# No admin endpoint, no certificates, nothing kept outside the test's directory: the
# site block is the README's, served over plain HTTP on one loopback port.
_GLOBAL = """{{
\tadmin off
\tauto_https off
\tdefault_bind 127.0.0.1
\tstorage file_system {dir}
}}

"""


def path() -> str | None:
    return shutil.which("caddy")


def forward_auth(port: int, gateway: int, upstream: int) -> str:
    """proxyconfigs.caddy on loopback: any host on ``port``, gatepass and the origin on theirs."""
    site = proxyconfigs.Site(f"http://:{port}", f"127.0.0.1:{gateway}", f"127.0.0.1:{upstream}")
    return proxyconfigs.caddy(site)


def write(directory: Path, site: str) -> Path:
    conf = directory / "Caddyfile"
    conf.write_text(_GLOBAL.format(dir=directory / "caddy-data") + site)
    return conf
