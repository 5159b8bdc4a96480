"""The whole ServiceToken as the operator reads it."""

import pytest

from gatepass.models.servicetoken import InvalidServiceToken, parse_token

META = {"name": "ci", "namespace": "ns", "uid": "u1", "generation": 2}


def test_a_token_resolves_its_secret_name_and_requests() -> None:
    token = parse_token({"metadata": {**META, "annotations": {"gatepass.dev/rotate": "r1"}}, "spec": {}})
    assert token.secret_name == "ci"
    assert token.rotate_request == "r1"
    assert token.refresh_request is None
    assert parse_token({"metadata": META, "spec": {"secretName": "creds"}}).secret_name == "creds"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"enabled": "sometimes"}, "spec.enabled: "),
        ({"duration": "a year"}, "spec.duration: not a duration"),
        ({"duration": "1h", "renewBefore": "soon"}, "spec.renewBefore: not a duration"),
    ],
)
def test_an_unparsable_spec_names_the_field_and_keeps_what_can_be_read(
    spec: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidServiceToken) as caught:
        parse_token({"metadata": META, "spec": spec, "status": {"clientId": "x.access"}})
    assert str(caught.value).startswith(message)
    assert caught.value.metadata.generation == 2
    assert caught.value.status.client_id == "x.access"
