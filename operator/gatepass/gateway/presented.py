"""A service token's Client ID and Secret, as a request presents them: Cloudflare's two
headers; where the application allows, one header holding JSON, or Basic auth.

``Authorization`` may carry several things at one application (the JSON, Basic, a
ServiceAccount's ``Bearer`` token), so there each value is read by its shape:

=====================  =====================================================================
value                  read as
=====================  =====================================================================
a JSON object (``{``)  the one-header JSON, when ``readServiceTokensFromHeader: Authorization``
``Basic ...``          Basic credentials, when ``allowBasicAuth``
``Bearer ...``         a ServiceAccount token, when a policy names ServiceAccounts (auth.py)
anything else          no credential: the request is weighed without it
=====================  =====================================================================

A shape the application does not read is not refused either. Whatever it holds,
``Authorization`` never reaches the origin of an application that reads it
(AppRecord.credential_headers), and credentials never reach any origin (strip.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Protocol

from gatepass.gateway.headers import (
    AUTHORIZATION,
    CLIENT_ID_HEADER,
    CLIENT_SECRET_HEADER,
    JSON_CLIENT_ID,
    JSON_CLIENT_SECRET,
)
from gatepass.gateway.refusals import Reason, Refused
from gatepass.trust.credentials import is_client_id, is_client_secret

Presented = tuple[str, str] | None  # (Client ID, Secret), or nothing
BASIC = "basic "
_AUTHORIZATION = AUTHORIZATION.lower()


class Headers(Protocol):
    def getall(self, key: str, default: list[str]) -> list[str]: ...


def one(headers: Headers, name: str) -> tuple[str | None, bool]:
    """The header's single value, and whether it was sent more than once."""
    values = headers.getall(name, [])
    return (values[0] if len(values) == 1 else None), len(values) > 1


def is_authorization(name: str | None) -> bool:
    return name is not None and name.lower() == _AUTHORIZATION


def is_json_object(value: str) -> bool:
    """The shape of the one-header JSON: what else ``Authorization`` holds starts with a scheme."""
    return value.lstrip()[:1] == "{"


def _header_pair(headers: Headers) -> Presented:
    """``CF-Access-Client-Id`` and ``CF-Access-Client-Secret``."""
    client_id, dup_id = one(headers, CLIENT_ID_HEADER)
    client_secret, dup_secret = one(headers, CLIENT_SECRET_HEADER)
    if dup_id or dup_secret:
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
    if client_id is None or client_secret is None:
        if client_id == client_secret:
            return None
        raise Refused(Reason.INCOMPLETE_CREDENTIALS)
    return client_id, client_secret


def _parse_json(value: str) -> Presented:
    """``{"cf-access-client-id": ..., "cf-access-client-secret": ...}`` (Cloudflare's lowercase keys)."""
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
        raise Refused(Reason.MALFORMED_CREDENTIALS) from None
    pair = (doc.get(JSON_CLIENT_ID), doc.get(JSON_CLIENT_SECRET)) if isinstance(doc, dict) else None
    if pair is None or not all(isinstance(v, str) for v in pair):
        raise Refused(Reason.MALFORMED_CREDENTIALS)
    return str(pair[0]), str(pair[1])


def _json_header(headers: Headers, name: str) -> Presented:
    """The one-header JSON under a name of the application's own: any value must be it."""
    value, dup = one(headers, name)
    if dup:
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
    return None if value is None else _parse_json(value)


def _authorization(headers: Headers, scheme: str) -> str | None:
    """The ``Authorization`` value of one shape (``{`` for the JSON, or a scheme), or None;
    that shape beside another ``Authorization`` value is refused: which counts is not ours
    to guess."""
    values = headers.getall(AUTHORIZATION, [])
    if scheme == "{":
        ours = [v for v in values if is_json_object(v)]
    else:
        ours = [v[len(scheme) :] for v in values if v[: len(scheme)].lower() == scheme]
    if ours and len(values) > 1:
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
    return ours[0] if ours else None


def _basic(headers: Headers) -> Presented:
    """``Authorization: Basic base64(clientId:clientSecret)``."""
    encoded = _authorization(headers, BASIC)
    if encoded is None:
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Refused(Reason.MALFORMED_CREDENTIALS) from None
    client_id, colon, client_secret = raw.partition(":")
    if not colon:
        raise Refused(Reason.MALFORMED_CREDENTIALS)
    return client_id, client_secret


def _one_header(headers: Headers, name: str) -> Presented:
    if not is_authorization(name):
        return _json_header(headers, name)
    value = _authorization(headers, "{")
    return None if value is None else _parse_json(value)


def credentials(headers: Headers, json_header: str | None, basic_auth: bool) -> Presented:
    """The Client ID and Secret, in whichever one of the ways the application accepts;
    more than one way at once is refused (which would win is not for us to guess)."""
    ways = [_header_pair(headers)]
    if json_header is not None:
        ways.append(_one_header(headers, json_header))
    if basic_auth:
        ways.append(_basic(headers))
    pairs = [w for w in ways if w is not None]
    if len(pairs) != 1:
        if not pairs:
            return None
        raise Refused(Reason.DUPLICATE_CREDENTIALS)
    client_id, client_secret = pairs[0]
    if not is_client_id(client_id) or not is_client_secret(client_secret):
        raise Refused(Reason.MALFORMED_CREDENTIALS)
    return client_id, client_secret
