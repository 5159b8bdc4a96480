"""Status seals: what they bind, and that nothing else verifies."""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import UTC, datetime

import pytest

from gatepass.contract import LAST_SEEN_SHARDS, last_seen_shards
from gatepass.models.servicetoken import ServiceTokenStatus
from gatepass.trust.seal import Sealer, generate_key, has_credentials, token_fields

STATUS = ServiceTokenStatus(
    client_id="0123456789abcdef0123456789abcdef.access",
    secret_hash="sha256:" + "1" * 64,
    expires_at=datetime(2027, 1, 1, tzinfo=UTC),
)


def test_a_seal_binds_every_credential_field_and_the_objects_identity() -> None:
    sealer = Sealer(generate_key())
    seal = sealer.seal(token_fields("uid-1", "ns", "t", STATUS))
    status = STATUS.model_copy(update={"seal": seal})
    assert sealer.trusts("uid-1", "ns", "t", status)
    # Another object (uid, namespace or name) with the same status does not verify.
    for ident in (("uid-2", "ns", "t"), ("uid-1", "other", "t"), ("uid-1", "ns", "u")):
        assert not sealer.trusts(*ident, status)
    for change in (
        {"client_id": "f" * 32 + ".access"},
        {"secret_hash": "sha256:" + "2" * 64},
        {"expires_at": datetime(2099, 1, 1, tzinfo=UTC)},
        {"expires_at": None},
        {"previous_secret_hash": "sha256:" + "3" * 64},
        {"pending_client_id": "e" * 32 + ".access"},
        {"pending_secret_hash": "sha256:" + "4" * 64},
        {"deactivated_at": datetime(2026, 1, 1, tzinfo=UTC)},
        {"seal": None},
    ):
        assert not sealer.trusts("uid-1", "ns", "t", status.model_copy(update=change)), change
    assert not Sealer(generate_key()).trusts("uid-1", "ns", "t", status)


def test_only_a_status_without_credentials_needs_no_seal() -> None:
    sealer = Sealer(generate_key())
    assert sealer.trusts("u", "ns", "t", ServiceTokenStatus())
    assert not has_credentials(ServiceTokenStatus(secret_name="x"))
    assert not sealer.trusts("u", "ns", "t", ServiceTokenStatus(pending_secret_hash="sha256:" + "1" * 64))


def test_auds_are_per_object_and_per_key() -> None:
    one, two = Sealer(generate_key()), Sealer(generate_key())
    assert one.aud("u1") == one.aud("u1") != one.aud("u2")
    assert one.aud("u1") != two.aud("u1")
    assert len(one.aud("u1")) == 64
    assert int(one.aud("u1"), 16) >= 0


def test_short_keys_are_refused_and_the_key_is_never_shown() -> None:
    with pytest.raises(ValueError, match="at least"):
        Sealer(b"short")
    key = generate_key()
    assert key.hex() not in repr(Sealer(key))


def test_seals_written_before_deactivated_at_existed_still_verify() -> None:
    """deactivatedAt joins the sealed fields only when set: an upgrade reissues nothing.
    (The seal below was computed by the code before the field existed.)"""
    status = ServiceTokenStatus(
        client_id="a" * 32 + ".access",
        secret_hash="sha256:" + "0" * 64,
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        seal="v1.zYAni24w0yv32xs8O23ZNcR9_ZBXChr5va3AcRZaUwE",
    )
    assert Sealer(b"k" * 32).trusts("uid-1", "ns", "tok", status)
    deactivated = status.model_copy(update={"deactivated_at": datetime(2026, 1, 1, tzinfo=UTC)})
    assert not Sealer(b"k" * 32).trusts("uid-1", "ns", "tok", deactivated)


def test_the_last_seen_shard_is_keyed_the_same_in_every_process() -> None:
    key = ("team-a", "ci.bot")
    fixed = Sealer(b"k" * 32)
    assert fixed.last_seen_shard("gp-last-seen", key) == "gp-last-seen-28"  # every replica agrees
    assert fixed.last_seen_shard("gp-last-seen", key) in last_seen_shards("gp-last-seen")
    names = [("team-a", f"bot-{i}") for i in range(200)]
    other = Sealer(generate_key())
    moved = sum(fixed.last_seen_shard("p", n) != other.last_seen_shard("p", n) for n in names)
    assert moved > 150  # another key, another layout (~97 % move)


def test_a_tenant_cannot_aim_its_reports_at_another_tenants_shard() -> None:
    """Names a tenant picks so that a public hash (crc32, as before) puts them all in the
    victim's shard spread over every shard under the keyed one: without the seal key no
    choice of names fills one shard faster than any other."""
    victim = ("victim", "payments-bot")

    def public(key: tuple[str, str]) -> int:
        return zlib.crc32(f"{key[0]}.{key[1]}".encode()) % LAST_SEEN_SHARDS

    aimed = [k for i in range(40_000) if public(k := ("attacker", f"x{i}")) == public(victim)][:640]
    assert len(aimed) == 640
    sealer = Sealer(generate_key())
    target = sealer.last_seen_shard("p", victim)
    landed = Counter(sealer.last_seen_shard("p", k) for k in aimed)
    assert len(landed) == LAST_SEEN_SHARDS
    assert landed[target] < 3 * 640 / LAST_SEEN_SHARDS  # ~20 expected, as in any other shard
