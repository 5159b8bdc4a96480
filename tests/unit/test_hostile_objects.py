"""Whatever a tenant stores in its own objects costs that object only.

Anyone with `*` on gatepass.dev in a namespace can write any spec and any status the CRD's
schema admits (status RBAC included). Every value the schema lets the API server store is fed
here to what the gateway and the operator do with an object as it arrives from a watch: the
conversion must either give a record or refuse that one object, never raise into the loop
that every namespace's objects go through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings

from gatepass.decisions.accessapplication import decide_app
from gatepass.decisions.token.inputs import Candidate, Observed, SecretView, trusted
from gatepass.decisions.token.plan import plan
from gatepass.gateway.state import State, app_record, token_record
from gatepass.models.accessapplication import AccessApplication
from gatepass.models.servicetoken import InvalidServiceToken, ServiceTokenStatus, parse_token
from gatepass.operator import metrics
from gatepass.operator.appevent import app_event
from gatepass.operator.infra import LongestSession
from gatepass.operator.policynames import PolicyNames
from gatepass.routing.hosts import claim_of
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash
from gatepass.trust.seal import Sealer, generate_key
from tests.support.schemas import crd_schema, rfc3339, strategy

SEALER = Sealer(generate_key())
TOKENS, APPS = crd_schema("servicetokens"), crd_schema("accessapplications")
HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def body(kind: str, name: str, spec: Any, status: Any) -> dict[str, Any]:
    meta = {"namespace": "tenant-a", "name": name, "uid": f"uid-{name}", "generation": 1}
    meta["creationTimestamp"] = "2026-01-02T03:04:05Z"
    return {
        "apiVersion": "gatepass.dev/v1alpha1",
        "kind": kind,
        "metadata": meta,
        "spec": spec,
        "status": status,
    }


def sealed(obj: dict[str, Any]) -> dict[str, Any]:
    """The same object with status sealed by the operator's key, as a replayed sealed record
    with hostile unsealed fields beside it would be (when the status parses at all)."""
    status = obj["status"]
    try:
        record = ServiceTokenStatus.model_validate(status)
    except ValueError:
        return obj
    meta = obj["metadata"]
    return {
        **obj,
        "status": {**status, **SEALER.stamps(meta["uid"], meta["namespace"], meta["name"], record)},
    }


def gateway_takes_token(obj: dict[str, Any], state: State) -> None:
    meta = obj["metadata"]
    state.put_token((meta["namespace"], meta["name"]), token_record(obj))


def operator_takes_token(obj: dict[str, Any]) -> None:
    try:
        token = parse_token(obj)
    except InvalidServiceToken:
        return  # said in status as InvalidSpec: that object only
    secret = SecretView(exists=True, owned=True, client_id=token.status.client_id)
    candidate = Candidate(new_client_id(), secret_hash(new_client_secret()))
    seen = Observed(token=token, now=datetime.now(UTC), trusted=trusted(token, SEALER), secret=secret)
    plan(seen, candidate)
    metrics.observe("tenant-a", obj["metadata"]["name"], token.status)


@HOSTILE
@given(spec=strategy(TOKENS["properties"]["spec"]), status=strategy(TOKENS["properties"]["status"]))
def test_any_stored_token_is_converted_or_refused_alone(spec: Any, status: Any) -> None:
    state = State()
    state.set_sealer(SEALER)
    neighbour = sealed(
        body("ServiceToken", "neighbour", {}, {"clientId": new_client_id(), "secretHash": "x"})
    )
    gateway_takes_token(neighbour, state)
    for obj in (
        body("ServiceToken", "hostile", spec, status),
        sealed(body("ServiceToken", "hostile", spec, status)),
    ):
        gateway_takes_token(obj, state)
        operator_takes_token(obj)
        state.set_tokens(dict(state.tokens))  # a relist re-sorts by creation and re-verifies
    assert ("tenant-a", "neighbour") in {(r.namespace, r.name) for r in state.tokens_by_id.values()}


@HOSTILE
@given(spec=strategy(APPS["properties"]["spec"]), status=strategy(APPS["properties"]["status"]))
def test_any_stored_application_is_converted_or_refused_alone(spec: Any, status: Any) -> None:
    obj = body("AccessApplication", "hostile", spec, status)
    state = State()
    state.set_sealer(SEALER)
    state.put_app(("tenant-a", "hostile"), app_record(obj), claim_of(obj))
    seen = app_event(("tenant-a", "hostile"), obj)  # never raises: one object, its own cost
    LongestSession().see(seen.spec)
    PolicyNames().put(seen.key, seen.spec)
    try:
        app = AccessApplication.model_validate(obj)
    except ValueError:
        return  # the operator logs it unreadable and leaves it
    decide_app(app, [], SEALER.aud(app.metadata.uid), datetime.now(UTC))


@settings(max_examples=200, deadline=None)
@given(when=rfc3339())
def test_a_status_time_is_read_in_utc_within_bounds_or_the_status_is_lost(when: str) -> None:
    status = {"clientId": new_client_id(), "secretHash": "sha256:00", "expiresAt": when}
    token = parse_token(body("ServiceToken", "t", {}, status))
    if token.status.unreadable:
        assert token.status.client_id is None  # nothing of a lost status is kept
        return
    expires = token.status.expires_at
    assert expires is not None
    assert expires.utcoffset() == timedelta(0)
    assert 1970 <= expires.year <= 8999
    expires + timedelta(days=365 * 290)  # any duration the CRD admits can be added


def test_the_offset_that_moves_a_time_past_9999_loses_the_status_and_the_seal_check_holds() -> None:
    """The critical case: valid RFC 3339 stored by the API server, past year 9999 in UTC."""
    status = {
        "clientId": new_client_id(),
        "secretHash": "sha256:00",
        "expiresAt": "9999-12-31T23:00:00-05:00",
    }
    obj = body("ServiceToken", "t", {}, status)
    assert token_record(obj) is None
    token = parse_token(obj)
    assert token.status.unreadable is not None
    assert "expiresAt" in token.status.unreadable
    assert not trusted(token, SEALER)  # the operator reissues, with the UntrustedStatus Warning
