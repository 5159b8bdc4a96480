"""Forged, altered and misdirected JWTs are refused on the cookie and header paths.

Every forgery starts from a session the gateway itself just minted (same header, every
claim as minted, ``gatepass_cred`` included) and changes one thing, so the refusal can
only come from the check that thing is there for; the test asserts that check's reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gatepass.trust.signing import SigningKey, generate, load, to_secret_data
from tests.gateway.conftest import ISSUER, World

pytestmark = pytest.mark.asyncio
HOST, OTHER = "reports.example.com", "billing.example.com"
ANY = [{"decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}]
MINTED_CLAIMS = {"aud", "common_name", "iat", "exp", "iss", "sub", "type", "gatepass_cred", "gatepass_iat_us"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Genuine:
    """A session the gateway minted: its encoding, header and claims (all valid)."""

    encoded: str
    header: dict[str, Any]
    claims: dict[str, Any]

    def but(self, **over: object) -> dict[str, Any]:
        """The minted claims with some replaced."""
        return {**self.claims, **over}

    def without(self, claim: str) -> dict[str, Any]:
        return {k: v for k, v in self.claims.items() if k != claim}


def genuine(encoded: str) -> Genuine:
    claims = jwt.decode(encoded, options={"verify_signature": False})
    return Genuine(encoded, jwt.get_unverified_header(encoded), claims)


def signing_key(world: World) -> SigningKey:
    key = world.state.signing_key
    assert key is not None
    return key


def sign(world: World, claims: dict[str, Any], key: SigningKey | None = None, **headers: Any) -> str:
    """RS256 with the gateway's signing key (or ``key``), its kid unless ``headers`` say otherwise."""
    real = signing_key(world)
    return jwt.encode(
        claims, (key or real).private_key, algorithm="RS256", headers={"kid": real.kid, **headers}
    )


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def alg_none(world: World, g: Genuine) -> str:
    return unsigned({**g.header, "alg": "none"}, g.claims) + "."


def hs256_with_public_key(world: World, g: Genuine) -> str:
    pem = signing_key(world).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = unsigned({**g.header, "alg": "HS256"}, g.claims)
    return f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def _stranger() -> SigningKey:
    """A well-formed key that the gateway has never seen."""
    return load(to_secret_data([generate(datetime.now(UTC), ISSUER)]))[0]


def unknown_kid(world: World, g: Genuine) -> str:
    stranger = _stranger()
    return sign(world, g.claims, key=stranger, kid=stranger.kid)


def forged_with_known_kid(world: World, g: Genuine) -> str:
    return sign(world, g.claims, key=_stranger())


def no_kid(world: World, g: Genuine) -> str:
    return jwt.encode(g.claims, signing_key(world).private_key, algorithm="RS256")


def tampered_payload(world: World, g: Genuine) -> str:
    head, _, sig = g.encoded.split(".")
    longer = g.but(exp=g.claims["exp"] + 10 * 365 * 86400)
    return f"{head}.{b64(json.dumps(longer).encode())}.{sig}"


def wrong_iss(world: World, g: Genuine) -> str:
    return sign(world, g.but(iss="https://evil.example"))


def expired(world: World, g: Genuine) -> str:
    # A session minted two hours ago that ended a second ago (PyJWT reads the real clock,
    # the gateway its own: both are "now" here).
    now = int(world.clock.now)
    return sign(world, g.but(iat=now - 7200, exp=now - 1))


def wrong_type(world: World, g: Genuine) -> str:
    return sign(world, g.but(type="org"))


def without(claim: str) -> Callable[[World, Genuine], str]:
    def forge(world: World, g: Genuine) -> str:
        return sign(world, g.without(claim))

    return forge


def other_cred(world: World, g: Genuine) -> str:
    # The tag of a secret the token does not have (any more): rotated, reissued, or made up.
    return sign(world, g.but(gatepass_cred=b64(hashlib.sha256(b"another secret").digest())))


def fractional_mint_time(world: World, g: Genuine) -> str:
    return sign(world, g.but(gatepass_iat_us=g.claims["gatepass_iat_us"] + 0.5))


