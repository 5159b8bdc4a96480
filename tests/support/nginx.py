"""nginx around the configurations the tests and the benchmarks run (standard library only).

The forward-auth configuration itself is gatepass.proxyconfigs.nginx, the one the README
shows: the e2e test proves it lets the right requests through, the benchmark measures it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gatepass import proxyconfigs

_MAIN = """{user}
worker_processes 1;
daemon off;
pid {dir}/{name}.pid;
error_log {dir}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/{name}-body;
  proxy_temp_path {dir}/{name}-proxy;
  fastcgi_temp_path {dir}/{name}-fastcgi;
  uwsgi_temp_path {dir}/{name}-uwsgi;
  scgi_temp_path {dir}/{name}-scgi;
{http}
}}
"""

# The trivial origin of the benchmarks: 200 "ok", nothing else.
ORIGIN = """server {{
  listen 127.0.0.1:{port} backlog=4096;
  location / {{ return 200 "ok\\n"; }}
}}
"""


def origin(port: int) -> str:
    return ORIGIN.format(port=port)


def forward_auth(port: int, gateway: int, upstream: int, cache: Path | None = None) -> str:
    """proxyconfigs.nginx on loopback: listening on ``port``, gatepass and the origin on
    theirs; the checks' answers kept in ``cache`` (None: every request asks gatepass)."""
    site = proxyconfigs.Site(
        f"127.0.0.1:{port} backlog=4096",
        f"127.0.0.1:{gateway}",
        f"127.0.0.1:{upstream}",
        None if cache is None else str(cache),
    )
    return proxyconfigs.nginx(site)


# nginx proxying to the origin and nothing else: the least one hop costs.
PROXY = """upstream origin {{ server 127.0.0.1:{upstream}; keepalive 64; }}
server {{
  listen 127.0.0.1:{port} backlog=4096;
  location / {{
    proxy_set_header Host $host;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass http://origin;
  }}
}}
"""


def proxy(port: int, upstream: int) -> str:
    return PROXY.format(port=port, upstream=upstream)


def path() -> str | None:
    sbin = "/usr/sbin/nginx"
    return shutil.which("nginx") or (sbin if os.path.exists(sbin) else None)


def write(directory: Path, name: str, http: str) -> Path:
    """``directory/name.conf``: the main configuration around one ``http`` body."""
    conf = directory / f"{name}.conf"
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the test's files
    body = "\n".join("  " + line if line else line for line in http.splitlines())
    conf.write_text(_MAIN.format(user=user, dir=directory, name=name, http=body))
    return conf
