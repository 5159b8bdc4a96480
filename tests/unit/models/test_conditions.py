from datetime import UTC, datetime, timedelta

from gatepass.models.conditions import find, set_condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_transition_time_moves_only_when_status_flips() -> None:
    conds = set_condition([], "Ready", "True", "Issued", "a", T0, 1)
    later = set_condition(conds, "Ready", "True", "Issued", "b", T0 + timedelta(hours=1), 2)
    ready = find(later, "Ready")
    assert ready is not None
    assert ready.last_transition_time == T0
    assert (ready.message, ready.observed_generation) == ("b", 2)
    flipped = find(
        set_condition(later, "Ready", "False", "Expired", "c", T0 + timedelta(hours=2), 2), "Ready"
    )
    assert flipped is not None
    assert flipped.last_transition_time == T0 + timedelta(hours=2)


def test_conditions_keep_their_order_and_other_types() -> None:
    conds = set_condition([], "Ready", "True", "Issued", "", T0, 1)
    conds = set_condition(conds, "ExpiringSoon", "False", "NotExpiringSoon", "", T0, 1)
    conds = set_condition(conds, "Ready", "False", "Disabled", "", T0, 1)
    assert [c.type for c in conds] == ["Ready", "ExpiringSoon"]


def test_wire_form_is_camel_case_rfc3339() -> None:
    cond = set_condition([], "Ready", "True", "Issued", "m", T0, 4)[0]
    assert cond.wire() == {
        "type": "Ready",
        "status": "True",
        "reason": "Issued",
        "message": "m",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 4,
    }
