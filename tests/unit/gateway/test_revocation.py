"""revoke-sessions refuses every session minted before the moment recorded, to the
microsecond, on every replica: the mint time travels in the JWT (``gatepass_iat_us``),
while ``iat`` stays whole seconds as Cloudflare's."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import jwt
import pytest
from yarl import URL

from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.refusals import InvalidSession
from gatepass.gateway.sessions import ALGORITHM, CRED_CLAIM, MINTED_CLAIM, Sessions
from gatepass.gateway.state import AppRecord, TokenRecord
from gatepass.trust import signing
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash

ISSUER = "https://gatepass.test"
APP = AppRecord("ns", "app", ("a.test",), URL("http://up.ns"), 3600.0, [], uid="u1", aud="a" * 64)


@pytest.fixture
def s() -> float:
    """The start of a recent second: PyJWT checks iat and exp against the wall clock."""
    return float(int(time.time()) - 60)


@pytest.fixture(scope="module")
def sessions() -> Sessions:
    ring = KeyRing()
    ring.set(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)])))
    return Sessions(ISSUER, ring)


def fresh_token() -> TokenRecord:
    return TokenRecord("ns", "ci", new_client_id(), secret_hash(new_client_secret()))


@pytest.mark.parametrize(
    ("minted", "revoked_before", "refused"),  # seconds after s
    [
        (0.5, None, False),
        # The case whole seconds missed: minted earlier in the very second of the request.
        (0.25, 0.75, True),
        # ...and the converse: minted later in that second, after the request.
        (0.75, 0.25, False),
        (0.5, 0.5, False),  # minted at the moment recorded: after the request
        (0.5 - 0.000_002, 0.5, True),
        (-10, 0.5, True),
        (1, 0.5, False),
        # A whole-second record (an older operator's) is exact too.
        (0.999, 1, True),
        (1, 1, False),
    ],
)
def test_a_session_minted_before_the_revocation_is_refused(
    s: float, sessions: Sessions, minted: float, revoked_before: float | None, refused: bool
) -> None:
    encoded, _ = sessions.mint(APP, fresh_token(), s + minted)
    app = replace(APP, sessions_revoked_before=None if revoked_before is None else s + revoked_before)
    fresh = Sessions(ISSUER, sessions.keys)  # another replica: only the JWT tells the mint time
    for replica in (sessions, fresh):
        if refused:
            with pytest.raises(InvalidSession, match="session_revoked"):
                replica.verify(encoded, app, s + 2)
        else:
            assert replica.verify(encoded, app, s + 2).common_name


def test_iat_stays_whole_seconds_for_origins(s: float, sessions: Sessions) -> None:
    encoded, _ = sessions.mint(APP, fresh_token(), s + 0.75)
    key = sessions.keys.by_kid[jwt.get_unverified_header(encoded)["kid"]].public_key
    claims = jwt.decode(
        encoded,
        key,
        algorithms=[ALGORITHM],
        audience=APP.aud,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iat"] == int(s)
    assert isinstance(claims["iat"], int)
    assert claims[MINTED_CLAIM] == int(s) * 1_000_000 + 750_000


@pytest.mark.parametrize(
    ("iat", "revoked_before", "refused"),
    [
        # Without the claim the mint time is unknown within its second: its start counts.
        (0, 0.5, True),
        (0, 0, False),
        (1, 0.5, False),
    ],
)
def test_an_older_gateways_session_counts_from_the_start_of_its_second(
    s: float, sessions: Sessions, iat: float, revoked_before: float, refused: bool
) -> None:
    signing_key = sessions.keys.signing
    assert signing_key is not None
    claims = {
        "aud": [APP.aud],
        "common_name": "cid",
        "iat": int(s + iat),
        "exp": int(s + iat) + 3600,
        "iss": ISSUER,
        "sub": "",
        "type": "app",
        CRED_CLAIM: "tag",
    }
    encoded = jwt.encode(
        claims, signing_key.private_key, algorithm=ALGORITHM, headers={"kid": signing_key.kid}
    )
    app = replace(APP, sessions_revoked_before=s + revoked_before)
    if refused:
        with pytest.raises(InvalidSession, match="session_revoked"):
            sessions.verify(encoded, app, s + 2)
    else:
        assert sessions.verify(encoded, app, s + 2).minted == s + iat


def test_a_mint_time_that_is_no_integer_is_an_invalid_jwt(s: float, sessions: Sessions) -> None:
    signing_key = sessions.keys.signing
    assert signing_key is not None
    claims = {
        "aud": [APP.aud],
        "common_name": "cid",
        "iat": int(s),
        "exp": int(s) + 3600,
        "iss": ISSUER,
        "type": "app",
        CRED_CLAIM: "tag",
        MINTED_CLAIM: "soon",
    }
    encoded = jwt.encode(
        claims, signing_key.private_key, algorithm=ALGORITHM, headers={"kid": signing_key.kid}
    )
    with pytest.raises(InvalidSession, match="invalid_jwt"):
        sessions.verify(encoded, APP, s + 2)
