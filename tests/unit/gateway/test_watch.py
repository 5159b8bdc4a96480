"""The gateway's listings: a page is read as it streams in and each object is converted
at once to the few fields the gateway keeps (the API server's side: tests/e2e)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.gateway import watch
from gatepass.gateway.kube import CHUNK
from gatepass.gateway.settings import GatewaySettings
from gatepass.gateway.state import State, token_record
from gatepass.gateway.workload import Pod, WorkloadTokens
from tests.support.responses import Response
from tests.unit.gateway.test_state import SEALER, token_obj

BIG = {"x.example/blob": "a" * 100_000}  # what a tenant may hang on any object


def obj(name: str, ns: str = "team-a") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "annotations": BIG}}


@pytest.mark.asyncio
async def test_each_object_is_converted_as_it_arrives_page_by_page() -> None:
    pages = [
        Response({"metadata": {"continue": "next"}, "items": [obj("a"), obj("b")]}),
        Response({"metadata": {"resourceVersion": "9"}, "items": [obj("c")]}),
    ]
    calls: list[dict[str, Any]] = []

    async def list_fn(**kw: Any) -> Response:
        calls.append(kw)
        return pages[len(calls) - 1]

    seen: list[tuple[str, int, int]] = []

    def convert(o: dict[str, Any]) -> str:
        page = pages[len(calls) - 1]
        seen.append((o["metadata"]["name"], page.read, page.chunks(CHUNK)))
        return str(o["metadata"]["name"])

    informer = watch.Informer("t", list_fn, lambda _: None, lambda *_: None, convert)
    assert await informer._list() == (["a", "b", "c"], "9")
    assert calls == [
        {"_preload_content": False, "limit": watch.PAGE},
        {"_preload_content": False, "limit": watch.PAGE, "_continue": "next"},
    ]
    name, read, chunks = seen[0]
    assert (name, chunks) == ("a", 4)
    assert read < chunks  # converted before its page's last byte was read


@pytest.mark.asyncio
async def test_an_error_answer_is_raised_with_its_status() -> None:
    async def list_fn(**_: Any) -> Response:
        return Response({"kind": "Status", "code": 410}, status=410)

    informer = watch.Informer("t", list_fn, lambda _: None, lambda *_: None, lambda o: o)
    with pytest.raises(ApiException) as raised:
        await informer._list()
    assert raised.value.status == 410  # the informer lists again


@pytest.mark.asyncio
async def test_what_the_gateway_keeps_of_pods_accounts_and_applications() -> None:
    state, workloads = State(), WorkloadTokens(("aud",))
    async with client.ApiClient() as api:
        watches = watch.Watches(api, GatewaySettings(namespaces=["team-a"]), state, workloads=workloads)
    informers = {i.name: i for i in watches.informers}

    deleting = obj("p")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pod = informers["pods"].convert(deleting)
    assert pod == ("uid-p", Pod("team-a", 1767225600.0))
    assert informers["pods"].convert(obj("q", ns="team-b")) is None  # not watched: not kept
    informers["pods"].replace([pod])
    assert workloads.pods == {"uid-p": Pod("team-a", 1767225600.0)}

    account = informers["serviceaccounts"].convert(obj("sa"))
    assert account == (("team-a", "sa"), "uid-sa")
    informers["serviceaccounts"].replace([account])
    assert workloads.accounts == {("team-a", "sa"): "uid-sa"}

    app = obj("app")
    app["spec"] = {"hosts": ["a.example"], "upstream": "http://svc.team-a.svc"}
    key, record, claim = informers["accessapplications"].convert(app)
    assert key == ("team-a", "app")
    assert record is not None
    assert claim is not None
    assert claim.hosts == record.claim.hosts
    unreadable = informers["accessapplications"].convert({**obj("bad"), "spec": {"hosts": "x"}})
    assert unreadable == (("team-a", "bad"), None, None)  # kept as known: not taken for deleted
    informers["accessapplications"].replace([(key, record, claim), unreadable])
    assert set(state.claims) == {("team-a", "app")}


@pytest.mark.asyncio
async def test_a_listing_again_keeps_the_records_of_unchanged_tokens() -> None:
    """After 410 Gone every token is listed again while the old records serve: an unchanged
    token's listed record is dropped for the one held (100,000 tokens were ~100 MiB twice
    over in a relist), which also keeps the identity minted-JWT reuse keys on."""
    state = State()
    state.set_sealer(SEALER)
    async with client.ApiClient() as api:
        watches = watch.Watches(api, GatewaySettings(), state)
    tokens = next(i for i in watches.informers if i.name == "servicetokens")
    same, changed = token_obj("same", "1" * 32 + ".access"), token_obj("changed", "2" * 32 + ".access")
    first = [tokens.convert(same), tokens.convert(changed)]
    tokens.replace(first)
    held = dict(state.tokens)
    relisted = token_obj("changed", "3" * 32 + ".access")
    (key, record), (key2, record2) = tokens.convert(same), tokens.convert(relisted)
    assert record is held[("ns", "same")]  # the held one, not an equal copy
    assert record2 is not held[("ns", "changed")]
    assert record2.client_id == "3" * 32 + ".access"
    assert key[0] is record.namespace
    assert key[1] is record.name
    tokens.replace([(key, record), (key2, record2)])
    assert state.tokens_by_id["3" * 32 + ".access"] is record2
    assert "2" * 32 + ".access" not in state.tokens_by_id


def test_a_token_records_namespace_is_one_string_however_many_tokens() -> None:
    a = token_record(token_obj("a", "1" * 32 + ".access", ns="".join(["team", "-x"])))
    b = token_record(token_obj("b", "2" * 32 + ".access", ns="".join(["team", "-x"])))
    assert a is not None
    assert b is not None
    assert a.namespace is b.namespace


def events(*lines: dict[str, Any]) -> Response:
    """A watch answer: one compact JSON event a line."""
    return Response(b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in lines))


def versioned(name: str, version: str, annotations: dict[str, str] = BIG) -> dict[str, Any]:
    o = obj(name)
    o["metadata"] |= {"resourceVersion": version, "annotations": annotations}
    return o


@pytest.mark.asyncio
async def test_a_watch_applies_events_of_any_size_and_resumes_from_the_last_version() -> None:
    """An event of ~9 MiB (a tenant's 1.5 MiB of control characters, escaped): applied, and
    the next watch starts after it, not a new listing (kubernetes_asyncio's Watch raised
    LineTooLong past 4 MiB: the informer listed every object again)."""
    huge = versioned("huge", "11", {"x.example/blob": "\u0001" * 1_500_000})
    answers = [
        events(
            {"type": "ADDED", "object": huge},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
        ),
        events({"type": "DELETED", "object": versioned("a", "13")}),
        events({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}),
    ]
    assert len(answers[0].body) > 8_900_000
    calls: list[dict[str, Any]] = []

    async def list_fn(**kw: Any) -> Response:
        calls.append(kw)
        return answers[len(calls) - 1]

    applied: list[tuple[str, str]] = []
    informer = watch.Informer(
        "t", list_fn, lambda _: None, lambda k, o: applied.append((k, o["metadata"]["name"])), str
    )
    informer._version = "10"
    with pytest.raises(ApiException) as gone:
        await informer._watch()
    assert gone.value.status == 410  # run() lists again
    assert applied == [("ADDED", "huge"), ("DELETED", "a")]
    assert [c["resource_version"] for c in calls] == ["10", "12", "13"]
    assert all(c["watch"] and c["allow_watch_bookmarks"] and not c["_preload_content"] for c in calls)
    assert informer._version == "13"


@pytest.mark.asyncio
async def test_one_events_failure_costs_that_event_only() -> None:
    answers = [
        events(
            {"type": "ADDED", "object": versioned("bad", "5")},
            {"type": "ADDED", "object": versioned("ok", "6")},
        )
    ]

    async def list_fn(**_: Any) -> Response:
        if not answers:
            raise asyncio.CancelledError  # the test is over
        return answers.pop()

    applied: list[str] = []

    def apply(_kind: str, o: dict[str, Any]) -> None:
        if o["metadata"]["name"] == "bad":
            raise KeyError("a tenant's value")
        applied.append(o["metadata"]["name"])

    informer = watch.Informer("t", list_fn, lambda _: None, apply, str)
    informer._version = "4"
    with pytest.raises(asyncio.CancelledError):
        await informer._watch()
    assert applied == ["ok"]
    assert informer._version == "6"
