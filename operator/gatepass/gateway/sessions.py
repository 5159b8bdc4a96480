"""Session JWTs: minted after a service token authenticates, verified on later requests.

The claims are exactly those of Cloudflare's service-token JWTs (``type`` "app",
``aud`` list, ``exp``, ``iss``, ``common_name`` = Client ID, ``iat``, ``sub`` "";
no ``nbf``, which Cloudflare leaves out for service tokens and no verifier needs)
so origins written for Cloudflare verify them unchanged. Only RS256 is accepted,
with a known ``kid``. One claim of our own, ``gatepass_cred``, names (by a one-way
tag) the Client Secret that minted the session: the session ends when that secret
stops working (a rotation when its grace ends, a reissue at once), which
Cloudflare's documentation does not promise. Another, ``gatepass_iat_us``, is the mint
time in microseconds: revoke-sessions refuses what was minted before a moment finer than
a second. ``iat`` stays whole seconds, as Cloudflare's: origins that read it into an
integer (Go's int64, serde's u64) would fail on a fraction. A session without it (an older
gateway's) counts as minted at the start of its ``iat`` second, the earliest it can be.

Verification is cached: a JWT verified once is remembered until its ``exp``
(bounded LRU), so the steady state is a dict lookup. What can change after
verification (the token deleted or disabled, the app's sessions revoked, the
key dropped) is checked on every request by the caller or here.

Minting is cached too, since RSA signing costs far more than verifying and a client
that sends its Client ID and Secret on every request would otherwise pay it every
time: a JWT is handed out again to the same token (the very record State holds, so
any change to the token, a disable, a rotation, a reissue, makes a new one), for the
same application and secret, while the signing key is still the current one, no
revoke-sessions came after it, and during the first half of its life (whoever gets it
still has at least half a session, and never less than a minute).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from gatepass.gateway.headers import COOKIE
from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.metrics import SIGNED
from gatepass.gateway.refusals import InvalidSession, Reason
from gatepass.gateway.state import AppRecord, TokenRecord
from gatepass.gateway.workload import Workload

ALGORITHM = "RS256"
CRED_CLAIM = "gatepass_cred"
MINTED_CLAIM = "gatepass_iat_us"
REUSE_FRACTION = 0.5  # of a minted JWT's lifetime, during which it is handed out again
REUSE_MIN_LEFT = 60.0  # seconds: never hand out one closer than this to its exp


@dataclass(frozen=True)
class Claims:
    kid: str
    aud: tuple[str, ...]
    common_name: str
    iat: float
    exp: float
    cred: str  # the minting secret's session tag
    minted: float  # when it was minted, to the microsecond where the JWT says (else iat)


@dataclass(frozen=True)
class _Minted:
    token: TokenRecord  # the record it was minted for: reused only for that very object
    encoded: str
    claims: Claims
    session_seconds: float

    def reusable(
        self, token: TokenRecord, app: AppRecord, kid: str | None, now: float, lifetime: float
    ) -> bool:
        c = self.claims
        return (
            self.token is token
            and c.kid == kid
            and self.session_seconds == lifetime
            and not revoked(c, app)
            and now < min(c.iat + (c.exp - c.iat) * REUSE_FRACTION, c.exp - REUSE_MIN_LEFT)
        )


def revoked(claims: Claims, app: AppRecord) -> bool:
    """Whether revoke-sessions refuses this session: minted before the moment recorded
    (a session minted at that very microsecond was minted after the request)."""
    before = app.sessions_revoked_before
    return before is not None and claims.minted < before


def set_cookie(encoded: str, max_age: int, path: str, app: AppRecord, secure: bool) -> str:
    """The ``Set-Cookie`` value carrying a session, with the application's attributes:
    ``path`` is its route's; a cookie not path-scoped goes to the whole host."""
    parts = [f"{COOKIE}={encoded}", f"Max-Age={max_age}", f"Path={path if app.path_scoped else '/'}"]
    if app.http_only:
        parts.append("HttpOnly")
    if secure:  # browsers drop SameSite=None without it: the gateway's setting decides
        parts.append("Secure")
    parts.append(f"SameSite={app.same_site}")
    return "; ".join(parts)


