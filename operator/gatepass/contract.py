"""What the operator, the gateway and the CLI agree on: the wire contract.

Every name another component (or a user's manifest) depends on lives here once:
the API group and its resources, labels and annotation keys, the Secret's data
keys, the last-seen report the gateway writes and the operator reads, and the
one timestamp format. Nothing here imports gatepass; everything may import it.
"""

from __future__ import annotations

import hashlib
import re
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
POLICIES = "accesspolicies"  # reusable policies, named by applications of their namespace
POLICY_KIND = "AccessPolicy"
# Gateway API routes an application may attach to (spec.targetRefs): read, never written.
ROUTE_GROUP = "gateway.networking.k8s.io"
ROUTE_VERSION = "v1"
ROUTES = "httproutes"

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


def gateway_selector(name: str) -> dict[str, str]:
    """The labels that pick the pods of the gateway Deployment ``name``: its selector (which
    never changes), and the chart's PodDisruptionBudget's (tests/chart ties the two)."""
    return {
        "app.kubernetes.io/name": "gatepass",
        "app.kubernetes.io/instance": name,
        COMPONENT_LABEL: GATEWAY_COMPONENT,
    }


def gateway_labels(name: str) -> dict[str, str]:
    """The labels on the gateway's Deployment, Services and pods (the operator watches
    Deployments and Services by MANAGED_BY and COMPONENT_LABEL)."""
    return {**gateway_selector(name), **MANAGED_BY}


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


def format_ts_fine(t: datetime) -> str:
    """RFC 3339, UTC, with microseconds: a moment a whole second is too coarse for (the
    revoke-sessions request). Every other time keeps format_ts's whole seconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


# The report is split over LAST_SEEN_SHARDS ConfigMaps, ``<prefix>-00`` .. ``-31``. One
# ConfigMap is at most ~1.5 MiB in etcd, its keys counted twice (the API server's
# managedFields name each), and the operator keeps each under a budget well below
# (decisions/shardbudget.py): 100k tokens in use with realistic names cost ~0.5 MiB a
# shard there, ~200k fit. A flush rewrites only the shards whose tokens were used, and each
# write rewrites a smaller object. Which shard holds a token is an HMAC with the
# status-seal key (Sealer.last_seen_shard): a tenant cannot choose names that land in
# another's shard. A token's two entries (current and previous secret) share its shard.
# Readers never compute it: the operator reads every shard and takes an entry by its key
# wherever it sits (a new seal key, or a gateway of another release, puts it elsewhere).
# Fixed, not a setting: the gateway's RBAC names each shard.
LAST_SEEN_SHARDS = 32


def last_seen_shards(prefix: str) -> tuple[str, ...]:
    return tuple(last_seen_shard_name(prefix, i) for i in range(LAST_SEEN_SHARDS))


def last_seen_shard_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index % LAST_SEEN_SHARDS:02d}"


# What bounds an entry, whatever a tenant names its tokens and applications or a client
# sends: a ConfigMap key is at most 253 of ``[-._a-zA-Z0-9]`` (one longer makes the API
# server refuse the whole patch), an application label at most APP_MAX characters, an
# address at most 45. An entry is then at most ENTRY_MAX bytes.
KEY_MAX = 253
APP_MAX = 128
CLIENT_MAX = 45
# A key too long to be ``<namespace>.<name>`` is ``<namespace>._<digest>`` and its value
# carries the name: "_" is in no namespace or name, so no token's plain key looks like it.
LONG_MARK = "_"
_DIGEST_HEX = 32
ENTRY_MAX = (
    len(PREVIOUS_PREFIX)
    + 63
    + 2
    + _DIGEST_HEX  # the long key
    + len("2026-01-02T03:04:05Z")
    + APP_MAX
    + CLIENT_MAX
    + 253
    + 3  # time, app, client, name
)


def _digest(key: ObjectKey) -> str:
    return hashlib.sha256(f"{key[0]}/{key[1]}".encode()).hexdigest()[:_DIGEST_HEX]


def last_seen_key(key: ObjectKey, previous: bool = False) -> str:
    """A ConfigMap key; namespaces have no dots, so the first dot splits it back. Within
    KEY_MAX: a longer one is the namespace and a digest of the name (LONG_MARK)."""
    prefix = PREVIOUS_PREFIX if previous else ""
    plain = f"{prefix}{key[0]}.{key[1]}"
    return plain if len(plain) <= KEY_MAX else f"{prefix}{key[0]}.{LONG_MARK}{_digest(key)}"


@dataclass(frozen=True)
class LastUse:
    at: datetime
    app: str | None = None  # the AccessApplication, namespace/name (at most APP_MAX: see bounded_app)
    client: str | None = None  # the client's address


# What may stand for an application or an address in a report (anything else is dropped).
_APP = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}/[a-z0-9][a-z0-9.-]{0,252}$")
_CLIENT = re.compile(r"^[0-9A-Fa-f.:]{2,45}$")
TRUNCATED = "..."  # no name ends in a dot: a label that does was cut to APP_MAX


def bounded_app(label: str | None) -> str | None:
    """An application label as a report holds it: at most APP_MAX characters (a longer
    one cut, and marked so), None if it is no ``namespace/name``."""
    if label is None or not _APP.match(label):
        return None
    return label if len(label) <= APP_MAX else label[: APP_MAX - len(TRUNCATED)] + TRUNCATED


def last_seen_entry(key: ObjectKey, use: LastUse, previous: bool = False) -> tuple[str, str]:
    """``<RFC 3339> <app or -> <client or ->``, and the name when the key holds only its
    digest (older gateways wrote the time alone). At most ENTRY_MAX bytes, whatever the use."""
    entry = last_seen_key(key, previous)
    client = use.client if use.client and _CLIENT.match(use.client) else None
    value = f"{format_ts(use.at)} {bounded_app(use.app) or '-'} {client or '-'}"
    return entry, (f"{value} {key[1]}" if _is_long(entry) else value)


def _is_long(entry: str) -> bool:
    return entry.removeprefix(PREVIOUS_PREFIX).partition(".")[2].startswith(LONG_MARK)


def entry_namespace(entry: str) -> str:
    """The namespace a ConfigMap key of the report belongs to ("" if none)."""
    namespace, sep, _ = entry.removeprefix(PREVIOUS_PREFIX).partition(".")
    return namespace if sep else ""


@dataclass(frozen=True)
class Report:
    """One entry of the last-seen ConfigMap, read back."""

    key: ObjectKey
    use: LastUse
    previous: bool = False  # a use of the previous secret, during a rotation's grace


def parse_last_seen(entry: str, value: str) -> Report | None:
    previous = entry.startswith(PREVIOUS_PREFIX)
    namespace, sep, name = entry.removeprefix(PREVIOUS_PREFIX).partition(".")
    at, app, client, long_name = ([*value.split(" ", 3), "", "", ""])[:4]
    when = parse_ts(at)
    if not (sep and namespace and name and when):
        return None
    if name.startswith(LONG_MARK):  # a digest: the value names the token, and must match it
        if not long_name or last_seen_key((namespace, long_name), previous) != entry:
            return None
        name = long_name
    use = LastUse(when, app if _APP.match(app) else None, client if _CLIENT.match(client) else None)
    return Report((namespace, name), use, previous)


# --- settings -----------------------------------------------------------------------------
def _split(value: object) -> object:
    return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value


# A list, comma-separated in the environment.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split)]
# Namespaces to serve; empty = every namespace.
Namespaces = CommaList
