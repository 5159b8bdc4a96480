"""Which request a forward-auth check is about.

Proxies tell the authorize endpoint the original URI in one of two shapes:

* a header: ``X-Forwarded-Uri`` (Traefik, Caddy, the nginx configuration gatepass
  ships) or ``X-Original-URI``;
* Envoy's HTTP ext_authz: its configured path prefix with the original path (and
  query) appended, ``/cdn-cgi/access/authorize/<original path>``; the original
  ``:authority`` arrives as Host.

The appended path is the client's: it is read exactly as written (the raw path,
never a decoded one) and goes through the same normalisation and ambiguity checks as
any original URI (routing/paths.py). A check that carries both shapes must name one
path: otherwise a header the proxy let through from the client (Istio's and Envoy
Gateway's header lists take patterns) would choose what is checked while the proxy
forwards another path.
"""

from __future__ import annotations

from gatepass.routing.paths import AmbiguousPath, segments

AUTHORIZE_PATH = "/cdn-cgi/access/authorize"
AUTHORIZE_SEGMENTS = segments(AUTHORIZE_PATH)
_PREFIX = AUTHORIZE_PATH + "/"


def original_uri(raw_path: str, query: str, header: str | None) -> str | None:
    """The original URI of a check that reached ``raw_path`` (``query``: its query
    string), given the forwarded-URI header's value (None: none sent). None when the
    check names none. Raises AmbiguousPath for a check whose path reached the endpoint
    through a spelling other than the literal prefix, or whose two shapes disagree."""
    if raw_path == AUTHORIZE_PATH:
        return header
    if not raw_path.startswith(_PREFIX):
        raise AmbiguousPath(raw_path)  # routed here by a decoded spelling: nobody's prefix
    appended = raw_path[len(AUTHORIZE_PATH) :]
    if header is None:
        return appended + ("?" + query if query else "")
    if header.split("?", 1)[0].split("#", 1)[0] != appended:
        raise AmbiguousPath(raw_path)
    return header


def under_authorize(path: str) -> bool:
    """Whether some reading of a normalized request path is the authorize endpoint's
    (``/CDN-CGI/access/authorize/x``, ``/cdn-cgi//access%2Fauthorize``): never an
    origin's to answer, since a check proxied there would run the request twice."""
    return segments(path)[: len(AUTHORIZE_SEGMENTS)] == AUTHORIZE_SEGMENTS
