"""The access log: one JSON line per answered request, never a secret."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from gatepass.gateway.audit import LOGGER
from gatepass.trust.signing import SigningKey
from tests.gateway.conftest import World

pytestmark = pytest.mark.asyncio

HOST = "reports.example.com"
POLICIES = [{"name": "ci", "decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci-bot"}}]}]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.raw: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.raw.append(record.getMessage())

    async def take(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` lines: a line is written once the answer is out, so it may
        come just after the client has it."""
        for _ in range(200):
            if len(self.raw) >= count:
                break
            await asyncio.sleep(0.01)
        lines, self.raw = [json.loads(r) for r in self.raw], []
        return lines


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logging.getLogger(LOGGER).addHandler(handler)
    yield handler
    logging.getLogger(LOGGER).removeHandler(handler)


@pytest_asyncio.fixture
async def quiet(signing_keys: list[SigningKey]) -> AsyncIterator[World]:
    w = World(signing_keys, access_log=False)
    await w.start()
    yield w
    await w.stop()


async def test_an_allowed_request_says_who_reached_what_and_how(world: World, lines: Lines) -> None:
    world.app("reports", [HOST], POLICIES)
    tok = world.token("ci-bot")
    status, _, resp = await world.get(HOST, "/reports/q1?secret-ish=1", headers=tok.headers)
    assert status == 200
    (line,) = await lines.take(1)
    fields = (
        "time method host path status latencyMs app decision reason policy token serviceAccount client"
        " originalHost originalPath"
    )
    assert set(line) == set(fields.split())
    assert line["time"].endswith("Z")
    assert line["latencyMs"] >= 0
    assert {k: v for k, v in line.items() if k not in ("time", "latencyMs")} == {
        "method": "GET",
        "host": HOST,
        "path": "/reports/q1",  # never the query
        "status": 200,
        "app": "team-a/reports",
        "decision": "allow",
        "reason": "allowed",
        "policy": "ci",
        "token": {"namespace": "team-a", "name": "ci-bot", "clientId": tok.client_id},
        "serviceAccount": None,
        "client": "127.0.0.1",
        "originalHost": None,  # forward-auth only
        "originalPath": None,
    }
    cookie = resp.cookies["CF_Authorization"].value
    await world.get(HOST, headers={"Cookie": f"CF_Authorization={cookie}"})
    (line,) = await lines.take(1)
    assert (line["decision"], line["token"]["name"]) == ("allow", "ci-bot")  # a session says who, too
    assert cookie not in json.dumps(line)


async def test_refusals_and_unknown_hosts_are_logged_without_the_secret(world: World, lines: Lines) -> None:
    world.app("reports", [HOST], POLICIES)
    tok = world.token("ci-bot")
    other = world.token("other")
    await world.get(HOST, headers={**tok.headers, "CF-Access-Client-Secret": other.client_secret})
    await world.get(HOST, headers=other.headers)
    await world.get("nobody.example.com", headers=tok.headers)
    wrong, outsider, unknown = await lines.take(3)
    assert (wrong["status"], wrong["decision"], wrong["reason"]) == (401, "deny", "invalid_credentials")
    assert (outsider["status"], outsider["decision"], outsider["reason"]) == (403, "deny", "not_allowed")
    assert outsider["token"] == {"namespace": "team-a", "name": "other", "clientId": other.client_id}
    assert (unknown["status"], unknown["decision"], unknown["reason"], unknown["app"]) == (
        404,
        None,
        "unknown_host",
        None,
    )
    text = json.dumps([wrong, outsider, unknown])
    for secret in (tok.client_secret, other.client_secret):
        assert secret not in text


async def test_an_upstream_that_does_not_answer_is_logged_by_the_error_sent(
    world: World, lines: Lines
) -> None:
    """Admitted, then refused by the upstream: the line keeps who and the policy, and its
    reason is the body's error (as for upstream_busy)."""
    world.app("down", [HOST], POLICIES, upstream="http://127.0.0.1:1")
    tok = world.token("ci-bot")
    status, body, _ = await world.get(HOST, headers=tok.headers)
    assert (status, body) == (502, {"error": "upstream_unavailable"})
    (line,) = await lines.take(1)
    assert (line["status"], line["decision"], line["reason"], line["policy"]) == (
        502,
        "allow",
        "upstream_unavailable",
        "ci",
    )
    assert line["token"] == {"namespace": "team-a", "name": "ci-bot", "clientId": tok.client_id}


async def test_forward_auth_and_get_identity_are_logged(world: World, lines: Lines) -> None:
    world.app("reports", [HOST], POLICIES)
    tok = world.token("ci-bot")
    uri = "/reports/q1?access_token=not-for-logs&x=1"
    async with world.http.get(
        world.url + "/cdn-cgi/access/authorize",
        headers={"Host": "gw", "X-Forwarded-Host": HOST, "X-Forwarded-Uri": uri, **tok.headers},
    ) as resp:
        assert resp.status == 200
    assert (await world.get(HOST, "/cdn-cgi/access/get-identity", headers=tok.headers))[0] == 200
    authorize, identity = await lines.take(2)
    assert (authorize["path"], authorize["decision"], authorize["app"]) == (
        "/cdn-cgi/access/authorize",
        "allow",
        "team-a/reports",
    )
    # The request the ingress asked about: its host and path, never its query.
    assert (authorize["originalHost"], authorize["originalPath"]) == (HOST, "/reports/q1")
    assert "not-for-logs" not in json.dumps(authorize)
    assert (identity["decision"], identity["token"]["name"]) == ("allow", "ci-bot")
    assert (identity["originalHost"], identity["originalPath"]) == (None, None)


async def test_a_forward_auth_refusal_names_the_request_it_refused(world: World, lines: Lines) -> None:
    world.app("reports", [HOST], POLICIES)
    world.app("admin", [f"{HOST}/admin"], POLICIES)
    authorize = world.url + "/cdn-cgi/access/authorize"
    for uri in ("/admin/x?token=1", "/x/..;/admin", None):
        forwarded = {"X-Forwarded-Uri": uri} if uri else {}
        async with world.http.get(authorize, headers={"Host": HOST, **forwarded}) as resp:
            assert resp.status in (400, 401)
    denied, ambiguous, missing = await lines.take(3)
    assert (denied["reason"], denied["originalHost"], denied["originalPath"]) == (
        "no_credentials",
        HOST,
        "/admin/x",
    )
    assert (ambiguous["reason"], ambiguous["originalPath"]) == ("ambiguous_path", "/x/..;/admin")
    assert (missing["reason"], missing["originalHost"], missing["originalPath"]) == (
        "missing_forwarded_uri",
        HOST,
        None,
    )


async def test_the_access_log_can_be_turned_off(quiet: World, lines: Lines) -> None:
    quiet.app("reports", [HOST], POLICIES)
    assert (await quiet.get(HOST, headers=quiet.token("ci-bot").headers))[0] == 200
    assert await lines.take(1) == []  # waited for one that never comes
