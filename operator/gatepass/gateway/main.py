"""`gatepass gateway`: watches + HTTP servers, until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from gatepass.gateway.lastseen import LastSeen, flush_forever
from gatepass.gateway.server import Gateway
from gatepass.gateway.settings import GatewaySettings
from gatepass.gateway.state import State
from gatepass.gateway.watch import Watches
from gatepass.kube import connect
from gatepass.tokens.hosts import reserved_hosts

log = logging.getLogger(__name__)


async def run(settings: GatewaySettings) -> None:
    api = await connect()
    state = State(reserved_hosts(settings.issuer))
    watches = Watches(api, settings, state)
    tasks = watches.start()
    seen = LastSeen() if settings.last_seen_interval > 0 else None
    if seen is not None:
        flush = flush_forever(
            api, settings.key_namespace, settings.last_seen_configmap, settings.last_seen_interval, seen
        )
        tasks.append(asyncio.create_task(flush, name="last-seen"))
    gateway = Gateway(settings, state, ready=lambda: watches.ready, last_seen=seen)
    runners = [web.AppRunner(gateway.app(), access_log=None, handle_signals=False)]
    sites = [(runners[0], settings.port)]
    if settings.admin_port:
        runners.append(web.AppRunner(gateway.admin_app(), access_log=None, handle_signals=False))
        sites.append((runners[1], settings.admin_port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        for runner, port in sites:
            await runner.setup()
            await web.TCPSite(runner, settings.bind_address, port).start()
        log.info(
            "gatepass gateway on %s:%d (admin %d), issuer %s",
            settings.bind_address,
            settings.port,
            settings.admin_port,
            settings.issuer,
        )
        await stop.wait()
        log.info("stopping")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.close()
