from datetime import UTC, datetime, timedelta

import jwt

from gatepass.trust import signing

T0 = datetime(2026, 1, 1, tzinfo=UTC)
W = timedelta(weeks=6)
KEEP = signing.KEEP_AFTER_SUCCESSOR


def test_no_keys_generates_one() -> None:
    plan = signing.plan_rotation({}, T0)
    assert plan.generate
    assert plan.drop == ()


def test_young_key_sleeps_until_rotation() -> None:
    plan = signing.plan_rotation({"a": T0}, T0 + timedelta(days=1))
    assert not plan.generate
    assert plan.wake_at == T0 + W


def test_old_key_is_rotated_but_kept_for_longer_than_a_session() -> None:
    plan = signing.plan_rotation({"a": T0}, T0 + W)
    assert plan.generate
    assert plan.drop == ()
    later = signing.plan_rotation({"a": T0, "b": T0 + W}, T0 + W + KEEP - timedelta(seconds=1))
    assert later.drop == ()
    assert later.wake_at == T0 + W + KEEP
    gone = signing.plan_rotation({"a": T0, "b": T0 + W}, T0 + W + KEEP)
    assert gone.drop == ("a",)


def test_a_replaced_key_verifies_7_days_or_the_longest_session() -> None:
    assert signing.keep_after_successor(timedelta(hours=24)) == timedelta(days=7)
    month = timedelta(hours=720)  # the longest sessionDuration the CRD allows
    assert signing.keep_after_successor(month) == month + signing.SESSION_MARGIN
    keep = signing.keep_after_successor(month)
    kept = signing.plan_rotation(
        {"a": T0, "b": T0 + W}, T0 + W + timedelta(days=8), keep_after_successor=keep
    )
    assert kept.drop == ()
    assert kept.wake_at == T0 + W + keep


def test_rotate_now_whatever_the_age() -> None:
    plan = signing.plan_rotation({"a": T0}, T0 + timedelta(hours=1), rotate_now=True)
    assert plan.generate
    assert plan.drop == ()  # the replaced key keeps verifying


def test_keys_roundtrip_through_secret_data_and_sign() -> None:
    m = signing.generate(T0, "https://issuer.test")
    (key,) = signing.load(signing.to_secret_data([m]))
    assert key.kid == m.kid
    assert len(key.kid) == 64
    token = jwt.encode({"x": 1}, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    assert jwt.decode(token, key.public_key, algorithms=["RS256"]) == {"x": 1}
    jwk = key.jwk()
    assert jwk["kid"] == key.kid
    assert "d" not in jwk
    assert key.cert_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE" not in repr(key)


def test_a_mislabelled_key_is_not_loaded() -> None:
    a, b = signing.generate(T0, "i"), signing.generate(T0, "i")
    data = {f"{a.kid}.key": b.key_pem, f"{a.kid}.crt": b.cert_pem}
    assert signing.load(data) == []


def test_unpaired_entries_are_ignored() -> None:
    m = signing.generate(T0, "i")
    assert signing.materials({f"{m.kid}.key": m.key_pem}) == []


def test_load_orders_newest_first() -> None:
    old, new = signing.generate(T0, "i"), signing.generate(T0 + timedelta(days=1), "i")
    keys = signing.load(signing.to_secret_data([old, new]))
    assert [k.kid for k in keys] == [new.kid, old.kid]
