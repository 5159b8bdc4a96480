"""Gateway throughput and latency on loopback, plus the costs behind them.

    .venv/bin/python bench/gateway_bench.py [--seconds 10] [--concurrency 64] [--tokens 10000]

The gateway (uvloop) and a small origin run in this process; the load comes
from a second process so the two cores are split between them. Results go to
stdout and bench/results/gateway.md. No targets are asserted: compare runs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import aiohttp
import uvloop
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from tests.support.waiting import free_port  # noqa: E402

from gatepass.gateway.server import Gateway  # noqa: E402
from gatepass.gateway.sessions import Sessions  # noqa: E402
from gatepass.gateway.settings import GatewaySettings  # noqa: E402
from gatepass.gateway.state import State, app_record, token_record  # noqa: E402
from gatepass.trust import signing  # noqa: E402
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash  # noqa: E402

HOST = "bench.example.com"
ISSUER = "https://bench.test"


def make_tokens(n: int) -> list[tuple[str, str]]:
    """(Client ID, Client Secret) pairs; the server process gets only the hashes."""
    return [(new_client_id(), new_client_secret()) for _ in range(n)]


def build_state(tokens: list[tuple[str, str]]) -> State:
    state = State()
    state.set_keys(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)])))
    for i, (cid, digest) in enumerate(tokens):
        obj = {
            "metadata": {"namespace": "bench", "name": f"t{i}"},
            "spec": {},
            "status": {"clientId": cid, "secretHash": digest},
        }
        state.put_token(("bench", f"t{i}"), token_record(obj))
    return state


def micro(state: State) -> list[str]:
    """Per-operation costs, single-threaded."""
    app = app_record(
        {
            "metadata": {"namespace": "bench", "name": "app"},
            "spec": {"hosts": [HOST], "upstream": "http://127.0.0.1:1"},
            "status": {"aud": "a" * 64},
        }
    )
    assert app is not None
    token = state.tokens[("bench", "t0")]
    sessions = Sessions(ISSUER, state.keyring)
    now = time.time()

    def per_op(fn: object, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()  # type: ignore[operator]
        return (time.perf_counter() - start) / n * 1e6

    mint_us = per_op(lambda: sessions.mint(app, token, now), 300)
    jwts = [sessions.mint(app, token, now - i)[0] for i in range(300)]  # distinct iat
    cold = Sessions(ISSUER, state.keyring)
    it = iter(jwts)
    verify_cold_us = per_op(lambda: cold.verify(next(it), app, now), 300)
    verify_cached_us = per_op(lambda: cold.verify(jwts[0], app, now), 20000)
    pem = signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)])
    load_ms = per_op(lambda: signing.load(pem), 5) / 1000
    return [
        f"| mint (RS256 sign) | {mint_us:.0f} µs |",
        f"| verify, first time (RS256 + claims) | {verify_cold_us:.0f} µs |",
        f"| verify, cached | {verify_cached_us:.1f} µs |",
        f"| load one PEM key (done only when the key Secret changes) | {load_ms:.1f} ms |",
    ]


async def origin(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def serve(
    port: int, up_port: int, tokens: list[tuple[str, str]], ready: MpEvent, stop: MpEvent
) -> None:
    state = build_state(tokens)
    app_obj = {
        "metadata": {"namespace": "bench", "name": "app"},
        "spec": {
            "hosts": [HOST],
            "upstream": f"http://127.0.0.1:{up_port}",
            "policies": [{"decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}],
        },
        "status": {"aud": "a" * 64},
    }
    state.put_app(("bench", "app"), app_record(app_obj))
    settings = GatewaySettings(issuer=ISSUER, port=port, admin_port=0, cookie_secure=False)
    gw = Gateway(settings, state, ready=lambda: True)
    up = web.Application()
    up.router.add_get("/{tail:.*}", origin)
    runners = [web.AppRunner(up, access_log=None), web.AppRunner(gw.app(), access_log=None)]
    for runner, p in zip(runners, (up_port, port), strict=True):
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", p).start()
    ready.set()
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    for runner in runners:
        await runner.cleanup()


def server_process(
    port: int, up_port: int, tokens: list[tuple[str, str]], ready: MpEvent, stop: MpEvent
) -> None:
    uvloop.run(serve(port, up_port, tokens, ready, stop))


async def load(
    url: str, headers: dict[str, str], seconds: float, concurrency: int
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                async with http.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies, errors


def scenario(name: str, url: str, headers: dict[str, str], seconds: float, concurrency: int) -> str:
    n, lat, errors = uvloop.run(load(url, headers, seconds, concurrency))
    lat.sort()
    p50, p99 = statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000
    return f"| {name} | {n / seconds:,.0f} | {p50:.2f} | {p99:.2f} | {errors} |"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=10_000)
    args = ap.parse_args()

    tokens = make_tokens(args.tokens)
    hashed = [(cid, secret_hash(secret)) for cid, secret in tokens]
    state = build_state(hashed)
    creds = {"CF-Access-Client-Id": tokens[0][0], "CF-Access-Client-Secret": tokens[0][1]}
    lines = [
        f"# Gateway benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"{mp.cpu_count()} cores; gateway + origin in one uvloop process, load from another; "
        f"{args.tokens:,} tokens in state, {args.concurrency} concurrent connections, "
        f"{args.seconds:.0f} s each.",
        "",
        "| operation | cost |",
        "|---|---|",
        *micro(state),
        "",
        "| scenario | req/s | p50 ms | p99 ms | non-200 |",
        "|---|---|---|---|---|",
    ]
    port, up_port = free_port(), free_port()
    ready, stop = mp.Event(), mp.Event()
    server = mp.Process(target=server_process, args=(port, up_port, hashed, ready, stop))
    server.start()
    try:
        ready.wait(60)
        url = f"http://127.0.0.1:{port}/x"
        host = {"Host": HOST}

        async def first_cookie() -> str:
            async with aiohttp.ClientSession() as s, s.get(url, headers={**host, **creds}) as r:
                return str(r.cookies["CF_Authorization"].value)

        cookie = uvloop.run(first_cookie())
        lines.append(
            scenario(
                "headers (authenticate + mint + proxy)",
                url,
                {**host, **creds},
                args.seconds,
                args.concurrency,
            )
        )
        lines.append(
            scenario(
                "cookie (cached verify + proxy)",
                url,
                {**host, "Cookie": f"CF_Authorization={cookie}"},
                args.seconds,
                args.concurrency,
            )
        )
        lines.append(
            scenario(
                "origin alone (no gateway)",
                f"http://127.0.0.1:{up_port}/x",
                {},
                args.seconds,
                args.concurrency,
            )
        )
    finally:
        stop.set()
        server.join(10)
    report = "\n".join(lines) + "\n"
    print(report)
    out = ROOT / "bench" / "results" / "gateway.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
