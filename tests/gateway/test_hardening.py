"""Hostile clients and bad upstreams: the gateway bounds what each can cost."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gatepass.trust.signing import SigningKey
from tests.gateway.conftest import World

pytestmark = pytest.mark.asyncio
OPEN = [{"name": "open", "decision": "bypass", "include": [{"everyone": {}}]}]


@pytest_asyncio.fixture
async def strict(signing_keys: list[SigningKey]) -> AsyncIterator[World]:
    """A gateway with tight limits, so the tests need not wait long."""
    w = World(
        signing_keys,
        header_timeout=1.0,
        max_headers=16,
        upstream_connections_per_app=2,
        upstream_queue_timeout=0.3,
        upstream_timeout=5.0,
    )
    await w.start()
    yield w
    await w.stop()


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """Does the server end the connection (EOF, after any answer) within ``within`` s?"""
    try:
        await asyncio.wait_for(reader.read(), within)  # read() returns only at EOF
    except TimeoutError:
        return False
    return True


async def test_a_client_that_never_finishes_its_headers_is_cut_off(strict: World) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict.settings.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: ")
    await writer.drain()

    async def trickle() -> None:  # a byte now and then: never a whole request
        for _ in range(50):
            await asyncio.sleep(0.1)
            writer.write(b"a")
            await writer.drain()

    task = asyncio.create_task(trickle())
    try:
        assert await closed_by_server(reader, within=10), "a stalled client kept its connection"
    finally:
        task.cancel()
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed(strict: World) -> None:
    strict.app("open", ["a.test"], OPEN)
    reader, writer = await asyncio.open_connection("127.0.0.1", strict.settings.port)
    writer.write(b"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
    await writer.drain()
    assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
    assert await closed_by_server(reader, within=10)
    writer.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": "a" * 9000},  # one header over the line limit
        {f"X-Many-{i}": "x" for i in range(40)},  # more headers than allowed
    ],
    ids=["oversized", "too-many"],
)
async def test_oversized_or_too_many_headers_are_refused(strict: World, headers: dict[str, str]) -> None:
    strict.app("open", ["a.test"], OPEN)
    status, _, _ = await strict.get("a.test", headers=headers)
    assert 400 <= status < 500
    assert strict.seen == []


async def test_a_malformed_header_is_refused_and_its_value_never_logged(
    strict: World, caplog: pytest.LogCaptureFixture
) -> None:
    strict.app("open", ["a.test"], OPEN)
    secret = "gpst_" + "S" * 49
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", strict.settings.port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: a.test\r\nCF-Access-Client-Secret: " + secret.encode() + b"\x01\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.split(b" ")[1] == b"400"
    assert "malformed request refused" in caplog.text
    assert secret not in caplog.text
    assert "SSSSSSSSSS" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno >= logging.ERROR]


async def test_a_slow_upstream_fills_only_its_own_slots(strict: World) -> None:
    strict.app("slow", ["slow.test"], OPEN)
    strict.app("fast", ["fast.test"], OPEN, upstream=f"http://127.0.0.1:{strict.upstream_port}/fast")
    hung = [asyncio.create_task(strict.get("slow.test", "/slow?s=2")) for _ in range(2)]
    await asyncio.sleep(0.2)  # both slots of "slow" taken
    status, body, resp = await strict.get("slow.test", "/slow?s=2")
    assert (status, body) == (503, {"error": "upstream_busy"})
    assert resp.headers["Retry-After"] == "1"
    started = time.monotonic()
    status, _, _ = await strict.get("fast.test")  # another application is not held up
    assert status == 200
    assert time.monotonic() - started < 1.5  # (behaviour, not speed: the slow ones take 2 s)
    assert [(await t)[0] for t in hung] == [200, 200]
    assert (
        'gatepass_gateway_upstream_errors_total{app="team-a/slow",reason="upstream_busy"}' in metrics_text()
    )


async def test_an_upstream_too_slow_for_the_timeout_is_a_504(signing_keys: list[SigningKey]) -> None:
    w = World(signing_keys, upstream_timeout=0.5)
    await w.start()
    try:
        w.app("slow", ["slow.test"], OPEN)
        status, body, _ = await w.get("slow.test", "/slow?s=3")
        assert (status, body) == (504, {"error": "upstream_timeout"})
    finally:
        await w.stop()


# A deleted application's metric series: tests/e2e/test_gateway.py (through a real delete).


def metrics_text() -> str:
    from prometheus_client import generate_latest

    return generate_latest().decode()


async def test_the_origin_never_sees_a_path_above_its_prefix(strict: World) -> None:
    strict.app("open", ["a.test"], OPEN)
    status, body, _ = await strict.get("a.test", "/%2e%2e/%2e%2e/secret")
    assert status == 200
    assert strict.seen[-1]["path"] == "/base/secret"
    status, body, _ = await strict.get("a.test", "/..%2f..%2fsecret")
    assert (status, body) == (400, {"error": "ambiguous_path"})


async def test_an_upstream_the_policy_forbids_is_never_contacted(strict: World) -> None:
    strict.app("sneaky", ["s.test"], OPEN, upstream="http://reports.team-b.svc:8080")
    strict.app("admin", ["adm.test"], OPEN, upstream="http://127.0.0.1:9091/metrics")
    for host in ("s.test", "adm.test"):
        status, body, _ = await strict.get(host)
        assert (status, body) == (502, {"error": "upstream_not_allowed"})
    assert strict.seen == []
