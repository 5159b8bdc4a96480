"""How long a proxy may reuse a forward-auth answer (gateway setting
``authorize_cache_seconds``; the nginx configuration in gatepass.proxyconfigs caches it).

Only an admission by a session (cookie or ``cf-access-token``) is reusable, and only for
that session: the session is the secret a cache key must hold, so nobody without it is
answered from the cache. Everything else is ``no-store``: requests with credentials (a
cache key holding a Client Secret would keep it; keyed on the Client ID alone, anyone
could replay the answer), refusals, bypasses, pods' ServiceAccount tokens, and sessions
whose token or application has a rate limit (every request must be counted). A reused
answer ends no later than the session's exp and never lasts longer than the bound, so a
revocation (deletion, disabling, revoke-sessions) holds through the cache within the
bound of reaching the gateway.
"""

from __future__ import annotations

import math

NO_STORE = {"Cache-Control": "no-store"}
# What the decision depends on, among the check's headers (a proxy's cache key must also
# hold its host, original path and client address: proxyconfigs.py's does).
VARY = "Cookie, Cf-Access-Token, X-Forwarded-Host, X-Forwarded-Uri, X-Original-URI, X-Forwarded-For"


def cache_headers(reusable_until: float | None, now: float, bound: int) -> dict[str, str]:
    """The answer's caching headers. ``Cache-Control: private, max-age=N`` for HTTP caches;
    ``X-Accel-Expires: @T`` for nginx, whose cache counts whole seconds: an entry stored
    with an absolute expiry T lives until T + 1, so T is the last whole second before the
    end (within the bound, on nginx's clock). It comes first: nginx 1.22 lets it override
    a Cache-Control it has not read yet only."""
    if reusable_until is None or bound <= 0:
        return dict(NO_STORE)
    end = min(now + bound, reusable_until)
    max_age, last_second = math.floor(end - now), math.floor(end) - 1
    if max_age <= 0 or last_second < math.floor(now):
        return dict(NO_STORE)
    return {
        "X-Accel-Expires": f"@{last_second}",
        "Cache-Control": f"private, max-age={max_age}",
        "Vary": VARY,
    }
