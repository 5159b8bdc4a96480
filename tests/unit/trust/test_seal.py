"""Status seals: what they bind, and that nothing else verifies."""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import UTC, datetime

import pytest

from gatepass.contract import LAST_SEEN_SHARDS, last_seen_shards
from gatepass.models.servicetoken import ServiceTokenStatus
from gatepass.trust.seal import Freshness, Sealer, generate_key, has_credentials, sealed_at, token_fields

STATUS = ServiceTokenStatus(
    client_id="0123456789abcdef0123456789abcdef.access",
    secret_hash="sha256:" + "1" * 64,
    expires_at=datetime(2027, 1, 1, tzinfo=UTC),
)


def test_a_seal_binds_every_credential_field_and_the_objects_identity() -> None:
    sealer = Sealer(generate_key())
    seals = sealer.stamps("uid-1", "ns", "t", STATUS)
    status = STATUS.model_copy(update={"seal": seals["seal"], "seal_v2": seals["sealV2"]})
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
        {"rotated_at": datetime(2026, 1, 1, tzinfo=UTC)},
        {"seal_v2": None, "seal": None},
        {"seal_v2": seals["seal"]},
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


def test_v2_seals_bind_rotated_at_and_their_time() -> None:
    sealer = Sealer(generate_key())
    rotated = STATUS.model_copy(update={"rotated_at": datetime(2026, 6, 1, tzinfo=UTC)})
    seals = sealer.stamps("u", "ns", "t", rotated, at=1_700_000_000_000_000)
    assert seals["sealV2"].startswith("v2.1700000000000000.")
    assert sealed_at(seals["sealV2"]) == 1_700_000_000_000_000
    status = rotated.model_copy(update={"seal": seals["seal"], "seal_v2": seals["sealV2"]})
    assert sealer.trusts("u", "ns", "t", status)
    # rotatedAt bounds how far the grace may be moved: a later one does not verify.
    moved = status.model_copy(update={"rotated_at": datetime(2026, 7, 1, tzinfo=UTC)})
    assert not sealer.trusts("u", "ns", "t", moved)
    # The time is under the MAC: a record made "newer" by hand does not verify.
    mac = seals["sealV2"].rsplit(".", 1)[1]
    newer = status.model_copy(update={"seal_v2": f"v2.1800000000000000.{mac}"})
    assert not sealer.trusts("u", "ns", "t", newer)
    # Without sealV2 the record reads as 0.2 wrote it: v1 alone, the oldest time (0), which
    # Freshness refuses once a newer record of the token was seen.
    assert sealer.trusts("u", "ns", "t", status.model_copy(update={"seal_v2": None}))
    assert sealed_at(None) == 0


@pytest.mark.parametrize(
    "seal", [None, "", "v2", "v2..x", "v2.-1.x", "v2.1e5.x", "v2.99999999999999999.x", "v3.1.x", "v1.x.y"]
)
def test_a_seal_that_does_not_parse_has_no_time_and_never_verifies(seal: str | None) -> None:
    assert sealed_at(seal) == 0
    sealer = Sealer(generate_key())
    v1 = sealer.stamps("u", "ns", "t", STATUS)["seal"]
    assert not sealer.trusts("u", "ns", "t", STATUS.model_copy(update={"seal": seal}))
    # A v1 seal that verifies does not save a sealV2 that does not.
    assert not sealer.trusts("u", "ns", "t", STATUS.model_copy(update={"seal": v1, "seal_v2": seal or "x"}))


def test_reseal_keeps_a_seal_that_covers_the_record_and_moves_forward_otherwise() -> None:
    sealer = Sealer(generate_key())
    fields = token_fields("u", "ns", "t", STATUS)
    first = sealer.reseal(fields, None, now=1_000)
    assert sealed_at(first) == 1_000
    assert sealer.reseal(fields, first, now=5_000) == first  # unchanged: no new write
    changed = token_fields("u", "ns", "t", STATUS.model_copy(update={"secret_hash": "sha256:" + "9" * 64}))
    # A replica whose clock is behind still seals later than what it knows of.
    assert sealed_at(sealer.reseal(changed, first, now=10, floor=sealed_at(first))) == 1_001
    # A previous seal's own time is no floor: it did not verify for these fields (a tenant's
    # far-future time would push every later seal past the format's range).
    assert sealed_at(sealer.reseal(changed, "v2.9999999999999998.x", now=10)) == 10
    assert sealed_at(sealer.reseal(changed, None, now=10, floor=7_000)) == 7_001
    # Something that is not a v2 seal of these fields is replaced.
    assert sealer.reseal(fields, "v1.abc", now=2_000).startswith("v2.2000.")


def test_freshness_refuses_older_records_per_token() -> None:
    fresh = Freshness()
    key = ("ns", "t")
    fresh.see(key, "v2.200.x")
    assert fresh.stale(key, "v2.100.x")
    assert fresh.stale(key, "v1.x")  # a 0.2 seal, once a v2 one was seen
    assert not fresh.stale(key, "v2.200.x")
    assert not fresh.stale(("ns", "other"), "v2.100.x")
    fresh.see(key, "v2.150.x")  # never backwards
    assert fresh.newest(key) == 200
    fresh.retain([("ns", "other")])
    assert not fresh.stale(key, "v2.100.x")
    fresh.see(key, "v2.300.x")
    fresh.forget(key)
    assert fresh.newest(key) == 0
