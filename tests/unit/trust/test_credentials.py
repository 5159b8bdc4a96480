import re

from hypothesis import given
from hypothesis import strategies as st

from gatepass.trust import credentials as c


def test_client_id_has_cloudflare_shape_and_is_unique() -> None:
    ids = {c.new_client_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[0-9a-f]{32}\.access", i) for i in ids)
    assert all(c.is_client_id(i) for i in ids)


def test_client_secret_is_prefixed_checksummed_and_carries_256_bits() -> None:
    secret = c.new_client_secret()
    assert secret.startswith("gpst_")
    assert len(secret) == c.SECRET_LENGTH
    assert c.is_client_secret(secret)
    # 43 base62 characters hold at least 256 bits.
    assert 62**43 >= 2**256
    assert len({c.new_client_secret() for _ in range(200)}) == 200


@given(st.integers(min_value=5, max_value=c.SECRET_LENGTH - 1), st.sampled_from("0123456789abcXYZ"))
def test_any_changed_character_fails_the_checksum(pos: int, char: str) -> None:
    secret = c.new_client_secret()
    changed = secret[:pos] + char + secret[pos + 1 :]
    if changed != secret:
        assert not c.is_client_secret(changed)


def test_malformed_secrets_are_refused_without_lookup() -> None:
    good = c.new_client_secret()
    for bad in ["", "gpst_", good[:-1], good + "x", "ghp_" + good[5:], good.replace("gpst_", "GPST_")]:
        assert not c.is_client_secret(bad)


def test_hash_is_sha256_and_tells_secrets_apart() -> None:
    secret = c.new_client_secret()
    digest = c.secret_hash(secret)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert secret not in digest
    assert c.secret_hash(secret) == digest
    assert c.secret_hash(c.new_client_secret()) != digest


def test_a_secret_is_found_anywhere_in_a_text_by_its_shape_and_checksum() -> None:
    secret = c.new_client_secret()
    for text in [
        secret,
        f'{{"cf-access-client-secret": "{secret}"}}',  # the one-header JSON
        f"x{secret}x",  # glued to other characters: the secret is still all there
        f"gpst_gpst_{secret}",
        f"id.access:{secret}",  # Basic's decoded text
    ]:
        assert c.contains_client_secret(text), text
    for text in ["", "gpst_", secret[:-1], secret.replace("gpst_", "GPST_"), "gpst_" + "A" * 49]:
        assert not c.contains_client_secret(text), text
