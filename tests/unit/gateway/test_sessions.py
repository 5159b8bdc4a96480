"""Minted JWTs are handed out again (RSA signing is the dear part of the header path), but
only to the very token and application they were minted for, and never once anything they
stand for has changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import jwt
import pytest
from prometheus_client import REGISTRY
from yarl import URL

from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.refusals import InvalidSession
from gatepass.gateway.sessions import CRED_CLAIM, Sessions
from gatepass.gateway.state import AppRecord, State, TokenRecord
from gatepass.trust import signing
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash, session_tag

ISSUER = "https://gatepass.test"
NOW = 1_800_000_000.0
SESSION = 3600.0


def key() -> list[signing.SigningKey]:
    return signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)]))


@pytest.fixture(scope="module")
def first_key() -> list[signing.SigningKey]:
    return key()


@pytest.fixture
def sessions(first_key: list[signing.SigningKey]) -> Sessions:
    ring = KeyRing()
    ring.set(first_key)
    return Sessions(ISSUER, ring)


def token(name: str = "ci", **fields: object) -> TokenRecord:
    return TokenRecord("ns", name, new_client_id(), secret_hash(new_client_secret()), **fields)  # type: ignore[arg-type]


def app(uid: str = "u1", **fields: object) -> AppRecord:
    return AppRecord(
        namespace="ns",
        name=f"app-{uid}",
        hosts=(f"{uid}.test",),
        upstream=URL("http://up.ns"),
        session_seconds=SESSION,
        policies=[],
        uid=uid,
        aud=uid * 32,
        **fields,  # type: ignore[arg-type]
    )


def claims(encoded: str, sessions: Sessions, aud: str) -> dict[str, object]:
    """Decoded by PyJWT as an origin would: signature, issuer, audience."""
    kid = jwt.get_unverified_header(encoded)["kid"]
    public = sessions.keys.by_kid[kid].public_key
    decoded: dict[str, object] = jwt.decode(
        encoded,
        public,
        algorithms=["RS256"],
        audience=aud,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},  # NOW is not the wall clock
    )
    return decoded


def signatures() -> float:
    return REGISTRY.get_sample_value("gatepass_gateway_jwt_signatures_total") or 0.0


def test_the_same_token_and_application_get_the_same_jwt(sessions: Sessions) -> None:
    t, a = token(), app()
    before = signatures()
    first, exp = sessions.mint(a, t, NOW)
    assert sessions.mint(a, t, NOW + 1) == (first, exp)
    assert sessions.mint(a, t, NOW + SESSION / 2 - 1) == (first, exp)  # first half of its life
    assert signatures() == before + 1  # signed once
    assert claims(first, sessions, a.aud)["common_name"] == t.client_id


def test_never_the_jwt_of_another_token_or_application(sessions: Sessions) -> None:
    t, other, a, b = token("ci"), token("ci"), app("u1"), app("u2")
    mine = sessions.mint(a, t, NOW)[0]
    theirs = sessions.mint(a, other, NOW)[0]
    elsewhere = sessions.mint(b, t, NOW)[0]
    assert len({mine, theirs, elsewhere}) == 3
    assert claims(theirs, sessions, a.aud)["common_name"] == other.client_id
    assert claims(elsewhere, sessions, b.aud)["aud"] == [b.aud]
    with pytest.raises(jwt.InvalidAudienceError):
        claims(elsewhere, sessions, a.aud)
    assert sessions.mint(a, t, NOW + 5)[0] == mine  # and each keeps its own


def test_a_new_one_after_the_first_half_of_its_life(sessions: Sessions) -> None:
    t, a = token(), app()
    first, exp = sessions.mint(a, t, NOW)
    later, later_exp = sessions.mint(a, t, NOW + SESSION / 2)
    assert later != first
    assert later_exp == exp + SESSION / 2  # whoever gets it has a whole session again


def test_a_jwt_near_its_end_is_never_handed_out(sessions: Sessions) -> None:
    # A token expiring in 100 s: its sessions end with it; the last minute is never reused.
    t, a = token(expires_at=NOW + 100), app()
    first, exp = sessions.mint(a, t, NOW)
    assert exp == NOW + 100
    assert sessions.mint(a, t, NOW + 39)[0] == first
    assert sessions.mint(a, t, NOW + 41)[0] != first


def test_any_change_to_the_token_mints_anew_an_unchanged_one_does_not(sessions: Sessions) -> None:
    state, k, a = State(), ("ns", "ci"), app()
    t = token()
    state.put_token(k, t)
    first = sessions.mint(a, state.tokens[k], NOW)[0]
    state.put_token(k, replace(t))  # a status write that changes nothing the gateway reads
    assert state.tokens[k] is t
    assert sessions.mint(a, state.tokens[k], NOW + 1)[0] == first
    state.put_token(k, replace(t, enabled=False))  # disabled (refused before minting)...
    state.put_token(k, replace(t, enabled=True))  # ...and enabled again: a new session
    assert sessions.mint(a, state.tokens[k], NOW + 2)[0] != first


def test_rotation_mints_with_the_new_secret(sessions: Sessions) -> None:
    t, a = token(), app()
    first = sessions.mint(a, t, NOW)[0]
    rotated = replace(t, secret_hash=secret_hash(new_client_secret()), previous_hash=t.secret_hash,
                      previous_expires_at=NOW + 600)  # fmt: skip
    new = sessions.mint(a, rotated, NOW + 1)[0]
    assert new != first
    assert claims(new, sessions, a.aud)[CRED_CLAIM] == rotated.session_tag


def test_the_previous_secret_mints_sessions_that_end_with_its_grace(sessions: Sessions) -> None:
    old = secret_hash(new_client_secret())
    t = replace(token(), previous_hash=old, previous_expires_at=NOW + 600)
    a = app()
    encoded, exp = sessions.mint(a, t, NOW, previous=True)
    assert exp == NOW + 600
    assert claims(encoded, sessions, a.aud)[CRED_CLAIM] == session_tag(old)
    current = sessions.mint(a, t, NOW)[0]  # the new secret's callers: a session of their own
    assert current != encoded
    assert claims(current, sessions, a.aud)[CRED_CLAIM] == t.session_tag
    with pytest.raises(InvalidSession, match="secret_replaced"):
        sessions.mint(a, token(), NOW, previous=True)  # no previous secret at all


def test_a_new_signing_key_mints_anew(sessions: Sessions) -> None:
    t, a = token(), app()
    first = sessions.mint(a, t, NOW)[0]
    sessions.keys.set(key() + sessions.keys.keys)
    new = sessions.mint(a, t, NOW + 1)[0]
    assert new != first
    assert jwt.get_unverified_header(new)["kid"] == sessions.keys.signing.kid


def test_revoke_sessions_and_a_new_session_duration_mint_anew(sessions: Sessions) -> None:
    t, a = token(), app()
    first = sessions.mint(a, t, NOW)[0]
    revoked = replace(a, sessions_revoked_before=NOW + 10)
    after = sessions.mint(revoked, t, NOW + 10)[0]
    assert after != first
    assert claims(after, sessions, a.aud)["iat"] == NOW + 10  # not before the revocation
    assert sessions.mint(revoked, t, NOW + 11)[0] == after
    shorter = replace(revoked, session_seconds=600)
    short, exp = sessions.mint(shorter, t, NOW + 12)
    assert short != after
    assert exp == NOW + 12 + 600