# attack -> (forgery, the reason it is refused for)
ATTACKS: dict[str, tuple[Callable[[World, Genuine], str], str]] = {
    "alg none": (alg_none, "bad_algorithm"),
    "HS256 signed with the public key": (hs256_with_public_key, "bad_algorithm"),
    "unknown kid": (unknown_kid, "unknown_key"),
    "no kid": (no_kid, "unknown_key"),
    "known kid, other key": (forged_with_known_kid, "invalid_jwt"),
    "tampered payload": (tampered_payload, "invalid_jwt"),
    "wrong iss": (wrong_iss, "invalid_jwt"),
    "expired": (expired, "session_expired"),
    "wrong type": (wrong_type, "invalid_jwt"),
    "missing exp": (without("exp"), "invalid_jwt"),
    "missing iat": (without("iat"), "invalid_jwt"),
    "missing iss": (without("iss"), "invalid_jwt"),
    "missing aud": (without("aud"), "invalid_jwt"),
    "missing gatepass_cred": (without("gatepass_cred"), "invalid_jwt"),
    "gatepass_cred of no current secret": (other_cred, "secret_replaced"),
    "gatepass_iat_us no integer": (fractional_mint_time, "invalid_jwt"),
}


async def minted_session(world: World) -> tuple[Genuine, dict[str, str]]:
    """An application, a token, and the session the gateway mints for its credentials."""
    world.app("reports", [HOST], ANY)
    tok = world.token("ci-bot")
    status, _, resp = await world.get(HOST, headers=tok.headers)
    assert status == 200
    world.seen.clear()
    return genuine(str(resp.cookies["CF_Authorization"].value)), tok.headers


def carried(jwt_: str, carrier: str) -> dict[str, str]:
    return {"Cookie": f"CF_Authorization={jwt_}"} if carrier == "cookie" else {"cf-access-token": jwt_}


@pytest.mark.parametrize("carrier", ["cookie", "header"])
async def test_the_forgeries_start_from_a_session_the_gateway_accepts(world: World, carrier: str) -> None:
    """The control: the minted claims, signed again with the gateway's key (a new JWT,
    not the cached one), are accepted; so each forgery below differs only by its attack."""
    g, _ = await minted_session(world)
    assert set(g.claims) == MINTED_CLAIMS
    assert g.header["kid"] == signing_key(world).kid
    resigned = sign(world, g.but(iat=g.claims["iat"] - 1))
    assert resigned != g.encoded
    status, body, _ = await world.get(HOST, headers=carried(resigned, carrier))
    assert status == 200, body
    assert world.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"] == resigned


@pytest.mark.parametrize("carrier", ["cookie", "header"])
@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
async def test_attack_is_refused(world: World, attack: str, carrier: str) -> None:
    g, _ = await minted_session(world)
    forge, reason = ATTACKS[attack]
    bad = forge(world, g)
    status, body, _ = await world.get(HOST, headers=carried(bad, carrier))
    assert (status, body) == (401, {"error": reason})
    assert world.seen == []
    # the genuine one still works, so the refusal was about the forgery
    assert (await world.get(HOST, headers=carried(g.encoded, carrier)))[0] == 200


async def test_jwt_of_another_app_is_refused(world: World) -> None:
    world.app("reports", [HOST], ANY)
    world.app("billing", [OTHER], ANY)
    tok = world.token("ci-bot")
    _, _, resp = await world.get(OTHER, headers=tok.headers)
    billing_jwt = str(resp.cookies["CF_Authorization"].value)
    status, body, _ = await world.get(HOST, headers={"cf-access-token": billing_jwt})
    assert (status, body) == (401, {"error": "wrong_audience"})
    assert (await world.get(OTHER, headers={"cf-access-token": billing_jwt}))[0] == 200


async def test_client_supplied_assertion_is_never_trusted(world: World) -> None:
    g, creds = await minted_session(world)
    # A valid JWT in Cf-Access-Jwt-Assertion is not a credential...
    status, body, _ = await world.get(HOST, headers={"Cf-Access-Jwt-Assertion": g.encoded})
    assert (status, body) == (401, {"error": "no_credentials"})
    assert world.seen == []
    # ...and a forged one never reaches the origin next to real credentials: the origin
    # gets the gateway's own (the session minted for these credentials, handed out again).
    status, _, _ = await world.get(HOST, headers={**creds, "Cf-Access-Jwt-Assertion": "forged"})
    assert status == 200
    (seen,) = world.seen
    assert seen["headers"]["Cf-Access-Jwt-Assertion"] == g.encoded
