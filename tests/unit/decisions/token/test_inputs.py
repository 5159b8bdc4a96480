"""What the decision reads: a status the seal vouches for, or one read as lost."""

from __future__ import annotations

from gatepass.decisions.token.inputs import Observed, trusted, view
from gatepass.models.servicetoken import ServiceTokenStatus, parse_token
from gatepass.trust.seal import Sealer, generate_key
from tests.unit.decisions.token.common import T0


def test_a_sealed_record_older_than_the_newest_known_is_read_as_tampered() -> None:
    sealer = Sealer(generate_key())
    status = ServiceTokenStatus(client_id="a" * 32 + ".access", secret_hash="sha256:" + "1" * 64)
    meta = {"namespace": "ns", "name": "t", "uid": "u1", "generation": 1}
    seals = sealer.stamps("u1", "ns", "t", status, at=500)
    token = parse_token({"metadata": meta, "spec": {}, "status": {**status.wire(), **seals}})
    assert trusted(token, sealer)
    assert trusted(token, sealer, newest=500)  # the newest itself
    assert not trusted(token, sealer, newest=501)
    replayed = view(Observed(token=token, now=T0, trusted=trusted(token, sealer, newest=501)))
    assert replayed.tampered
