"""nginx configurations the tests and the benchmarks run (standard library only).

``forward_auth`` is the one forward-auth configuration: the README points to it, the e2e
test proves it lets the right requests through, and the benchmark measures it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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

# nginx asks gatepass (auth_request) and forwards only what it allows, with the assertion;
# the client's secret never reaches the origin. Keep-alive to both, as a production ingress.
# The subrequest carries the client's own headers: whatever gatepass reads from nginx is set
# here, X-Forwarded-For included, or a client writes it (nginx being a trusted proxy, its
# X-Forwarded-For is the client's address to IP rules). $remote_addr: nginx faces clients;
# behind a load balancer, $proxy_add_x_forwarded_for, with the balancer's addresses in
# gateway.trustedProxies too (and nginx's set_real_ip_from left off, or $remote_addr is a
# header's value).
FORWARD_AUTH = """  upstream gatepass {{ server 127.0.0.1:{gateway}; keepalive 64; }}
  upstream origin {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /_gatepass {{
      internal;
      proxy_pass http://gatepass/cdn-cgi/access/authorize;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Uri $request_uri;
      proxy_set_header X-Forwarded-For $remote_addr;
    }}
    location / {{
      auth_request /_gatepass;
      auth_request_set $gatepass_jwt $upstream_http_cf_access_jwt_assertion;
      auth_request_set $gatepass_cookie $upstream_http_set_cookie;
      add_header Set-Cookie $gatepass_cookie;
      proxy_set_header Cf-Access-Jwt-Assertion $gatepass_jwt;
      proxy_set_header CF-Access-Client-Secret "";
      proxy_set_header Host $host;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://origin;
    }}
  }}"""

# The trivial origin of the benchmarks: 200 "ok", nothing else.
ORIGIN = """  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ return 200 "ok\\n"; }}
  }}"""


def path() -> str | None:
    sbin = "/usr/sbin/nginx"
    return shutil.which("nginx") or (sbin if os.path.exists(sbin) else None)


def write(directory: Path, name: str, http: str, **values: object) -> Path:
    """``directory/name.conf``: the main configuration around one ``http`` body."""
    conf = directory / f"{name}.conf"
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the test's files
    body = http.format(**values)
    conf.write_text(_MAIN.format(user=user, dir=directory, name=name, http=body))
    return conf
