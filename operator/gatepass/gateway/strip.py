"""What never reaches an origin, whatever any application's settings say: every form a
credential takes, told by its shape rather than by where an application reads it.

An application's owner writes its settings and runs its origin. Were credentials
stripped only where the application reads them, the owner could stop reading a form
(Basic, its JSON header, ServiceAccount tokens) and harvest what other tenants' clients
still send. So a request header is dropped, for every application, when its value holds

- a gatepass Client Secret (prefix and checksum, trust/credentials.py), under any name:
  the one-header JSON under whatever name an application ever configured, or none;
- the one-header JSON itself (an object with ``cf-access-client-secret``), the secret
  escaped or not;
- ``Basic`` credentials whose decoded text holds a Client Secret;
- a JWT, bare or after a scheme (``Bearer``), with Kubernetes' claims (``kubernetes.io``,
  also the legacy ``kubernetes.io/serviceaccount/...``: a ServiceAccount token, whichever
  audience) or issued by one of ``issuers`` (the cluster's service-account issuer; the
  gateway, whose session JWTs are replayable at their own application).

Cloudflare's own headers go by name (gateway/proxy.py), and so do ``CF_Authorization``
cookies (:func:`cookies`), but for the one that is this request's assertion.

By content, not by a list of names tenants write: a name in such a list (``Accept``,
``Traceparent``) would be stripped from every other tenant's origin too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection

from gatepass.gateway.headers import COOKIE, JSON_CLIENT_SECRET
from gatepass.trust.credentials import contains_client_secret

K8S_CLAIMS = "kubernetes.io"  # projected tokens' claim, and the prefix of legacy tokens' claims
# A JWT whose header is JSON as every issuer writes it ('{"' is "eyJ"); groups: the payload.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*")
MAX_JWTS = 4  # JWT-like words looked into per header: a header made of them costs the gateway little
_SESSION_COOKIE = COOKIE.lower()


def is_credential(value: str, issuers: Collection[str | None] = ()) -> bool:
    """Whether a header's value carries a credential (see the module's docstring)."""
    if contains_client_secret(value):
        return True
    if JSON_CLIENT_SECRET in value and _is_credentials_json(value):
        return True
    if value[:6].lower() == "basic " and _basic_holds_secret(value[6:]):
        return True
    return "eyJ" in value and _holds_token(value, issuers)


def cookies(line: str, keep: str | None, issuers: Collection[str | None] = ()) -> str:
    """A ``Cookie`` header without gatepass sessions (but ``keep``, the assertion the origin
    gets anyway: origins written for Cloudflare may read the cookie) and without any
    cookie whose value is a credential; the others unchanged, in order."""
    if _SESSION_COOKIE not in line.lower() and not is_credential(line, issuers):
        return line
    kept = []
    for pair in line.split(";"):
        name, _, value = pair.strip().partition("=")
        session = name.lower() == _SESSION_COOKIE
        if (session and value.strip('"') != keep) or (not session and is_credential(value, issuers)):
            continue
        kept.append(pair.strip())
    return "; ".join(kept)


def _is_credentials_json(value: str) -> bool:
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and JSON_CLIENT_SECRET in doc


def _basic_holds_secret(encoded: str) -> bool:
    try:  # as leniently as an origin might decode it: spaces, missing or extra padding
        raw = base64.b64decode(encoded.strip() + "==", validate=False)
    except (binascii.Error, ValueError):
        return False
    return contains_client_secret(raw.decode("latin-1"))


def _holds_token(value: str, issuers: Collection[str | None]) -> bool:
    for i, match in enumerate(_JWT.finditer(value)):
        if i == MAX_JWTS:
            return False
        claims = _claims(match.group(1))
        if claims is None:
            continue
        iss = claims.get("iss")
        if (isinstance(iss, str) and iss in issuers) or any(k.startswith(K8S_CLAIMS) for k in claims):
            return True
    return False


def _claims(segment: str) -> dict[str, object] | None:
    """A JWT's payload, unverified: only its shape matters here."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return doc if isinstance(doc, dict) else None
