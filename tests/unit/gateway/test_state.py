from gatepass.gateway.state import State, app_record, token_record
from gatepass.tokens.credentials import new_client_id, new_client_secret, secret_hash


def token_obj(name: str, cid: str, **status: object) -> dict[str, object]:
    return {
        "metadata": {"namespace": "ns", "name": name},
        "spec": {},
        "status": {"clientId": cid, "secretHash": secret_hash(new_client_secret()), **status},
    }


def test_unissued_tokens_and_apps_without_aud_are_not_served() -> None:
    assert token_record({"metadata": {"namespace": "ns", "name": "t"}, "status": {}}) is None
    app = {
        "metadata": {"namespace": "ns", "name": "a"},
        "spec": {"hosts": ["x.test"], "upstream": "http://u"},
    }
    assert app_record(app) is None
    assert app_record({**app, "status": {"aud": "f" * 64}}) is not None
    assert app_record({**app, "spec": {"hosts": ["x.test"]}, "status": {"aud": "f" * 64}}) is None


def test_client_id_index_follows_changes_and_deletes() -> None:
    state = State()
    a, b = new_client_id(), new_client_id()
    state.put_token(("ns", "t"), token_record(token_obj("t", a)))
    assert state.tokens_by_id[a].name == "t"
    state.put_token(("ns", "t"), token_record(token_obj("t", b)))
    assert a not in state.tokens_by_id
    assert state.tokens_by_id[b].name == "t"
    state.put_token(("ns", "t"), None)
    assert state.tokens_by_id == {}
    assert state.tokens == {}


def test_host_routing_ignores_port_case_and_trailing_dot_and_is_deterministic() -> None:
    state = State()
    for ns, name in (("b", "second"), ("a", "first")):
        obj = {
            "metadata": {"namespace": ns, "name": name},
            "spec": {"hosts": ["app.example.com"], "upstream": "http://u"},
            "status": {"aud": "f" * 64},
        }
        state.put_app((ns, name), app_record(obj))
    app = state.app_for_host("App.Example.com.:8443")
    assert app is not None
    assert app.name == "first"  # a host claimed twice goes to the first by namespace/name
    assert state.app_for_host("other.example.com") is None


def test_secret_hash_never_in_repr() -> None:
    rec = token_record(token_obj("t", new_client_id()))
    assert rec is not None
    assert "sha256" not in repr(rec)


def _app(ns: str, name: str, created: str, host: str, aud: str | None = "f" * 64) -> dict[str, object]:
    return {
        "metadata": {"namespace": ns, "name": name, "creationTimestamp": created},
        "spec": {"hosts": [host], "upstream": "http://u"},
        "status": {"aud": aud} if aud else {},
    }


def test_a_host_goes_to_its_first_claimant_even_one_not_yet_servable() -> None:
    from gatepass.tokens.hosts import claim_of

    state = State()
    owner = _app("zeta", "owner", "2026-01-01T00:00:00Z", "app.test", aud=None)  # no aud yet
    intruder = _app("alpha", "intruder", "2026-01-01T00:00:09Z", "app.test")
    for obj in (intruder, owner):
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        state.put_app((meta["namespace"], meta["name"]), app_record(obj), claim_of(obj))
    assert state.app_for_host("app.test") is None  # never the intruder, not even meanwhile
    state.put_app(("zeta", "owner"), app_record({**owner, "status": {"aud": "e" * 64}}), claim_of(owner))
    served = state.app_for_host("app.test")
    assert served is not None
    assert served.name == "owner"


def test_the_gateways_own_host_is_never_an_applications() -> None:
    state = State(reserved=frozenset({"access.test"}))
    state.put_app(("t", "a"), app_record(_app("t", "a", "2026-01-01T00:00:00Z", "access.test")))
    assert state.app_for_host("access.test") is None
