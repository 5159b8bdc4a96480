"""Secretless callers: a pod presents its projected ServiceAccount token, and the
gateway checks it as the API server would, with nothing but what it watches.

1. the signature, against the cluster's service-account issuer keys (the API server's
   ``/openid/v1/jwks``, fetched by gateway/discovery.py and again when a token names a
   key not seen yet);
2. ``iss`` (the issuer's own discovery document), ``exp``, ``nbf``, ``sub`` agreeing
   with the ``kubernetes.io`` claim, and ``aud`` under one of the gateway's audiences
   (by default its issuer): a token meant for the API server or any other audience is
   refused, so a pod's everyday API token is never accepted;
3. on every request, the application: ``aud`` names the one asked for (:func:`audiences`),
   so a token that reached one application, or anything that application's origin runs,
   opens no other;
4. the binding, on every request: the ServiceAccount still exists with the uid the
   token names, and so does the pod it is bound to (a pod being deleted for more than
   a minute no longer counts, as the API server's TokenReview). Tokens bound to a
   Secret or only to a Node are refused: nothing here watches those.

Steps 1-2 run once per token (cached until it expires, bounded LRU), steps 3-4 are a
few set and dict lookups. Nothing here calls the API.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from gatepass.contract import ObjectKey
from gatepass.gateway.refusals import InvalidSession, Reason

log = logging.getLogger(__name__)
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"})
CLAIM = "kubernetes.io"
DELETION_GRACE = 60.0  # seconds a pod being deleted still vouches for its tokens (as Kubernetes)


def subject(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def audiences(base: str, namespace: str, name: str) -> tuple[str, str]:
    """The audiences naming one application under one of the gateway's audiences:
    ``<base>/<namespace>/<name>``, from anywhere; ``<base>/<name>``, for pods of the
    application's own namespace (a manifest that works in whichever namespace it is
    applied). Namespaces and names hold no ``/``: neither form can name another application."""
    base = base.rstrip("/")
    return f"{base}/{namespace}/{name}", f"{base}/{name}"


@dataclass(frozen=True)
class Workload:
    """What a verified ServiceAccount token says about its bearer."""

    namespace: str
    name: str  # the ServiceAccount
    account_uid: str
    pod: str | None
    pod_uid: str | None
    kid: str
    exp: float
    audiences: frozenset[str]  # the token's aud

    @property
    def subject(self) -> str:
        return subject(self.namespace, self.name)


@dataclass(frozen=True)
class Pod:
    namespace: str
    deleting_since: float | None = None  # metadata.deletionTimestamp


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _binding(payload: Mapping[str, Any]) -> tuple[str, str, str, str | None, str | None]:
    """(namespace, account, account uid, pod, pod uid) from the ``kubernetes.io`` claim."""
    k8s = payload.get(CLAIM)
    if not isinstance(k8s, dict):
        raise InvalidSession(Reason.INVALID_SERVICE_ACCOUNT_TOKEN)
    account, pod = k8s.get("serviceaccount"), k8s.get("pod")
    if "secret" in k8s or (pod is None and "node" in k8s):
        raise InvalidSession(Reason.UNSUPPORTED_BINDING)
    if not isinstance(account, dict) or not (pod is None or isinstance(pod, dict)):
        raise InvalidSession(Reason.INVALID_SERVICE_ACCOUNT_TOKEN)
    ns, name, uid = _str(k8s.get("namespace")), _str(account.get("name")), _str(account.get("uid"))
    pod_name, pod_uid = (None, None) if pod is None else (_str(pod.get("name")), _str(pod.get("uid")))
    unbound_pod = pod is not None and (pod_name is None or pod_uid is None)
    if ns is None or name is None or uid is None or unbound_pod:
        raise InvalidSession(Reason.INVALID_SERVICE_ACCOUNT_TOKEN)
    if payload.get("sub") != subject(ns, name):
        raise InvalidSession(Reason.INVALID_SERVICE_ACCOUNT_TOKEN)
    return ns, name, uid, pod_name, pod_uid


class WorkloadTokens:
    """The issuer's keys and what still exists, as the watches report them."""

    def __init__(self, audiences: tuple[str, ...], cache_size: int = 10_000) -> None:
        self.audiences = audiences  # the bases of applications' audiences (:func:`audiences`)
        self._prefixes = tuple(a.rstrip("/") + "/" for a in audiences)
        self.cache_size = cache_size
        self.issuer: str | None = None
        self.keys: dict[str, jwt.PyJWK] = {}
        self.accounts: dict[ObjectKey, str] = {}  # (namespace, name) -> uid
        self.pods: dict[str, Pod] = {}  # uid -> where, and whether it is going
        self._cache: OrderedDict[str, Workload] = OrderedDict()

    # what the watches report ------------------------------------------------
    def set_issuer(self, issuer: str, jwks: Mapping[str, Any]) -> None:
        """The issuer and its key set; keys of an algorithm we do not take are skipped."""
        keys = {}
        for entry in jwks.get("keys") or []:
            if not isinstance(entry, dict):
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, ValueError):
                continue
            if key.key_id and key.algorithm_name in ALGORITHMS:
                keys[key.key_id] = key
        if issuer != self.issuer:
            self._cache.clear()  # verified against another issuer
        self.issuer, self.keys = issuer, keys

    @property
    def ready(self) -> bool:
        return self.issuer is not None and bool(self.keys)

    # each request ------------------------------------------------------------
    def verify(self, encoded: str, now: float, namespace: str, name: str) -> Workload:
        """The caller at the application ``namespace``/``name``, or :class:`InvalidSession`
        with a short reason."""
        found = self._cache.get(encoded)
        if found is None:
            found = self._verify_signature(encoded)
            self._cache[encoded] = found
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(encoded)
        if now >= found.exp:
            raise InvalidSession(Reason.SERVICE_ACCOUNT_TOKEN_EXPIRED)
        if found.kid not in self.keys:
            raise InvalidSession(Reason.UNKNOWN_SERVICE_ACCOUNT_KEY)  # the issuer dropped the key
        if not self._for_application(found, namespace, name):
            raise InvalidSession(Reason.WRONG_AUDIENCE)
        self._check_binding(found, now)
        return found

    def _for_application(self, who: Workload, namespace: str, name: str) -> bool:
        for base in self.audiences:
            anywhere, here = audiences(base, namespace, name)
            if anywhere in who.audiences or (here in who.audiences and who.namespace == namespace):
                return True
        return False

    def _check_binding(self, who: Workload, now: float) -> None:
        if self.accounts.get((who.namespace, who.name)) != who.account_uid:
            raise InvalidSession(Reason.SERVICE_ACCOUNT_GONE)  # deleted, or deleted and made anew
        if who.pod_uid is None:
            return
        pod = self.pods.get(who.pod_uid)
        if pod is None or pod.namespace != who.namespace:
            raise InvalidSession(Reason.POD_GONE)
        if pod.deleting_since is not None and now - pod.deleting_since > DELETION_GRACE:
            raise InvalidSession(Reason.POD_GONE)

    def _verify_signature(self, encoded: str) -> Workload:
        if self.issuer is None:
            raise InvalidSession(Reason.SERVICE_ACCOUNTS_UNAVAILABLE)
        try:
            header = jwt.get_unverified_header(encoded)
        except jwt.InvalidTokenError:
            raise InvalidSession(Reason.MALFORMED_JWT) from None
        kid = str(header.get("kid"))
        key = self.keys.get(kid)
        if key is None:
            raise InvalidSession(Reason.UNKNOWN_SERVICE_ACCOUNT_KEY)
        if header.get("alg") != key.algorithm_name:
            raise InvalidSession(Reason.BAD_ALGORITHM)
        try:
            payload = jwt.decode(
                encoded,
                key,
                algorithms=[key.algorithm_name],
                issuer=self.issuer,
                # aud is checked below: which one holds depends on the application asked for
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidSession(Reason.SERVICE_ACCOUNT_TOKEN_EXPIRED) from None
        except jwt.InvalidTokenError:
            raise InvalidSession(Reason.INVALID_SERVICE_ACCOUNT_TOKEN) from None
        aud = payload.get("aud")
        listed = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        auds = frozenset(a for a in listed if isinstance(a, str))
        if not any(a.startswith(self._prefixes) for a in auds):
            raise InvalidSession(Reason.WRONG_AUDIENCE)  # no application of this gateway's (not cached)
        ns, name, uid, pod, pod_uid = _binding(payload)
        return Workload(ns, name, uid, pod, pod_uid, kid, float(payload["exp"]), auds)

    # the watches' side -------------------------------------------------------
    def set_accounts(self, accounts: dict[ObjectKey, str]) -> None:
        self.accounts = accounts

    def put_account(self, key: ObjectKey, uid: str | None) -> None:
        if uid is None:
            self.accounts.pop(key, None)
        else:
            self.accounts[key] = uid

    def set_pods(self, pods: dict[str, Pod]) -> None:
        self.pods = pods

    def put_pod(self, uid: str, pod: Pod | None) -> None:
        if pod is None:
            self.pods.pop(uid, None)
        else:
            self.pods[uid] = pod
