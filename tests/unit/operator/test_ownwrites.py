"""The operator's bookkeeping of its own status writes: which watch events are its own echo."""

from __future__ import annotations

from gatepass.contract import TOKENS
from gatepass.models.meta import ObjectMeta
from gatepass.operator.ownwrites import OWN_WRITES_KEPT, OwnWrites


def test_the_echo_of_an_earlier_write_is_ours_too() -> None:
    """An issuance writes status twice; the first write's event arrives after the second."""
    writes = OwnWrites()
    versions = [str(v) for v in range(101, 105)]
    for v in versions:
        writes.record(TOKENS, ObjectMeta(namespace="ns", name="t", uid="u", resource_version=v))
    assert writes.wrote(TOKENS, "ns", "t")
    assert [writes.own(TOKENS, "ns", "t", v) for v in versions] == [False] + [True] * OWN_WRITES_KEPT
    assert not writes.own(TOKENS, "ns", "t", "999")  # someone else's
    assert not writes.own(TOKENS, "ns", "other", versions[-1])
    writes.forget(TOKENS, "ns", "t")
    assert not writes.wrote(TOKENS, "ns", "t")
