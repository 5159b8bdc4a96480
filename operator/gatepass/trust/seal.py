"""Status seals: how the gateway (and the operator itself) know the operator wrote a status.

A namespace role with ``*`` on gatepass.dev may write status subresources, so
status is tenant-writable. What the gateway acts on across tenants is therefore
either sealed or derived, with a 256-bit key that only the operator and the
gateway can read (an entry in the signing-key Secret, in the operator's
namespace):

* a ServiceToken's credential record (Client ID, secret hashes, expiry, and the
  pending issuance) carries ``status.seal``, an HMAC over those fields *and the
  object's uid, namespace and name*: a copied or edited record does not verify,
  so it is ignored by the gateway and reissued by the operator;
* an AccessApplication's ``aud`` is not stored at all but derived from its uid:
  unique per object, and no tenant can make its application mint JWTs carrying
  another application's audience;
* which last-seen shard holds a token's reports is keyed the same way: a tenant cannot
  choose names whose reports land in another tenant's shard.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime

from gatepass.contract import ObjectKey, format_ts, last_seen_shard_name
from gatepass.models.servicetoken import ServiceTokenStatus

KEY_BYTES = 32
_VERSION = "v1"

Fields = tuple[str | None, ...]


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _ts(t: datetime | None) -> str | None:
    return None if t is None else format_ts(t)


def token_fields(uid: str, namespace: str, name: str, status: ServiceTokenStatus) -> Fields:
    """Everything in a token's status that grants access (or will, once the Secret holds it),
    or withholds it: ``deactivatedAt`` (spec.inactivity) is appended only when set, so the
    seals of every status without it stay as they were before it existed."""
    fields = (
        uid,
        namespace,
        name,
        status.client_id,
        status.secret_hash,
        _ts(status.expires_at),
        status.previous_secret_hash,
        _ts(status.previous_secret_expires_at),
        status.pending_client_id,
        status.pending_secret_hash,
        status.pending_action,
    )
    return fields if status.deactivated_at is None else (*fields, _ts(status.deactivated_at))


def has_credentials(status: ServiceTokenStatus) -> bool:
    """Does the status claim anything a seal must vouch for?"""
    return any(
        (
            status.client_id,
            status.secret_hash,
            status.previous_secret_hash,
            status.pending_client_id,
            status.pending_secret_hash,
        )
    )


class Sealer:
    """HMAC-SHA256 with the operator's seal key. repr() never shows the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"a seal key has at least {KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return f"Sealer(id={self.key_id})"

    @property
    def key_id(self) -> str:
        """A public fingerprint, for logs: tells two keys apart, reveals nothing."""
        return hashlib.sha256(b"gatepass-seal-id\0" + self._key).hexdigest()[:12]

    def _mac(self, purpose: str, fields: Sequence[str | None]) -> bytes:
        message = json.dumps([purpose, *fields], separators=(",", ":")).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def seal(self, fields: Fields) -> str:
        mac = self._mac("servicetoken", fields)
        return f"{_VERSION}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def verify(self, fields: Fields, seal: str | None) -> bool:
        return seal is not None and hmac.compare_digest(self.seal(fields).encode(), seal.encode())

    def trusts(self, uid: str, namespace: str, name: str, status: ServiceTokenStatus) -> bool:
        """A status with no credentials needs no seal; any other needs a valid one."""
        return not has_credentials(status) or self.verify(
            token_fields(uid, namespace, name, status), status.seal
        )

    def last_seen_shard(self, prefix: str, key: ObjectKey) -> str:
        """The ConfigMap of the gateway's report (contract.LAST_SEEN_SHARDS) that holds a
        token's entries. Keyed: with public hashing, a tenant could pick names that all land
        in another tenant's shard and fill it. One HMAC, ~2 µs (the message has no "/" or
        NUL in names to blur it)."""
        mac = hmac.digest(self._key, f"last-seen-shard\0{key[0]}/{key[1]}".encode(), "sha256")
        return last_seen_shard_name(prefix, int.from_bytes(mac[:8]))

    def aud(self, uid: str) -> str:
        """An AccessApplication's audience tag: 64 hex characters, like Cloudflare's."""
        return self._mac("aud", (uid,)).hex()
