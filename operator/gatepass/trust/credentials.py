"""Credential format: Client IDs, Client Secrets and the hash kept in status.

Client ID: ``<32 lowercase hex>.access``, Cloudflare's shape, so clients that
validate it keep working.

Client Secret: ``gpst_`` + 43 base62 characters (256 random bits) + 6 base62
characters of CRC-32 over the prefix and body. The prefix lets secret scanners
find leaked gatepass secrets; the checksum lets them (and the gateway) tell a
real one from random text without any lookup, as GitHub's and Cloudflare's
newer tokens do.

Only a SHA-256 of the secret leaves the Secret: a 256-bit random value needs
no slow KDF, and the gateway can verify with one hash per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

CLIENT_ID_SUFFIX = ".access"
SECRET_PREFIX = "gpst_"  # noqa: S105 - the public prefix
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 43  # ceil(256 / log2(62))
_CHECK_LEN = 6  # ceil(32 / log2(62))
SECRET_LENGTH = len(SECRET_PREFIX) + _BODY_LEN + _CHECK_LEN
_CLIENT_ID = re.compile(r"^[0-9a-f]{32}\.access$")
_SECRET = re.compile(rf"^{SECRET_PREFIX}[0-9A-Za-z]{{{_BODY_LEN + _CHECK_LEN}}}$")
_SECRET_ANYWHERE = re.compile(rf"{SECRET_PREFIX}[0-9A-Za-z]{{{_BODY_LEN + _CHECK_LEN}}}")


def _base62(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        out.append(_ALPHABET[digit])
    if value:
        raise ValueError("value does not fit")
    return "".join(reversed(out))


def _checksum(text: str) -> str:
    return _base62(zlib.crc32(text.encode()), _CHECK_LEN)


def new_client_id() -> str:
    return secrets.token_hex(16) + CLIENT_ID_SUFFIX


def new_client_secret() -> str:
    body = _base62(secrets.randbits(256), _BODY_LEN)
    head = SECRET_PREFIX + body
    return head + _checksum(head)


def is_client_id(text: str) -> bool:
    return bool(_CLIENT_ID.match(text))


def is_client_secret(text: str) -> bool:
    """Shape and checksum only: says nothing about whether the secret is valid anywhere."""
    if not _SECRET.match(text):
        return False
    head, check = text[:-_CHECK_LEN], text[-_CHECK_LEN:]
    return hmac.compare_digest(_checksum(head), check)


def contains_client_secret(text: str) -> bool:
    """Whether a Client Secret (shape and checksum) is anywhere in ``text``, whatever
    surrounds it: how a secret is told apart in a header the gateway does not read."""
    if SECRET_PREFIX not in text:  # the common case, at the cost of one substring search
        return False
    return any(is_client_secret(m.group()) for m in _SECRET_ANYWHERE.finditer(text))


def secret_hash(secret: str) -> str:
    """The value kept in status: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def session_tag(secret_hash_: str) -> str:
    """What a session JWT carries of the secret that minted it (``gatepass_cred``): enough
    to refuse the JWT once that secret stops working, nothing usable without it."""
    return hashlib.sha256(b"gatepass-session\0" + secret_hash_.encode()).hexdigest()[:16]
