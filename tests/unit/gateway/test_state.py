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
