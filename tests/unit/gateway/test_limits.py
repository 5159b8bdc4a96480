"""Token buckets per token, or per token and application."""

from __future__ import annotations

import pytest
from yarl import URL

from gatepass.gateway import limits as limits_module
from gatepass.gateway.limits import Limit, Limits
from gatepass.gateway.state import AppRecord, TokenRecord
from gatepass.models.servicetoken import RateLimit, TokenRateLimit


def token(limit: Limit | None = None, client_id: str = "a" * 32 + ".access") -> TokenRecord:
    return TokenRecord("ns", "t", client_id, "sha256:x", rate_limit=limit)


def app(uid: str, limit: Limit | None = None) -> AppRecord:
    return AppRecord("ns", uid, (), URL("http://upstream.ns"), 60, [], uid=uid, token_rate_limit=limit)


def test_a_burst_then_the_rate_then_retry_after() -> None:
    limits, tok, a = Limits(), token(Limit(rate=1, burst=2)), app("a")
    assert [limits.take(tok, a, 0.0) for _ in range(3)] == [0, 0, 1.0]
    assert limits.take(tok, a, 0.5) == pytest.approx(0.5)  # a refused request takes nothing
    assert limits.take(tok, a, 1.0) == 0
    assert limits.take(tok, a, 1.0) == pytest.approx(1.0)
    assert limits.take(tok, a, 100.0) == 0  # refilled, never beyond the burst
    assert limits.take(tok, a, 100.0) == 0
    assert limits.take(tok, a, 100.0) > 0


def test_no_limit_is_no_limit() -> None:
    limits = Limits()
    assert all(limits.take(token(), app("a"), 0.0) == 0 for _ in range(1000))
    assert len(limits) == 0


def test_a_tokens_own_limit_is_a_bucket_at_each_application_and_wins() -> None:
    limits, tok = Limits(), token(Limit(rate=1, burst=1))
    generous = app("a", Limit(rate=100, burst=100))
    assert limits.take(tok, generous, 0.0) == 0
    assert limits.take(tok, generous, 0.0) > 0  # the application's default does not raise it
    # Spending it at a (an origin replaying its session there, say) leaves b's untouched.
    assert limits.take(tok, app("b"), 0.0) == 0
    assert limits.take(tok, app("b"), 0.0) > 0


def test_a_tokens_shared_limit_is_one_bucket_across_applications() -> None:
    limits, tok = Limits(), token(Limit(rate=1, burst=1, shared=True))
    assert limits.take(tok, app("a"), 0.0) == 0
    assert limits.take(tok, app("b"), 0.0) > 0  # the same bucket at another application


def test_an_applications_default_is_per_token_at_that_application() -> None:
    limits = Limits()
    a, b = app("a", Limit(rate=1, burst=1)), app("b", Limit(rate=1, burst=1))
    one, two = token(), token(client_id="b" * 32 + ".access")
    assert limits.take(one, a, 0.0) == 0
    assert limits.take(one, a, 0.0) > 0
    assert limits.take(one, b, 0.0) == 0  # its own bucket at b
    assert limits.take(two, a, 0.0) == 0  # another token is not slowed by the first


def test_idle_buckets_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits_module, "SWEEP_EVERY", 10)
    limits, a = Limits(), app("a", Limit(rate=1, burst=1))
    for i in range(9):
        limits.take(token(client_id=f"{i:032x}.access"), a, 0.0)
    assert len(limits) == 9
    limits.take(token(client_id="f" * 32 + ".access"), a, 5.0)  # the 10th take sweeps
    assert len(limits) == 1


def test_the_burst_defaults_to_the_rate_rounded_up() -> None:
    assert Limit.of(RateLimit(requests_per_second=2.5)) == Limit(2.5, 3)
    assert Limit.of(RateLimit(requests_per_second=0.1)) == Limit(0.1, 1)
    assert Limit.of(RateLimit(requests_per_second=5, burst=20)) == Limit(5, 20)
    assert Limit.of(None) is None


def test_only_a_tokens_own_limit_may_be_shared() -> None:
    assert Limit.of(TokenRateLimit(requests_per_second=1)) == Limit(1, 1, shared=False)
    assert Limit.of(TokenRateLimit(requests_per_second=1, scope="Token")) == Limit(1, 1, shared=True)
    assert not RateLimit(requests_per_second=1).shared  # an application's tokenRateLimit
