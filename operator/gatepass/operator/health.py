"""The operator's probes: /healthz (live: restart me) and /readyz (ready: I can do my job).

Its own small server rather than kopf's liveness endpoint: kopf has one endpoint for both,
and a failing kopf probe is logged with a traceback on every call, where a missing namespace
should be one clear line and a failing readiness, not a restart loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Problem = Callable[[], str | None]  # None: fine; else what is wrong, in one line


def _probe(problem: Problem) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def answer(_: web.Request) -> web.StreamResponse:
        wrong = problem()
        return web.Response(text="ok") if wrong is None else web.Response(status=503, text=wrong)

    return answer


async def serve(host: str, port: int, live: Problem, ready: Problem) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/healthz", _probe(live))
    app.router.add_get("/readyz", _probe(ready))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