class Sessions:
    def __init__(self, issuer: str, keys: KeyRing, cache_size: int = 50_000) -> None:
        self.issuer = issuer
        self.keys = keys
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Claims] = OrderedDict()
        # (aud, Client ID, minted by the previous secret) -> the JWT last minted for them
        self._minted: OrderedDict[tuple[str, str, bool], _Minted] = OrderedDict()

    def _sign(self, claims: dict[str, Any]) -> tuple[str, str]:
        """The JWT with the current signing key, and that key's kid."""
        key = self.keys.signing
        if key is None:
            raise InvalidSession(Reason.NO_SIGNING_KEY)
        SIGNED.inc()
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid}), key.kid

    def mint(
        self,
        app: AppRecord,
        token: TokenRecord,
        now: float,
        previous: bool = False,
        lifetime: float | None = None,
    ) -> tuple[str, float]:
        """The session for a token that just authenticated, and its exp. ``previous``: it
        did so with its previous secret (rotation grace): the session carries that secret's
        tag, so it ends with the grace, as the secret does. ``lifetime``: what the allowing
        policy gives (AppRecord.lifetime); the application's session by default."""
        if lifetime is None:
            lifetime = app.lifetime(None)
        key = (app.aud, token.client_id, previous)
        signing = self.keys.signing
        hit = self._minted.get(key)
        if hit is not None and hit.reusable(token, app, signing.kid if signing else None, now, lifetime):
            self._minted.move_to_end(key)
            return hit.encoded, hit.claims.exp
        tag = token.previous_session_tag if previous else token.session_tag
        if tag is None:
            raise InvalidSession(Reason.SECRET_REPLACED)
        exp = now + lifetime
        if token.expires_at is not None:
            exp = min(exp, token.expires_at)  # a session never outlives its token
        if previous and token.previous_expires_at is not None:
            exp = min(exp, token.previous_expires_at)  # ...nor the secret that minted it
        iat, minted_us = int(now), int(now * 1_000_000)
        claims: dict[str, Any] = {
            "aud": [app.aud],
            "common_name": token.client_id,
            "iat": iat,
            "exp": int(exp),
            "iss": self.issuer,
            "sub": "",
            "type": "app",
            CRED_CLAIM: tag,
            MINTED_CLAIM: minted_us,
        }
        encoded, kid = self._sign(claims)
        minted = Claims(kid, (app.aud,), token.client_id, iat, int(exp), tag, minted_us / 1_000_000)
        self._remember(encoded, minted)
        self._minted[key] = _Minted(token, encoded, minted, lifetime)
        self._minted.move_to_end(key)
        if len(self._minted) > self.cache_size:
            self._minted.popitem(last=False)
        return encoded, int(exp)

    def mint_for_workload(
        self, app: AppRecord, who: Workload, now: float, lifetime: float | None = None
    ) -> str:
        """The assertion for a pod admitted by its ServiceAccount token: ``common_name`` and
        ``sub`` are the account (``system:serviceaccount:<namespace>:<name>``), the
        ``kubernetes.io`` claim names namespace, account and pod; it never outlives the
        token it was minted for. No ``gatepass_cred``: it is never accepted as a session."""
        k8s: dict[str, Any] = {"namespace": who.namespace, "serviceaccount": {"name": who.name}}
        if who.pod is not None:
            k8s["pod"] = {"name": who.pod}
        claims: dict[str, Any] = {
            "aud": [app.aud],
            "common_name": who.subject,
            "iat": int(now),
            "exp": int(min(now + (app.lifetime(None) if lifetime is None else lifetime), who.exp)),
            "iss": self.issuer,
            "sub": who.subject,
            "type": "app",
            "kubernetes.io": k8s,
        }
        return self._sign(claims)[0]

    def is_ours(self, encoded: str) -> bool:
        """Whether a JWT is signed (by its header) with one of our keys: a session."""
        if encoded in self._cache:
            return True
        try:
            return str(jwt.get_unverified_header(encoded).get("kid")) in self.keys.by_kid
        except jwt.InvalidTokenError:
            return False

    def verify(self, encoded: str, app: AppRecord, now: float) -> Claims:
        claims = self._cache.get(encoded)
        if claims is None:
            claims = self._verify_signature(encoded)
            self._remember(encoded, claims)
        else:
            self._cache.move_to_end(encoded)
        if now >= claims.exp:
            raise InvalidSession(Reason.SESSION_EXPIRED)
        if claims.kid not in self.keys.by_kid:
            raise InvalidSession(Reason.UNKNOWN_KEY)
        if app.aud not in claims.aud:
            raise InvalidSession(Reason.WRONG_AUDIENCE)
        if revoked(claims, app):
            raise InvalidSession(Reason.SESSION_REVOKED)
        return claims

    def _verify_signature(self, encoded: str) -> Claims:
        try:
            header = jwt.get_unverified_header(encoded)
        except jwt.InvalidTokenError:
            raise InvalidSession(Reason.MALFORMED_JWT) from None
        key = self.keys.by_kid.get(str(header.get("kid", "")))
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidSession(Reason.UNKNOWN_KEY if key is None else Reason.BAD_ALGORITHM)
        try:
            payload = jwt.decode(
                encoded,
                key.public_key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                # aud is checked per application above; here only its presence.
                options={"require": ["exp", "iat", "iss", "aud"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidSession(Reason.SESSION_EXPIRED) from None
        except jwt.InvalidTokenError:
            raise InvalidSession(Reason.INVALID_JWT) from None
        aud = payload.get("aud")
        auds = tuple(aud) if isinstance(aud, list) else (aud,)
        cn = payload.get("common_name")
        cred = payload.get(CRED_CLAIM)
        minted_us = payload.get(MINTED_CLAIM)
        if (
            payload.get("type") != "app"
            or not isinstance(cn, str)
            or not isinstance(cred, str)
            or not all(isinstance(a, str) for a in auds)
            or not (minted_us is None or (isinstance(minted_us, int) and not isinstance(minted_us, bool)))
        ):
            raise InvalidSession(Reason.INVALID_JWT)
        iat = float(payload["iat"])
        return Claims(
            kid=key.kid,
            aud=auds,
            common_name=cn,
            iat=iat,
            exp=float(payload["exp"]),
            cred=cred,
            minted=iat if minted_us is None else minted_us / 1_000_000,
        )

    def _remember(self, encoded: str, claims: Claims) -> None:
        self._cache[encoded] = claims
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
