"""What the operator, the gateway and the CLI agree on: the wire contract.

Every name another component (or a user's manifest) depends on lives here once:
the API group and its resources, labels and annotation keys, the Secret's data
keys, the last-seen report the gateway writes and the operator reads, and the
one timestamp format. Nothing here imports gatepass; everything may import it.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

# --- the API ------------------------------------------------------------------
GROUP = "gatepass.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
TOKENS = "servicetokens"
TOKEN_KIND = "ServiceToken"  # noqa: S105 - a kind
APPS = "accessapplications"
APP_KIND = "AccessApplication"

# (namespace, name) of a namespaced object.
ObjectKey = tuple[str, str]

# --- annotations users (and the kubectl plugin) set ----------------------------
# A new value asks once; the handled value is recorded in status (GitOps-safe).
REFRESH_ANNOTATION = f"{GROUP}/refresh"
ROTATE_ANNOTATION = f"{GROUP}/rotate"
# Optional with a rotate request: the grace period for that rotation only.
ROTATE_GRACE_ANNOTATION = f"{GROUP}/rotate-grace-period"
# After a rotation: when the previous secret stops working (RFC 3339; the past ends it now).
PREVIOUS_SECRET_EXPIRES_ANNOTATION = f"{GROUP}/previous-secret-expires-at"
REVOKE_SESSIONS_ANNOTATION = f"{GROUP}/revoke-sessions"
# A token's inactivity (spec.inactivity) counts from now: ends a deactivation.
REACTIVATE_ANNOTATION = f"{GROUP}/reactivate"
# On a workload's pod template (spec.rollout Auto): the rotation it was restarted for.
ROTATION_ANNOTATION = f"{GROUP}/rotation"
# On the signing-key Secret: a new value asks for a new signing key now; the operator
# records the value it acted on in the second.
ROTATE_SIGNING_KEY_ANNOTATION = f"{GROUP}/rotate-signing-key"
SIGNING_KEY_ROTATED_FOR_ANNOTATION = f"{GROUP}/signing-key-rotated-for"
# On a token's Secret, set by the operator: which keys came from spec.secretTemplate.
SECRET_TEMPLATE_ANNOTATION = f"{GROUP}/secret-template"

# --- labels on what the operator creates -----------------------------------------
MANAGED_BY = {"app.kubernetes.io/managed-by": "gatepass"}
MANAGED_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
TOKEN_LABEL = f"{GROUP}/service-token"  # on a token's Secret: the token's name
KEYS_LABEL = f"{GROUP}/signing-keys"  # on the signing-key Secret
# Held by the operator on the signing-key Secret: a deletion waits for it, and the operator
# puts the same keys back (operator/infra.py); replacing keys is REPLACE_KEYS_ANNOTATION's.
KEYS_FINALIZER = f"{GROUP}/keep-keys"
# A new value asks once for new signing and seal keys, every old one dropped now (a leaked
# key): every token is reissued and every application's aud changes.
REPLACE_KEYS_ANNOTATION = f"{GROUP}/replace-keys"
KEYS_REPLACED_FOR_ANNOTATION = f"{GROUP}/keys-replaced-for"
LAST_SEEN_LABEL = f"{GROUP}/last-seen"  # on the last-seen ConfigMaps
COMPONENT_LABEL = "app.kubernetes.io/component"
GATEWAY_COMPONENT = "gateway"

# --- a token's Secret -----------------------------------------------------------------
# Cloudflare's header names for the two credentials (the gateway reads them; a Secret
# may carry them rendered as a file).
CLIENT_ID_HEADER = "CF-Access-Client-Id"
CLIENT_SECRET_HEADER = "CF-Access-Client-Secret"  # noqa: S105 - a header name
CLIENT_ID_KEY = "CF_ACCESS_CLIENT_ID"
CLIENT_SECRET_KEY = "CF_ACCESS_CLIENT_SECRET"  # noqa: S105 - a key name

# --- the operator's own namespace -------------------------------------------------
DEFAULT_NAMESPACE = "gatepass-system"
# Signing keys (``<kid>.key``/``<kid>.crt``) and the status-seal key, in one Secret.
DEFAULT_KEY_SECRET = "gatepass-signing-keys"  # noqa: S105 - a name
SEAL_ENTRY = "status-seal.hmac"  # not "*.key": those are signing keys
DEFAULT_LAST_SEEN_CONFIGMAP = "gatepass-last-seen"  # the shards' prefix (last_seen_shards)


# --- timestamps -------------------------------------------------------------------------
def format_ts(t: datetime) -> str:
    """RFC 3339, whole seconds, UTC: the form the API server gives back after a round trip."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Every time gatepass reads lies in these years (UTC). Anything outside is refused where it
