"""Refusals: each has one public name, and one middleware answers them all."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import REGISTRY

from gatepass.decisions.policy import Identity
from gatepass.gateway.audit import KEY, ORIGINAL, Decision, entry, note
from gatepass.gateway.middlewares import refusals
from gatepass.gateway.refusals import Reason, Refused
from gatepass.routing.clientip import address

# The body's "error", the metric label and the access log's "reason" (README): public API.
# A value renamed or dropped in Reason fails here; add a new one here when it is released.
PUBLIC = frozenset(
    {
        "allowed",
        "ambiguous_path",
        "bad_algorithm",
        "bypass",
        "denied_by_policy",
        "duplicate_credentials",
        "incomplete_credentials",
        "invalid_credentials",
        "invalid_jwt",
        "invalid_service_account_token",
        "malformed_credentials",
        "malformed_forwarded_for",
        "malformed_jwt",
        "missing_forwarded_uri",
        "no_credentials",
        "no_signing_key",
        "not_allowed",
        "pod_gone",
        "rate_limited",
        "secret_replaced",
        "service_account_gone",
        "service_account_token_expired",
        "service_accounts_unavailable",
        "session_expired",
        "session_not_accepted",
        "session_revoked",
        "token_disabled",
        "token_expired",
        "token_inactive",
        "token_revoked",
        "unknown_host",
        "unknown_key",
        "unknown_service_account_key",
        "unsupported_binding",
        "upstream_busy",
        "upstream_not_allowed",
        "upstream_timeout",
        "upstream_unavailable",
        "wrong_audience",
    }
)
WHO = Identity("team-a", "ci", "0" * 32 + ".access")


def test_every_reason_is_a_released_public_name() -> None:
    assert {r.value for r in Reason} == PUBLIC
    assert all(r.name == r.value.upper() for r in Reason)  # one name each, spelled as sent


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def answered(request: web.Request, refusal: Refused) -> web.Response:
    async def handler(_: web.Request) -> web.StreamResponse:
        raise refusal

    response = await refusals(request, handler)
    assert isinstance(response, web.Response)
    return response


def log_line(request: web.Request, response: web.Response) -> dict[str, object]:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return entry(when, request.method, request.host, request.path, response.status, 0.0, request.get(KEY))


@pytest.mark.asyncio
async def test_a_refusal_of_credentials_is_answered_counted_and_logged() -> None:
    request = make_mocked_request("GET", "/x", headers={"Host": "app.test"})
    before = sample("gatepass_gateway_requests_total", app="team-a/app", outcome="not_allowed")
    refusal = Refused(Reason.NOT_ALLOWED, 403, identity=WHO, policy="p")
    response = await answered(request, refusal.placed("team-a/app", address("10.0.0.7"), {"X-A": "b"}))
    assert (response.status, response.headers["X-A"]) == (403, "b")
    assert isinstance(response.body, bytes)
    assert json.loads(response.body) == {"error": "not_allowed"}
    after = sample("gatepass_gateway_requests_total", app="team-a/app", outcome="not_allowed")
    assert after == before + 1
    line = log_line(request, response)
    assert (line["status"], line["decision"], line["reason"], line["app"]) == (
        403,
        "deny",
        "not_allowed",
        "team-a/app",
    )
    assert (line["client"], line["policy"], line["token"]) == (
        "10.0.0.7",
        "p",
        {"namespace": "team-a", "name": "ci", "clientId": WHO.client_id},
    )


@pytest.mark.asyncio
async def test_a_refusal_before_credentials_has_no_decision_and_no_app() -> None:
    request = make_mocked_request("GET", "/x", headers={"Host": "nowhere.test"})
    before = sample("gatepass_gateway_requests_total", app="-", outcome="unknown_host")
    response = await answered(request, Refused(Reason.UNKNOWN_HOST, 404))
    assert response.status == 404
    assert sample("gatepass_gateway_requests_total", app="-", outcome="unknown_host") == before + 1
    line = log_line(request, response)
    assert (line["decision"], line["reason"], line["app"], line["client"]) == (
        None,
        "unknown_host",
        None,
        None,
    )
    assert ORIGINAL not in request


@pytest.mark.asyncio
async def test_a_rate_limit_is_counted_for_its_token() -> None:
    request = make_mocked_request("GET", "/x")
    before = sample("gatepass_gateway_rate_limited_total", namespace="team-a", name="ci")
    refusal = Refused(Reason.RATE_LIMITED, 429, identity=WHO, headers={"Retry-After": "3"})
    response = await answered(request, refusal.placed("team-a/app", None, None))
    assert (response.status, response.headers["Retry-After"]) == (429, "3")
    assert sample("gatepass_gateway_rate_limited_total", namespace="team-a", name="ci") == before + 1


@pytest.mark.asyncio
async def test_an_upstream_refusal_keeps_the_admission_and_counts_as_an_upstream_error() -> None:
    request = make_mocked_request("GET", "/x")
    note(request, Decision(Reason.ALLOWED, True, "team-a/app", WHO, "p", "10.0.0.7"))
    before = sample("gatepass_gateway_upstream_errors_total", app="team-a/app", reason="upstream_busy")
    requests = sample("gatepass_gateway_requests_total", app="team-a/app", outcome="upstream_busy")
    response = await answered(request, Refused(Reason.UPSTREAM_BUSY, 503, app="team-a/app"))
    assert response.status == 503
    assert (
        sample("gatepass_gateway_upstream_errors_total", app="team-a/app", reason="upstream_busy")
        == before + 1
    )
    assert sample("gatepass_gateway_requests_total", app="team-a/app", outcome="upstream_busy") == requests
    line = log_line(request, response)
    assert (line["decision"], line["reason"], line["client"]) == ("allow", "upstream_busy", "10.0.0.7")


@pytest.mark.asyncio
async def test_what_is_not_a_refusal_passes_through() -> None:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    request = make_mocked_request("GET", "/x")
    response = await refusals(request, handler)
    assert response.status == 200
    assert KEY not in request
