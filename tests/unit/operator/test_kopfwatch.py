import asyncio
import itertools
import logging

import kopf
import pytest
from aiohttp import web
from kopf._cogs.aiokits import aiotasks  # kopf's own guard: the message we recognise is its
from kopf._cogs.clients import api  # kopf's own request: the retries we configure are its
from kopf._cogs.clients.auth import APIContext
from kopf._cogs.clients.errors import APIServerError

from gatepass.operator.kopfwatch import DeadWatches, RetryForever, retry_forever


def test_the_delays_never_run_out_and_start_afresh_for_each_request() -> None:
    delays = RetryForever(1, 2, 5, 10)
    assert list(itertools.islice(delays, 8)) == [1, 2, 5, 10, 10, 10, 10, 10]
    assert list(itertools.islice(delays, 2)) == [1, 2]  # a new request: from the start
    # kopf gives up after len(delays) retries when it can count them; here it cannot.
    with pytest.raises(TypeError):
        len(delays)  # type: ignore[arg-type]


def test_no_delays_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one delay"):
        RetryForever()


@pytest.mark.asyncio
async def test_a_kopf_watch_that_ended_by_an_error_fails_the_liveness_probe() -> None:
    watches = DeadWatches().attach()
    try:

        async def watch() -> None:
            raise RuntimeError("Error in the watch-stream: {'code': 500}")

        logger = logging.getLogger("kopf.activities")
        task = aiotasks.create_guarded_task(
            name="watcher for servicetokens.v1alpha1.gatepass.dev@None", coro=watch(), logger=logger
        )
        with pytest.raises(RuntimeError):
            await task
        assert watches.problem() == (
            # kopf capitalises the task's name: "...@None" becomes "...@none"
            "kopf's watch of servicetokens.v1alpha1.gatepass.dev@none ended: restart to watch again"
        )
    finally:
        watches.detach()


@pytest.mark.asyncio
async def test_other_kopf_errors_and_a_cancelled_watch_leave_the_probe_alone() -> None:
    watches = DeadWatches().attach()
    try:
        logging.getLogger("kopf.clients").error("Request attempt #2 failed; will retry: GET /api")

        async def forever() -> None:
            await asyncio.Event().wait()

        task = aiotasks.create_guarded_task(
            name="watcher for secrets.v1@None",
            coro=forever(),
            logger=logging.getLogger("kopf.activities"),
            cancellable=True,
        )
        await asyncio.sleep(0)
        task.cancel()  # the operator stopping
        with pytest.raises(asyncio.CancelledError):
            await task
        assert watches.problem() is None
    finally:
        watches.detach()


@pytest.mark.asyncio
async def test_kopf_keeps_asking_an_api_server_that_answers_503_past_any_fixed_budget() -> None:
    """An API server starting up answers 5xx for a while: with a counted budget the last
    failed attempt ended the watch for good; ours keeps asking until it answers."""
    answered: list[int] = []

    async def apiserver(_: web.Request) -> web.Response:
        answered.append(len(answered))
        if len(answered) <= 12:  # more than kopf's own default budget of 8 retries
            return web.json_response({"kind": "Status", "code": 503}, status=503)
        return web.json_response({"kind": "List", "items": []})

    app = web.Application()
    app.router.add_get("/api/v1/secrets", apiserver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    context = APIContext(kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}"))
    settings = kopf.OperatorSettings()
    log = logging.getLogger("kopf.test")
    try:
        retry_forever(settings, delays=(0.001,))
        response = await api.request("get", "/api/v1/secrets", settings=settings, logger=log, context=context)
        assert response.status == 200
        assert len(answered) == 13
        # kopf's own default, a counted budget: the last 503 is raised (and ends a watch).
        answered.clear()
        settings.networking.error_backoffs = (0.001,) * 8
        with pytest.raises(APIServerError):
            await api.request(
                "get",
                "/api/v1/secrets",
                settings=settings,
                logger=logging.getLogger("kopf.t"),
                context=context,
            )
    finally:
        await context.session.close()
        await runner.cleanup()