# is read: a date a tenant wrote near year 1 or 9999 overflows as soon as it is moved to UTC
# or a duration is added to it, and must cost that one object, never a loop shared by all.
FIRST_YEAR, LAST_YEAR = 1970, 8999


def to_utc(when: datetime) -> datetime:
    """``when`` in UTC; ValueError if it has no offset or lies outside FIRST_YEAR..LAST_YEAR."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("a time needs an offset (Z or +hh:mm)")
    try:
        utc = when.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"a time must lie in the years {FIRST_YEAR}..{LAST_YEAR}") from None
    if not FIRST_YEAR <= utc.year <= LAST_YEAR:
        raise ValueError(f"a time must lie in the years {FIRST_YEAR}..{LAST_YEAR}")
    return utc


def parse_ts(text: str) -> datetime | None:
    """An RFC 3339 time in UTC; None if it does not parse or is out of bounds (to_utc)."""
    try:
        return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, TypeError, AttributeError):
        return None


# --- last use of each token: the gateway reports, the operator copies to status ---------
# A use of the previous secret (in a rotation's grace period) is also reported under its
# own key, so replicas reporting only current uses never overwrite it. Namespaces and
# names never hold "_": no token's key can look like one.
PREVIOUS_PREFIX = "previous_"


# The report is split over LAST_SEEN_SHARDS ConfigMaps, ``<prefix>-00`` .. ``-15``, by a
# stable hash of the token's key: one ConfigMap holds at most 1 MiB (~13k entries of ~80 B),
# sixteen hold ~200k, and a flush rewrites only the shards whose tokens were used. A
# token's two entries (current and previous secret) share its shard. Fixed, not a
# setting: the gateway's RBAC names each shard.
LAST_SEEN_SHARDS = 16


def last_seen_shards(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}-{i:02d}" for i in range(LAST_SEEN_SHARDS))


def last_seen_shard(prefix: str, key: ObjectKey) -> str:
    """The ConfigMap holding a token's entries (crc32: the same in every process)."""
    return f"{prefix}-{zlib.crc32(f'{key[0]}.{key[1]}'.encode()) % LAST_SEEN_SHARDS:02d}"


def last_seen_key(key: ObjectKey, previous: bool = False) -> str:
    """A ConfigMap key; namespaces have no dots, so the first dot splits it back."""
    return f"{PREVIOUS_PREFIX if previous else ''}{key[0]}.{key[1]}"


@dataclass(frozen=True)
class LastUse:
    at: datetime
    app: str | None = None  # the AccessApplication, namespace/name
    client: str | None = None  # the client's address


# What may stand for an application or an address in a report (anything else is dropped).
_APP = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}/[a-z0-9][a-z0-9.-]{0,252}$")
_CLIENT = re.compile(r"^[0-9A-Fa-f.:]{2,45}$")


def last_seen_entry(key: ObjectKey, use: LastUse, previous: bool = False) -> tuple[str, str]:
    """``<RFC 3339> <app or -> <client or ->`` (older gateways wrote the time alone)."""
    return last_seen_key(key, previous), f"{format_ts(use.at)} {use.app or '-'} {use.client or '-'}"


@dataclass(frozen=True)
class Report:
    """One entry of the last-seen ConfigMap, read back."""

    key: ObjectKey
    use: LastUse
    previous: bool = False  # a use of the previous secret, during a rotation's grace


def parse_last_seen(entry: str, value: str) -> Report | None:
    previous = entry.startswith(PREVIOUS_PREFIX)
    namespace, sep, name = entry.removeprefix(PREVIOUS_PREFIX).partition(".")
    at, app, client = ([*value.split(" ", 2), "", ""])[:3]
    when = parse_ts(at)
    if not (sep and namespace and name and when):
        return None
    use = LastUse(when, app if _APP.match(app) else None, client if _CLIENT.match(client) else None)
    return Report((namespace, name), use, previous)


# --- settings -----------------------------------------------------------------------------
def _split(value: object) -> object:
    return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value


# A list, comma-separated in the environment.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split)]
# Namespaces to serve; empty = every namespace.
Namespaces = CommaList
