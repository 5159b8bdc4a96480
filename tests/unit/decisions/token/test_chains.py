"""The named check chains: each check answers in its turn, the last Ready check always."""

from __future__ import annotations

import pytest

from gatepass.decisions.token.chains import Action, Input
from gatepass.decisions.token.conditions import READY_CHECKS, ready
from gatepass.decisions.token.credentials import CREDENTIAL_CHECKS, credential_action
from gatepass.decisions.token.inputs import SecretView, TokenView
from gatepass.models.servicetoken import ServiceTokenSpec, ServiceTokenStatus
from tests.unit.decisions.token.common import CID, H2, NONE, OURS, T0, H, issued

# Each credential check, in a case where it is the first to answer.
FIRST = {
    "InterruptedIssuance": (
        {"pending_secret_hash": H2, "pending_client_id": CID},
        SecretView(exists=True, owned=True, client_id=CID, secret_hash=H2),
        False,
    ),
    "SecretMissing": (issued(), NONE, False),
    "SecretNotOwned": (issued(), SecretView(exists=True, owned=False), True),
    "StatusUntrusted": ({}, OURS, True),
    "StatusLost": ({}, OURS, False),
    "SecretChanged": (issued(), SecretView(exists=True, owned=True, client_id=CID, secret_hash=H2), False),
    "RotationRequested": (issued(), OURS, False),
    "RotationScheduled": (issued(), OURS, False),
}


@pytest.mark.parametrize("name", [name for name, _ in CREDENTIAL_CHECKS])
def test_each_credential_check_answers_in_its_turn(name: str) -> None:
    status, secret, tampered = FIRST[name]
    scheduled = name == "RotationScheduled"  # the one check that needs no request
    token = TokenView(
        spec=ServiceTokenSpec.model_validate({"rotation": {"every": "1h"}}),
        status=ServiceTokenStatus.model_validate(status),
        rotate_request=None if scheduled else "r1",
        tampered=tampered,
    )
    facts = Input(token, secret, T0 + 2 * H, token.status)
    answered = [n for n, check in CREDENTIAL_CHECKS if check(facts) is not None]
    assert answered[0] == name
    assert credential_action(facts) == dict(CREDENTIAL_CHECKS)[name](facts)


def test_the_last_ready_check_always_answers() -> None:
    token = TokenView(spec=ServiceTokenSpec(), status=ServiceTokenStatus())
    empty = SecretView(exists=False)
    assert READY_CHECKS[-1][1](Input(token, empty, T0, ServiceTokenStatus(), Action.NONE)) is not None
    assert ready(Input(token, empty, T0, ServiceTokenStatus(), Action.CONFLICT))[1] == "SecretConflict"
