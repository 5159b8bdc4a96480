"""A stand-in for a cluster's service-account issuer, for tests that cannot ask the API
server for tokens: real keys, real JWTs with the claims Kubernetes puts in projected
tokens, signed with PyJWT and published as a JWKS the way ``/openid/v1/jwks`` does."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

KUBE_ISSUER = "https://kubernetes.default.svc.cluster.local"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class Issuer:
    issuer: str = KUBE_ISSUER
    keys: dict[str, PrivateKey] = field(default_factory=dict)

    def add_rsa(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def add_ec(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "RS256"
            else:
                jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "ES256"
            out.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": out}

    def token(
        self,
        namespace: str = "team-a",
        account: str = "reporter",
        account_uid: str = "sa-uid-1",
        pod: tuple[str, str] | None = ("reporter-7d9", "pod-uid-1"),
        aud: str | list[str] | None = "https://access.test",
        kid: str | None = None,
        lifetime: float = 3600,
        **overrides: Any,
    ) -> str:
        """A projected token as the kubelet gets it (bound to ``pod`` unless None)."""
        kid = kid or next(iter(self.keys))
        key = self.keys[kid]
        now = int(time.time())
        k8s: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": account, "uid": account_uid},
        }
        if pod is not None:
            k8s["pod"] = {"name": pod[0], "uid": pod[1]}
        claims: dict[str, Any] = {
            "aud": aud if isinstance(aud, list) or aud is None else [aud],
            "exp": now + int(lifetime),
            "iat": now,
            "nbf": now,
            "iss": self.issuer,
            "jti": f"jti-{now}-{account}",
            "kubernetes.io": k8s,
            "sub": f"system:serviceaccount:{namespace}:{account}",
            **overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
