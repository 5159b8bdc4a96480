"""JWT signing keys: generated and rotated by the operator, loaded by the gateway.

They live in one Secret (default ``gatepass-signing-keys``) as pairs of entries
``<kid>.key`` (PKCS#8 PEM) and ``<kid>.crt`` (a self-signed X.509 certificate
for Cloudflare's ``public_cert`` field). The newest certificate's key signs;
every key in the Secret verifies, so tokens minted before a rotation keep
verifying until the old key is dropped, after more than the longest session.

Parsing a PEM key costs ~30 ms (OpenSSL's key check): the gateway does it only
when the Secret changes, never per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)
ROTATE_EVERY = timedelta(weeks=6)
# The previous key verifies this long after its successor took over: Cloudflare's
# 7 days, unless a session may live longer (see keep_after_successor).
KEEP_AFTER_SUCCESSOR = timedelta(days=7)
# Room for clocks that disagree a little, and for a session minted just before a rotation.
SESSION_MARGIN = timedelta(hours=1)
LONGEST_SESSION = timedelta(hours=720)  # the CRD's cap on sessionDuration: the cert covers it


def keep_after_successor(longest_session: timedelta) -> timedelta:
    """How long a replaced key keeps verifying: 7 days as Cloudflare, never less than the
    longest session it may have signed (plus a margin), so no valid session is cut."""
    return max(KEEP_AFTER_SUCCESSOR, longest_session + SESSION_MARGIN)


@dataclass(frozen=True)
class KeyMaterial:
    """What is stored per key in the Secret."""

    kid: str
    key_pem: bytes = field(repr=False)
    cert_pem: bytes


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    public_key: rsa.RSAPublicKey
    cert_pem: str
    not_before: datetime

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


def kid_of(public_key: rsa.RSAPublicKey) -> str:
    """64 hex characters, like Cloudflare's key IDs: SHA-256 of the public key."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def generate(now: datetime, issuer: str) -> KeyMaterial:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = kid_of(key.public_key())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"gatepass signing key {kid[:16]}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + ROTATE_EVERY + LONGEST_SESSION + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(issuer)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyMaterial(
        kid=kid,
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def to_secret_data(keys: list[KeyMaterial]) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for k in keys:
        data[f"{k.kid}.key"] = k.key_pem
        data[f"{k.kid}.crt"] = k.cert_pem
    return data


def materials(data: dict[str, bytes]) -> list[KeyMaterial]:
    """Pairs found in Secret data; an entry without its partner is ignored."""
    kids = {name[: -len(".key")] for name in data if name.endswith(".key")}
    return [
        KeyMaterial(kid, data[f"{kid}.key"], data[f"{kid}.crt"])
        for kid in sorted(kids)
        if f"{kid}.crt" in data
    ]


def cert_not_before(cert_pem: bytes) -> datetime:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_before_utc


def load(data: dict[str, bytes]) -> list[SigningKey]:
    """Parse every key (slow: once per Secret change). Newest first."""
    keys = []
    for m in materials(data):
        try:
            private = serialization.load_pem_private_key(m.key_pem, password=None)
            not_before = cert_not_before(m.cert_pem)
            cert = m.cert_pem.decode()
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            # One bad entry must not stop the others (nor later updates) from loading.
            log.error("signing key %s is unreadable and is skipped: %s", m.kid[:12], type(e).__name__)
            continue
        if not isinstance(private, rsa.RSAPrivateKey):
            log.error("signing key %s is not an RSA key and is skipped", m.kid[:12])
            continue
        public = private.public_key()
        if kid_of(public) != m.kid:
            log.error("signing key %s does not match its name and is skipped", m.kid[:12])
            continue  # a renamed entry would sign with a kid that verifies nothing
        keys.append(
            SigningKey(
                kid=m.kid, private_key=private, public_key=public, cert_pem=cert, not_before=not_before
            )
        )
    return sorted(keys, key=lambda k: k.not_before, reverse=True)


@dataclass(frozen=True)
class RotationPlan:
    generate: bool
    drop: tuple[str, ...]
    wake_at: datetime


def plan_rotation(
    ages: dict[str, datetime],
    now: datetime,
    rotate_every: timedelta = ROTATE_EVERY,
    keep_after_successor: timedelta = KEEP_AFTER_SUCCESSOR,
    rotate_now: bool = False,
) -> RotationPlan:
    """Pure: given each key's not-before time, generate a new key? drop which?
    ``rotate_now``: asked for (an annotation), whatever the newest key's age."""
    order = sorted(ages.items(), key=lambda kv: kv[1], reverse=True)
    newest = order[0][1] if order else None
    generate = newest is None or now >= newest + rotate_every or rotate_now
    drop: list[str] = []
    # Each key is kept until its successor has been active long enough.
    for (kid, _), (_, successor_since) in zip(order[1:], order[:-1], strict=True):
        if now >= successor_since + keep_after_successor:
            drop.append(kid)
    deadlines = [newest + rotate_every] if newest else []
    deadlines += [s + keep_after_successor for (_, s) in order[:-1] if now < s + keep_after_successor]
    wake = min([d for d in deadlines if d > now], default=now + rotate_every)
    return RotationPlan(generate=generate, drop=tuple(drop), wake_at=wake)
