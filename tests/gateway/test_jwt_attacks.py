"""Forged, altered and misdirected JWTs are refused on the cookie and header paths."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gatepass.trust.signing import SigningKey, generate, load, to_secret_data
from tests.gateway.conftest import ISSUER, World

pytestmark = pytest.mark.asyncio
HOST, OTHER = "reports.example.com", "billing.example.com"
ANY = [{"decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(world: World, aud: str, client_id: str, **over: object) -> dict[str, object]:
    now = int(world.clock.now)
    return {
        "aud": [aud],
        "common_name": client_id,
        "iat": now,
        "exp": now + 3600,
        "iss": ISSUER,
        "sub": "",
        "type": "app",
        **over,
    }


def sign(world: World, payload: dict[str, object], **headers: object) -> str:
    key = world.state.keys[0]
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid, **headers})


def alg_none(world: World, aud: str, cid: str, good: str) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": world.state.keys[0].kid}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(world, aud, cid)).encode())}."


def hs256_with_public_key(world: World, aud: str, cid: str, good: str) -> str:
    pem = world.state.keys[0].public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": world.state.keys[0].kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(world, aud, cid)).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _stranger() -> SigningKey:
    """A well-formed key that the gateway has never seen."""
    return load(to_secret_data([generate(datetime.now(UTC), ISSUER)]))[0]


def unknown_kid(world: World, aud: str, cid: str, good: str) -> str:
    stranger = _stranger()
    return jwt.encode(
        claims(world, aud, cid), stranger.private_key, algorithm="RS256", headers={"kid": stranger.kid}
    )


def forged_with_known_kid(world: World, aud: str, cid: str, good: str) -> str:
    stranger = _stranger()
    return jwt.encode(
        claims(world, aud, cid),
        stranger.private_key,
        algorithm="RS256",
        headers={"kid": world.state.keys[0].kid},
    )


def tampered_payload(world: World, aud: str, cid: str, good: str) -> str:
    head, _, sig = good.split(".")
    other = claims(world, aud, cid, exp=int(world.clock.now) + 10 * 365 * 86400)
    return f"{head}.{b64(json.dumps(other).encode())}.{sig}"


def wrong_iss(world: World, aud: str, cid: str, good: str) -> str:
    return sign(world, claims(world, aud, cid, iss="https://evil.example"))


def expired(world: World, aud: str, cid: str, good: str) -> str:
    now = int(world.clock.now)
    return sign(world, claims(world, aud, cid, iat=now - 7200, exp=now - 1))


def no_kid(world: World, aud: str, cid: str, good: str) -> str:
    return jwt.encode(claims(world, aud, cid), world.state.keys[0].private_key, algorithm="RS256")


def wrong_type(world: World, aud: str, cid: str, good: str) -> str:
    return sign(world, claims(world, aud, cid, type="org"))


def missing_exp(world: World, aud: str, cid: str, good: str) -> str:
    c = claims(world, aud, cid)
    del c["exp"]
    return sign(world, c)


ATTACKS: dict[str, Callable[[World, str, str, str], str]] = {
    "alg none": alg_none,
    "HS256 signed with the public key": hs256_with_public_key,
    "unknown kid": unknown_kid,
    "known kid, other key": forged_with_known_kid,
    "tampered payload": tampered_payload,
    "wrong iss": wrong_iss,
    "expired": expired,
    "no kid": no_kid,
    "wrong type": wrong_type,
    "missing exp": missing_exp,
}


@pytest.mark.parametrize("carrier", ["cookie", "header"])
@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
async def test_attack_is_refused(world: World, attack: str, carrier: str) -> None:
    aud = world.app("reports", [HOST], ANY)
    tok = world.token("ci-bot")
    _, _, resp = await world.get(HOST, headers=tok.headers)
    good = str(resp.cookies["CF_Authorization"].value)
    world.seen.clear()
    bad = ATTACKS[attack](world, aud, tok.client_id, good)
    headers = {"Cookie": f"CF_Authorization={bad}"} if carrier == "cookie" else {"cf-access-token": bad}
    status, body, _ = await world.get(HOST, headers=headers)
    assert status == 401, body
    assert world.seen == []
    # the genuine one still works, so the refusal was about the forgery
    assert (await world.get(HOST, headers={"cf-access-token": good}))[0] == 200


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
    world.app("reports", [HOST], ANY)
    tok = world.token("ci-bot")
    _, _, resp = await world.get(HOST, headers=tok.headers)
    good = str(resp.cookies["CF_Authorization"].value)
    # A valid JWT in Cf-Access-Jwt-Assertion is not a credential...
    assert (await world.get(HOST, headers={"Cf-Access-Jwt-Assertion": good}))[0] == 401
    # ...and a forged one never reaches the origin next to real credentials.
    await world.get(HOST, headers={**tok.headers, "Cf-Access-Jwt-Assertion": "forged"})
    assert world.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"] != "forged"
