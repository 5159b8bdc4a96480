"""The gateway's State: what it serves from which objects, and what it refuses to trust."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gatepass.gateway.state import AppRecord, State, app_record, token_record
from gatepass.models.servicetoken import ServiceTokenStatus
from gatepass.routing.hosts import claim_of
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash
from gatepass.trust.seal import Sealer, generate_key

SEALER = Sealer(generate_key())


def token_obj(
    name: str, cid: str, ns: str = "ns", sealer: Sealer | None = SEALER, created: str = "", **status: Any
) -> dict[str, Any]:
    """A ServiceToken as the operator writes it (sealed with ``sealer``; None: unsealed)."""
    uid = f"uid-{ns}-{name}"
    st: dict[str, Any] = {"clientId": cid, "secretHash": secret_hash(new_client_secret()), **status}
    if sealer is not None:
        st.update(sealer.stamps(uid, ns, name, ServiceTokenStatus.model_validate(st)))
    meta = {"namespace": ns, "name": name, "uid": uid, "creationTimestamp": created}
    return {"metadata": meta, "spec": {}, "status": st}


def sealed_state(reserved: frozenset[str] = frozenset()) -> State:
    state = State(reserved)
    state.set_sealer(SEALER)
    return state


def root_app(state: State, host: str) -> AppRecord | None:
    """The application a request for ``/`` on ``host`` is routed to."""
    route = state.route(host)
    return route.value if route else None


def put(state: State, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    state.put_token((meta["namespace"], meta["name"]), token_record(obj))


def test_unissued_tokens_and_unreadable_apps_are_not_served() -> None:
    assert token_record({"metadata": {"namespace": "ns", "name": "t"}, "status": {}}) is None
    app = {
        "metadata": {"namespace": "ns", "name": "a", "uid": "u1"},
        "spec": {"hosts": ["x.test"], "upstream": "http://u"},
    }
    assert app_record(app) is not None  # served before the operator wrote any status
    assert app_record({**app, "spec": {"hosts": ["x.test"]}}) is None


def test_client_id_index_follows_changes_and_deletes() -> None:
    state = sealed_state()
    a, b = new_client_id(), new_client_id()
    put(state, token_obj("t", a))
    assert state.tokens_by_id[a].name == "t"
    put(state, token_obj("t", b))
    assert a not in state.tokens_by_id
    assert state.tokens_by_id[b].name == "t"
    state.put_token(("ns", "t"), None)
    assert state.tokens_by_id == {}
    assert state.tokens == {}


def test_a_status_the_operator_did_not_seal_is_never_served() -> None:
    state = sealed_state()
    victim = token_obj("victim", new_client_id(), ns="team-b", created="2026-01-01T00:00:00Z")
    put(state, victim)
    cid = victim["status"]["clientId"]
    # A tenant writes the victim's Client ID into its own token's status: unsealed,
    put(state, token_obj("thief", cid, ns="team-a", sealer=None))
    # sealed with a key of its own,
    put(state, token_obj("thief2", cid, ns="team-a", sealer=Sealer(generate_key())))
    # or with the victim's whole status, seal included (the seal names the object).
    put(state, {**token_obj("thief3", cid, ns="team-a"), "status": victim["status"]})
    assert state.tokens_by_id[cid].namespace == "team-b"
    assert len(state.tokens_by_id) == 1
    # An edit of the victim's own seal-covered fields voids its record too.
    put(state, {**victim, "status": {**victim["status"], "expiresAt": "2099-01-01T00:00:00Z"}})
    assert state.tokens_by_id == {}


def test_a_duplicated_client_id_stays_with_the_token_that_had_it_first() -> None:
    cid = new_client_id()
    first = token_obj("first", cid, ns="z", created="2026-01-01T00:00:00Z")
    later = token_obj("later", cid, ns="a", created="2026-02-01T00:00:00Z")
    for order in ((first, later), (later, first)):
        state = sealed_state()
        records = {(o["metadata"]["namespace"], o["metadata"]["name"]): token_record(o) for o in order}
        state.set_tokens({k: r for k, r in records.items() if r is not None})
        assert state.tokens_by_id[cid].name == "first"
    state = sealed_state()
    put(state, first)
    put(state, later)
    assert state.tokens_by_id[cid].name == "first"


def test_nothing_is_served_without_the_seal_key_and_a_new_key_rechecks_everything() -> None:
    state = State()
    obj = token_obj("t", new_client_id())
    put(state, obj)
    state.put_app(("ns", "a"), app_record(_app("ns", "a", "2026-01-01T00:00:00Z", "a.test")))
    assert state.tokens_by_id == {}
    assert root_app(state, "a.test") is None
    state.set_sealer(SEALER)
    assert obj["status"]["clientId"] in state.tokens_by_id
    app = root_app(state, "a.test")
    assert app is not None
    assert app.aud == SEALER.aud("uid-a")
    other = Sealer(generate_key())
    state.set_sealer(other)  # the key was replaced: every old seal is void, every aud new
    assert state.tokens_by_id == {}
    app = root_app(state, "a.test")
    assert app is not None
    assert app.aud == other.aud("uid-a")


def test_aud_comes_from_the_uid_never_from_status() -> None:
    state = sealed_state()
    victim = _app("team-b", "victim", "2026-01-01T00:00:00Z", "b.test")
    state.put_app(("team-b", "victim"), app_record(victim))
    victim_aud = SEALER.aud("uid-victim")
    thief = {**_app("team-a", "thief", "2026-01-01T00:00:00Z", "a.test"), "status": {"aud": victim_aud}}
    state.put_app(("team-a", "thief"), app_record(thief))
    served = root_app(state, "a.test")
    assert served is not None
    assert served.aud == SEALER.aud("uid-thief") != victim_aud
    assert len(served.aud) == 64


def test_sessions_end_with_the_secret_that_minted_them() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old_hash = secret_hash(new_client_secret())
    obj = token_obj(
        "t",
        new_client_id(),
        previousSecretHash=old_hash,
        previousSecretExpiresAt=(now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    record = token_record(obj)
    assert record is not None
    before = token_record({**obj, "status": {**obj["status"], "secretHash": old_hash}})
    assert before is not None
    old_tag = before.session_tag
    assert record.session_version(record.session_tag, now.timestamp()) == "current"
    assert record.session_version(old_tag, now.timestamp()) == "previous"  # in grace
    assert record.session_version(old_tag, (now + timedelta(hours=1)).timestamp()) is None  # grace over
    assert record.session_version("0" * 16, now.timestamp()) is None


def test_host_routing_ignores_port_case_and_trailing_dot_and_is_deterministic() -> None:
    state = sealed_state()
    for ns, name in (("b", "second"), ("a", "first")):
        state.put_app((ns, name), app_record(_app(ns, name, "", "app.example.com")))
    app = root_app(state, "App.Example.com.:8443")
    assert app is not None
    assert app.name == "first"  # a host claimed twice at once goes to the first by namespace/name
    assert root_app(state, "other.example.com") is None


def test_secret_hash_and_seal_never_in_repr() -> None:
    rec = token_record(token_obj("t", new_client_id()))
    assert rec is not None
    assert "sha256" not in repr(rec)
    assert "v1." not in repr(rec)
    assert "key" not in repr(SEALER)


def _app(ns: str, name: str, created: str, host: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": ns, "name": name, "creationTimestamp": created, "uid": f"uid-{name}"},
        "spec": {"hosts": [host], "upstream": "http://u"},
    }


def test_a_host_goes_to_its_first_claimant_even_one_not_yet_servable() -> None:
    state = sealed_state()
    owner = _app("zeta", "owner", "2026-01-01T00:00:00Z", "app.test")
    owner["spec"]["sessionDuration"] = "bogus"  # unservable (an older CRD let it through)
    intruder = _app("alpha", "intruder", "2026-01-01T00:00:09Z", "app.test")
    for obj in (intruder, owner):
        meta = obj["metadata"]
        state.put_app((meta["namespace"], meta["name"]), app_record(obj), claim_of(obj))
    assert root_app(state, "app.test") is None  # never the intruder, not even meanwhile
    owner["spec"]["sessionDuration"] = "1h"
    state.put_app(("zeta", "owner"), app_record(owner), claim_of(owner))
    served = root_app(state, "app.test")
    assert served is not None
    assert served.name == "owner"


def test_the_gateways_own_host_is_never_an_applications() -> None:
    state = sealed_state(reserved=frozenset({"access.test"}))
    state.put_app(("t", "a"), app_record(_app("t", "a", "2026-01-01T00:00:00Z", "access.test")))
    assert root_app(state, "access.test") is None


def test_a_wildcard_covering_the_gateways_own_host_never_serves_it() -> None:
    state = sealed_state(reserved=frozenset({"access.example.test"}))
    state.put_app(("t", "a"), app_record(_app("t", "a", "2026-01-01T00:00:00Z", "*.example.test")))
    assert root_app(state, "access.example.test") is None
    assert root_app(state, "Access.Example.test:443") is None
    served = root_app(state, "other.example.test")
    assert served is not None
    assert served.name == "a"


def _at(obj: dict[str, Any], at: int) -> dict[str, Any]:
    """``obj`` sealed as the operator would have at time ``at``."""
    meta, st = obj["metadata"], obj["status"]
    record = ServiceTokenStatus.model_validate(st)
    return {
        **obj,
        "status": {**st, **SEALER.stamps(meta["uid"], meta["namespace"], meta["name"], record, at)},
    }


def test_an_older_sealed_record_written_back_is_ignored_and_the_newer_one_stays() -> None:
    state = sealed_state()
    cid = new_client_id()
    old = _at(token_obj("t", cid, previousSecretHash=secret_hash(new_client_secret())), 100)
    newer = _at(token_obj("t", cid), 200)
    put(state, old)
    put(state, newer)
    assert state.tokens_by_id[cid].previous_hash is None
    put(state, old)  # written back by someone who kept it: its seal still verifies
    assert state.tokens_by_id[cid].previous_hash is None
    assert state.tokens[("ns", "t")].seal == newer["status"]["sealV2"]
    # ...and in a listing (a relist after a watch gap) as well.
    state.set_tokens({("ns", "t"): token_record(old)})
    assert state.tokens_by_id[cid].previous_hash is None
    # A later record is taken; a deleted token's mark goes with it (a new one starts afresh).
    put(state, later := _at(token_obj("t", cid), 300))
    assert state.tokens[("ns", "t")].seal == later["status"]["sealV2"]
    state.put_token(("ns", "t"), None)
    put(state, old)
    assert state.tokens_by_id[cid].previous_hash is not None


def _routed(ns: str, name: str, created: str, *route_hosts: str) -> dict[str, Any]:
    """An application attached to a route: no spec.hosts, the route's hosts in status."""
    meta = {"namespace": ns, "name": name, "creationTimestamp": created, "uid": f"uid-{name}"}
    spec = {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}]}
    return {
        "metadata": meta,
        "spec": {**spec, "upstream": "http://u"},
        "status": {"routes": [{"name": "r", "hosts": list(route_hosts)}]},
    }


def test_hosts_its_routes_gave_are_served_like_spec_hosts() -> None:
    state = sealed_state()
    obj = _routed("t", "a", "2026-01-01T00:00:00Z", "web.test/app")
    state.put_app(("t", "a"), app_record(obj), claim_of(obj))
    found = state.route("web.test", ("app", "x"))
    assert found is not None
    assert found.value.name == "a"
    assert state.route("web.test", ("other",)) is None


def test_route_hosts_written_into_status_by_a_tenant_take_nothing_from_an_earlier_claimant() -> None:
    """Status is often the tenant's to write: a host written there is claimed as spec.hosts
    are, first come per namespace, so it gains nothing spec.hosts would not."""
    state = sealed_state()
    owner = _app("zeta", "owner", "2026-01-01T00:00:00Z", "app.test")
    thief = _routed("alpha", "thief", "2026-01-01T00:00:09Z", "app.test", "app.test/admin", "*.test.x")
    for obj in (thief, owner):
        meta = obj["metadata"]
        state.put_app((meta["namespace"], meta["name"]), app_record(obj), claim_of(obj))
    for path in ((), ("admin",)):
        found = state.route("app.test", path)
        assert found is not None
        assert found.value.name == "owner"
