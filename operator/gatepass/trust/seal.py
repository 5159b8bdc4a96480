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

Two seals, so that releases can be mixed during an upgrade or a rollback:

* ``status.seal`` (``v1.<mac>``), as gatepass 0.2 wrote and reads it, still written;
* ``status.sealV2`` (``v2.<sealed at, µs since 1970>.<mac>``): also over ``rotatedAt`` (it
  bounds how far the previous secret's grace may be moved) and over its own time, which
  orders the records the operator wrote for one object. A namespace that saved an older
  sealed record (before a rotation, an early end of grace, a deactivation) and writes it
  back presents a record older than one already seen: :class:`Freshness` remembers the
  newest time per token (in the operator and in each gateway, in memory), and an older
  record is read as untrusted. Readers of this release check ``sealV2`` when present, else
  ``seal`` alone (a record 0.2 wrote: time 0, the oldest); the operator adds ``sealV2`` at
  its first pass over each token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Collection, Sequence
from datetime import datetime

from gatepass.contract import ObjectKey, format_ts, last_seen_shard_name
from gatepass.models.servicetoken import ServiceTokenStatus

KEY_BYTES = 32
# A sealed time past this (year ~2286) is not one the operator wrote: read as no time.
_MAX_AT = 10**16

Fields = tuple[str | None, ...]


def _b64(mac: bytes) -> str:
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _ts(t: datetime | None) -> str | None:
    return None if t is None else format_ts(t)


def token_fields(uid: str, namespace: str, name: str, status: ServiceTokenStatus) -> Fields:
    """Everything in a token's status that grants access (or will, once the Secret holds it),
    or withholds it, or bounds a change to it: what a v2 seal covers."""
    return (
        *_v1_base(uid, namespace, name, status),
        _ts(status.deactivated_at),
        _ts(status.rotated_at),
    )


def vouching(uid: str, namespace: str, name: str, status: ServiceTokenStatus) -> tuple[Fields, str | None]:
    """The seal that vouches for a status (``sealV2``, or ``seal`` alone on a record 0.2
    wrote) and the fields it must cover."""
    if status.seal_v2 is not None:
        return token_fields(uid, namespace, name, status), status.seal_v2
    return v1_fields(uid, namespace, name, status), status.seal


def _v1_base(uid: str, namespace: str, name: str, status: ServiceTokenStatus) -> Fields:
    return (
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


def v1_fields(uid: str, namespace: str, name: str, status: ServiceTokenStatus) -> Fields:
    """v1 (gatepass 0.2): ``deactivatedAt`` appended only when set, ``rotatedAt`` not sealed."""
    fields = _v1_base(uid, namespace, name, status)
    return fields if status.deactivated_at is None else (*fields, _ts(status.deactivated_at))


def _v2_time(seal: str) -> int | None:
    parts = seal.split(".")
    if len(parts) != 3 or parts[0] != "v2" or not parts[1].isdigit() or len(parts[1]) > 16:
        return None
    at = int(parts[1])
    return at if at < _MAX_AT else None


def sealed_at(seal: str | None) -> int:
    """The time a v2 seal says it was made (µs since 1970; unverified: check the seal
    first); 0 for a v1 seal and for anything that does not parse."""
    return (_v2_time(seal) if seal else None) or 0


class Freshness:
    """The newest sealed time seen per token (namespace, name): a verified record older
    than that is a replay. In memory: after a restart the first record seen sets the mark."""

    def __init__(self) -> None:
        self._newest: dict[ObjectKey, int] = {}

    def stale(self, key: ObjectKey, seal: str | None) -> bool:
        return sealed_at(seal) < self._newest.get(key, 0)

    def see(self, key: ObjectKey, seal: str | None) -> None:
        """Record a seal that verified (and is not stale)."""
        at = sealed_at(seal)
        if at > self._newest.get(key, 0):
            self._newest[key] = at

    def newest(self, key: ObjectKey) -> int:
        return self._newest.get(key, 0)

    def forget(self, key: ObjectKey) -> None:
        self._newest.pop(key, None)

    def retain(self, keys: Collection[ObjectKey]) -> None:
        """Forget every token not in ``keys`` (a fresh listing)."""
        self._newest = {k: v for k, v in self._newest.items() if k in keys}


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

    def seal_v1(self, fields: Fields) -> str:
        """``status.seal`` as gatepass 0.2 reads it, over v1_fields()."""
        return f"v1.{_b64(self._mac('servicetoken', fields))}"

    def seal(self, fields: Fields, at: int = 0) -> str:
        """A v2 seal over ``fields`` (token_fields) made at ``at`` (µs since 1970)."""
        if not 0 <= at < _MAX_AT:
            raise ValueError("a seal's time lies between 1970 and 2286")
        mac = self._mac("servicetoken/v2", (str(at), *fields))
        return f"v2.{at}.{_b64(mac)}"

    def stamps(
        self, uid: str, namespace: str, name: str, status: ServiceTokenStatus, at: int = 0
    ) -> dict[str, str]:
        """Both seals of a status, as the wire has them (tests, benches, tools)."""
        return {
            "seal": self.seal_v1(v1_fields(uid, namespace, name, status)),
            "sealV2": self.seal(token_fields(uid, namespace, name, status), at),
        }

    def reseal(self, fields: Fields, previous: str | None, now: int, floor: int = 0) -> str:
        """The seal to write: ``previous`` when it is a v2 seal over these same fields (an
        unchanged record keeps its seal, so writing it again is no change), else a new one
        later than ``floor`` (the newest verified time known for the object: Freshness),
        even if this replica's clock is behind the one that wrote it. ``previous``'s own
        time is never a floor: it verified for other fields, if at all (a tenant's far-future
        time would otherwise push every later seal past the format's range)."""
        if previous is not None and self.verify(fields, previous):
            return previous
        return self.seal(fields, max(now, floor + 1))

    def verify(self, fields: Fields, seal: str | None) -> bool:
        """``fields``: as vouching() gives them with ``seal``."""
        if not seal:
            return False
        if seal.startswith("v1."):
            expected = self.seal_v1(fields)
        else:
            at = _v2_time(seal)
            if at is None:
                return False
            expected = self.seal(fields, at)
        return hmac.compare_digest(expected.encode(), seal.encode())

    def trusts(self, uid: str, namespace: str, name: str, status: ServiceTokenStatus) -> bool:
        """A status with no credentials needs no seal; any other needs a valid one."""
        return not has_credentials(status) or self.verify(*vouching(uid, namespace, name, status))

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
